"""AWS: ``aws ec2 authorize-security-group-ingress`` commands for a security group, per family.

Choices an admin should know about (they are also written into the output):

- The group is the one the declared ``aws-security-group`` export names: ``--scope sg-...``
  (or ``--chain`` with one group, as the reader takes it), else the export's only group, else
  the first group that already allows the service, else the first group. Without an export
  the script needs ``GROUP_ID`` set and stops without it.
- Security groups only allow and have no order: a rule takes effect wherever it is added
  [AWS VPC User Guide, "Security group rules"]. There is nothing to place before a deny; a
  network ACL that denies the addresses is outside the group and is not changed.
- A rule is one CIDR for one port range; a group holds 60 inbound rules per family by default
  (the quota "Inbound or outbound rules per security group" is adjustable in Service Quotas).
  Rules beyond what the group has room for go to further groups, named by ``GROUP_ID_2`` and
  so on, which the admin creates and attaches to the instance, or the quota is raised and the
  rules are generated again.
- Each call adds up to :attr:`AwsGenerator.per_call` CIDRs. EC2 refuses a whole call when one
  of its rules exists already (``InvalidPermission.Duplicate``); the script then adds that
  call's rules one at a time, skipping those already there, so it can be run again. The
  rollback revokes the same rules the same way (``InvalidPermission.NotFound`` is skipped).
- ``--prune`` with ``--scope sg-...``: revokes the group's rules whose CIDR is entirely extra,
  exactly as the export writes them (protocol and ports); a rule only partly extra is kept
  and named in a comment.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from auditor.errors import UsageError
from auditor.model import MissingBlock
from auditor.rules import sanitize
from auditor.rules.artifacts import Artifact
from auditor.rules.base import Generator, RuleOptions
from auditor.rules.cloud import SCRIPT_START, Export, command, covered, exports, required
from auditor.service import Service

FORMAT = "aws-security-group"

GROUP_ID = re.compile(r"sg-[0-9a-f]{1,17}")
"""``sg-`` and hex digits (8 or 17 in real ids); nothing a shell or JSON treats specially."""

RANGES = {4: ("IpRanges", "CidrIp"), 6: ("Ipv6Ranges", "CidrIpv6")}

_HELPER = """\
# call ACTION ARGS: one aws ec2 call; 3 when EC2 says a rule is there already (or already
# gone), and the script then goes rule by rule; any other error stops the script.
call() {
  if out=$(aws ec2 "$@" 2>&1); then
    return 0
  fi
  case $out in
    *InvalidPermission.Duplicate*|*InvalidPermission.NotFound*) return 3 ;;
  esac
  printf '%s\\n' "$out" >&2
  exit 1
}"""


@dataclass(frozen=True)
class Target:
    group: str
    """A group id, or ``$GROUP_ID`` when the export does not name one."""
    why: str
    existing: dict[int, int]
    """Inbound rules the group holds already, per family."""
    export: Export | None = None
    raw: dict[str, Any] | None = None
    """The group's object in the export."""


def permissions(
    service: Service, family: int, items: Sequence[dict[str, str]]
) -> list[dict[str, Any]]:
    """The IpPermissions for ``items`` (IpRanges or Ipv6Ranges entries): one per port range."""
    key = RANGES[family][0]
    if service.protocol == "any":
        return [{"IpProtocol": "-1", key: list(items)}]
    ports = service.ports or ((0, 65535),)
    return [
        {"IpProtocol": service.protocol, "FromPort": lo, "ToPort": hi, key: list(items)}
        for lo, hi in ports
    ]


def ip_permissions(perms: Sequence[dict[str, Any]]) -> str:
    """The JSON of ``--ip-permissions``: compact, ASCII, keys in a fixed order."""
    return json.dumps(list(perms), separators=(",", ":"), ensure_ascii=True)


def _groups(export: Export, options: RuleOptions) -> list[dict[str, Any]]:
    top = export.document
    groups = top.get("SecurityGroups") if isinstance(top, dict) else None
    if not isinstance(groups, list):
        return []
    out = [g for g in groups if isinstance(g, dict) and isinstance(g.get("GroupId"), str)]
    if options.chain != "INPUT":
        chosen = {c.strip() for c in options.chain.split(",")}
        out = [g for g in out if g["GroupId"] in chosen]
    return out


def _allows(group: dict[str, Any], service: Service) -> bool:
    for perm in group.get("IpPermissions") or []:
        if not isinstance(perm, dict):
            continue
        proto = str(perm.get("IpProtocol", "")).lower()
        if proto in ("-1", "all"):
            return True
        proto = {"6": "tcp", "17": "udp"}.get(proto, proto)
        lo, hi = perm.get("FromPort"), perm.get("ToPort")
        if proto == service.protocol and isinstance(lo, int) and isinstance(hi, int):
            if all(lo <= a and b <= hi for a, b in service.ports):
                return True
    return False


def _touches(perm: dict[str, Any], service: Service) -> bool:
    """Whether a permission lets in some of the service (another service's rule is not the
    service's to remove)."""
    proto = str(perm.get("IpProtocol", "")).lower()
    if proto in ("-1", "all") or service.protocol == "any":
        return True
    proto = {"6": "tcp", "17": "udp"}.get(proto, proto)
    lo, hi = perm.get("FromPort"), perm.get("ToPort")
    if proto != service.protocol:
        return False
    if not isinstance(lo, int) or not isinstance(hi, int) or (lo, hi) == (-1, -1):
        return True
    return any(a <= hi and lo <= b for a, b in service.ports)


def _existing(group: dict[str, Any]) -> dict[int, int]:
    """Inbound rules per family: an IPv4 range, a prefix list or a group pair counts for
    IPv4 (EC2 counts a prefix list by its size and a group pair for both; this is the
    least), an IPv6 range for IPv6."""
    counts = {4: 0, 6: 0}
    for perm in group.get("IpPermissions") or []:
        if isinstance(perm, dict):
            for key in ("IpRanges", "PrefixListIds", "UserIdGroupPairs"):
                counts[4] += len(perm.get(key) or [])
            counts[6] += len(perm.get("Ipv6Ranges") or [])
    return counts


def _check_group(group: str, where: str) -> str:
    if not GROUP_ID.fullmatch(group):
        raise UsageError(
            f"{where} {group!r} is not a security group id",
            hint="name the group by its id: sg- and hex digits (aws ec2 describe-security-groups)",
        )
    return group


class AwsGenerator(Generator):
    name = "aws"
    description = (
        "aws ec2 authorize-security-group-ingress commands (IPv4, IPv6) for the declared"
        " security group, split across its rule quota; revoke to roll back; --prune"
    )
    families = (4, 6)
    max_comment_len = 255
    """A rule's Description: up to 255 characters of a-zA-Z0-9. _-:/()#,@[]+=&;{}!$* [EC2 API
    Reference, IpRange]; the comment characters are all among them."""
    prunes = True
    rules_quota: ClassVar[int] = 60
    """Inbound rules per security group and family, the default quota (adjustable)."""
    per_call: ClassVar[int] = 50
    """CIDRs per authorize call (this tool's choice: small calls, a short retry rule by rule)."""

    def own_limits(self) -> list[str]:
        return [f"{self.rules_quota} rules a security group (then another group)"]

    def check_options(self, options: RuleOptions) -> None:
        if options.chain != "INPUT":
            for part in options.chain.split(","):
                _check_group(part.strip(), "--chain")
        for scope in options.scope:
            if scope.startswith("sg-"):
                _check_group(scope, "--scope")
        per_cidr = len(permissions(options.service, 4, ()))
        if per_cidr > self.rules_quota:
            raise UsageError(
                f"{options.service} needs {per_cidr} rules per CIDR; a security group holds"
                f" {self.rules_quota}",
                hint="write fewer port ranges (a range 25-587 is one rule)",
            )

    def target(self, options: RuleOptions) -> Target:
        """The group the rules go into, and why that one."""
        scoped = [s for s in options.scope if s.startswith("sg-")]
        for export in exports(options, FORMAT):
            if export.document is None:
                continue
            groups = _groups(export, options)
            if not groups:
                continue
            name = sanitize.clean(export.rangeset.info.name)
            if scoped:
                found = [g for g in groups if g["GroupId"] == scoped[0]]
                if found:
                    g = found[0]
                    why = f"--scope {scoped[0]}, in {name}"
                    return Target(_check_group(g["GroupId"], name), why, _existing(g), export, g)
                continue
            allowing = [g for g in groups if _allows(g, options.service)]
            if len(groups) == 1:
                g, why = groups[0], f"the only group in {name}"
            elif allowing:
                g = allowing[0]
                why = f"the first group in {name} that allows {options.service.describe()}"
            else:
                g, why = groups[0], f"the first group in {name} (none allows the service yet)"
            return Target(_check_group(g["GroupId"], name), why, _existing(g), export, g)
        if scoped:
            return Target(scoped[0], "--scope", {4: 0, 6: 0})
        if options.chain != "INPUT" and "," not in options.chain:
            group = _check_group(options.chain, "--chain")
            return Target(group, "--chain", {4: 0, 6: 0})
        return Target("$GROUP_ID", "no security group export was read", {4: 0, 6: 0})

    def artifacts(self, blocks: Sequence[MissingBlock], options: RuleOptions) -> list[Artifact]:
        target = self.target(options)
        arts: list[Artifact] = []
        service = options.service
        per_cidr = len(permissions(service, 4, ()))
        for family in self.families:
            mine = [b for b in sanitize.sorted_blocks(blocks) if b.family == family]
            if mine:
                arts += self._family(family, mine, target, options, per_cidr)
        for family in self.families:
            extra = [b for b in options.prune if b.family == family]
            if extra:
                arts.append(self._prune(family, extra, target, options))
        return arts

    def _groups_for(
        self, family: int, count: int, target: Target, per_cidr: int
    ) -> list[tuple[str, int]]:
        """(group, how many CIDRs it takes) until ``count`` CIDRs have a place."""
        room = max(self.rules_quota - target.existing.get(family, 0), 0) // per_cidr
        out = [(target.group, room)] if room else []
        n = 2
        while sum(k for _, k in out) < count:
            out.append((f"$GROUP_ID_{n}", self.rules_quota // per_cidr))
            n += 1
        return out

    def _family(
        self,
        family: int,
        blocks: list[MissingBlock],
        target: Target,
        options: RuleOptions,
        per_cidr: int,
    ) -> list[Artifact]:
        key, field = RANGES[family]
        items = []
        for b in blocks:
            item = {field: sanitize.cidr(b)}
            text = self.origins_comment(b.origins)
            if text:
                item["Description"] = text
            items.append(item)
        places = self._groups_for(family, len(items), target, per_cidr)
        head = [
            SCRIPT_START,
            f"# Security group {target.group}: {sanitize.clean(target.why)}.",
            "# Security groups only allow, in no order: the rules take effect wherever they are.",
            f"# {len(items)} CIDRs x {per_cidr} port range(s) = {len(items) * per_cidr} IPv{family}"
            f" rules; the group holds {target.existing.get(family, 0)} and takes"
            f" {self.rules_quota} per family (default quota, adjustable in Service Quotas).",
        ]
        variables = []
        if target.group == "$GROUP_ID":
            variables.append(required("GROUP_ID", "the security group id (sg-...)"))
        for group, _ in places:
            if group.startswith("$GROUP_ID_"):
                var = group[1:]
                head.append(
                    f"# {var}: another group attached to the instance, for rules beyond the"
                    " quota (or raise the quota and generate again)."
                )
                variables.append(required(var, "another security group id (sg-...)"))
        apply_lines, back_lines = [*head, *variables, _HELPER], [*head, *variables, _HELPER]
        start = 0
        for group, size in places:
            mine = items[start : start + size]
            start += size
            for at in range(0, len(mine), self.per_call):
                run = mine[at : at + self.per_call]
                for action, lines in (
                    ("authorize-security-group-ingress", apply_lines),
                    ("revoke-security-group-ingress", back_lines),
                ):
                    lines += _call(action, group, permissions(options.service, family, run))
        n = len(items)
        how = "bash FILE (with the aws CLI configured for the group's account and region)"
        return [
            Artifact("apply", family, "\n".join(apply_lines) + "\n", "sh", how, script=True,
                     cidrs=n),
            Artifact("rollback", family, "\n".join(back_lines) + "\n", "sh", how, script=True,
                     cidrs=n),
        ]  # fmt: skip

    def _prune(
        self, family: int, extra: list[MissingBlock], target: Target, options: RuleOptions
    ) -> Artifact:
        scoped = [s for s in options.scope if s.startswith("sg-")]
        if target.raw is None or not scoped:
            raise UsageError(
                "aws --prune needs the security group's export and its id as --scope",
                hint="give the describe-security-groups JSON with --declared and --scope sg-...",
            )
        key, field = RANGES[family]
        lines = [
            SCRIPT_START,
            f"# Revokes the rules of {target.group} whose CIDR is entirely extra, as the"
            " export writes them.",
            _HELPER,
        ]
        kept: list[str] = []
        count = 0
        for perm in target.raw.get("IpPermissions") or []:
            if not isinstance(perm, dict) or not _touches(perm, options.service):
                continue
            for item in perm.get(key) or []:
                cidr = item.get(field) if isinstance(item, dict) else None
                if not isinstance(cidr, str):
                    continue
                try:
                    gone = covered(cidr, extra)
                except ValueError:
                    continue
                if not gone:
                    if any(covered(sanitize.cidr(b), [_block_of(cidr)]) for b in extra):
                        kept.append(cidr)
                    continue
                one = {k: perm[k] for k in ("IpProtocol", "FromPort", "ToPort") if k in perm}
                one[key] = [{field: _canonical(cidr)}]
                lines += _call("revoke-security-group-ingress", target.group, [one], single=True)
                count += 1
        for cidr in dict.fromkeys(kept):
            lines.append(f"# kept: {sanitize.clean(cidr)} is only partly extra")
        how = "bash FILE (with the aws CLI configured for the group's account and region)"
        return Artifact(
            "prune", family, "\n".join(lines) + "\n", "sh", how, script=True, cidrs=count
        )


def _block_of(cidr: str) -> MissingBlock:
    from auditor import ipspace

    p = ipspace.parse(cidr)
    plen = p.prefixlen if p.prefixlen is not None else ipspace.BITS[p.family]
    return MissingBlock(p.family, p.first, plen, ())


def _canonical(cidr: str) -> str:
    """The CIDR as the export writes it, when it is a CIDR (else a refusal)."""
    from auditor import ipspace

    p = ipspace.parse(cidr)
    if p.prefixlen is None or p.host_bits:
        raise UsageError(f"{cidr!r} in the export is not a network", hint="export it again")
    return ipspace.format_cidr(p.family, p.first, p.prefixlen)


def _call(
    action: str, group: str, perms: Sequence[dict[str, Any]], single: bool = False
) -> list[str]:
    """One call for ``perms``; unless ``single``, when EC2 finds one of its rules there
    already (or gone), the same rules one call each, skipping those."""
    args = [action, "--group-id", group, "--ip-permissions"]
    first = command(["call", *args, ip_permissions(perms)])
    if single:
        return [f"{first} || :"]
    ones = []
    for perm in perms:
        key = "IpRanges" if "IpRanges" in perm else "Ipv6Ranges"
        for item in perm[key]:
            one = {**perm, key: [item]}
            ones.append("  " + command(["call", *args, ip_permissions([one])]) + " || :")
    if len(ones) == 1:
        return [f"{first} || :"]
    return [f"{first} || {{", *ones, "}"]
