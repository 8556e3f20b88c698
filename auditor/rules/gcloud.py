"""Google Cloud: ``gcloud compute firewall-rules create/update`` commands, per family.

Choices an admin should know about (they are also written into the output):

- VPC firewall rules are evaluated by priority, a deny winning at equal priority [Google
  Cloud, "VPC firewall rules"]. When the declared ``gcp-firewall`` export denies the missing
  addresses (a deny rule, or the implied deny at 65535), the new rules get a priority one
  lower than the lowest deny that decides them (1000, gcloud's default, when that is lower
  still); a block denied at priority 0 cannot be let in by a rule, and is named instead.
- An allow rule of the export that already lets the service in, from source ranges of the
  family only, with no tags, service accounts or destinations, at a priority ahead of those
  denies, is extended (``update --source-ranges`` with its ranges and the new ones) up to 256
  source ranges (``--chain NAME`` picks the rule); the rest go into new rules
  ``allowlist-auditor-tcp-25-v4`` (``-2``, ``-3`` ... per 256 ranges, the most a rule takes
  [Google Cloud, "VPC firewall rules quotas"]). IPv4 and IPv6 ranges are separate rules.
- The network is the one the export's rules name, else ``default`` (gcloud's own default).
- Idempotent: a rule of this tool's name that exists is updated to the same content rather
  than created again; the rollback sets an extended rule's ranges back to what the export
  held and deletes the rules the apply created.
- ``--prune`` with ``--scope RULE`` (the reader declares each ingress allow rule as a scope):
  for each scoped allow rule that lets in the service, the source ranges that are entirely
  extra are removed (``update --source-ranges`` with the rest), or the rule is deleted when
  none is left. A range only partly extra, every deny rule (removing a source from it would
  let it in), and a rule whose other sources (``sourceTags``, ``sourceServiceAccounts``)
  would be left alone are kept and named: a rule without ranges is a rule for its tags, or,
  without tags either, for 0.0.0.0/0.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from auditor import ipspace
from auditor.errors import UsageError
from auditor.model import MissingBlock
from auditor.rules import sanitize
from auditor.rules.artifacts import Artifact, chunk_name
from auditor.rules.base import Generator, RuleOptions
from auditor.rules.cloud import (
    SCRIPT_START,
    command,
    deciding_rules,
    exports,
    pruned,
    service_slug,
    short,
)
from auditor.service import Service

FORMAT = "gcp-firewall"

NAME = re.compile(r"[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?")
"""Firewall rule and network names [RFC 1035 labels, as Compute Engine requires]."""

MAX_RANGES = 256
DEFAULT_PRIORITY = 1000
_DENY = re.compile(r" priority (\d+) deny ")
_UNRESOLVED = (
    "sourceTags",
    "sourceServiceAccounts",
    "sourceAddressGroups",
    "sourceFqdns",
    "sourceRegionCodes",
    "sourceThreatIntelligences",
    "targetTags",
    "targetServiceAccounts",
    "destinationRanges",
)

_SOURCES = _UNRESOLVED[:6]
"""Sources besides ranges (a rule holding one is never deleted nor left without ranges)."""

_HELPER = """\
exists() { gcloud compute firewall-rules describe "$1" --format='value(name)' >/dev/null 2>&1; }"""


@dataclass(frozen=True)
class Extend:
    name: str
    ranges: tuple[str, ...]
    """The rule's source ranges as the export holds them."""


@dataclass(frozen=True)
class Plan:
    family: int
    priority: int
    extend: Extend | None
    added: tuple[str, ...]
    """CIDRs the extended rule takes."""
    created: tuple[tuple[str, tuple[str, ...]], ...]
    """(rule name, CIDRs) of the rules to create."""
    blocks: tuple[MissingBlock, ...]


def allow_spec(service: Service) -> str:
    """``--rules``: ``tcp:25,tcp:465``, ``tcp:1024-2048``, ``all``."""
    if service.protocol == "any":
        return "all"
    if not service.ports:
        return service.protocol
    return ",".join(
        f"{service.protocol}:{lo}" if lo == hi else f"{service.protocol}:{lo}-{hi}"
        for lo, hi in service.ports
    )


def _rules(doc: Any) -> list[dict[str, Any]]:
    items = doc.get("items") if isinstance(doc, dict) else doc
    return [r for r in items if isinstance(r, dict)] if isinstance(items, list) else []


def _priority(rule: dict[str, Any]) -> int:
    p = rule.get("priority", DEFAULT_PRIORITY)
    return p if isinstance(p, int) else DEFAULT_PRIORITY


def _covers(rule: dict[str, Any], service: Service) -> bool:
    allowed = rule.get("allowed")
    if not isinstance(allowed, list):
        return False
    wanted = [(service.protocol, lo, hi) for lo, hi in service.ports] or [
        (service.protocol, 0, 65535)
    ]
    for proto, lo, hi in wanted:
        ok = False
        for item in allowed:
            if not isinstance(item, dict):
                continue
            got = str(item.get("IPProtocol", "")).lower()
            got = {"6": "tcp", "17": "udp"}.get(got, got)
            if got == "all":
                ok = True
            elif got == proto != "any":
                ports = item.get("ports") or []
                ok = not ports or any(_within(p, lo, hi) for p in ports)
            if ok:
                break
        if not ok:
            return False
    return True


def _within(text: Any, lo: int, hi: int) -> bool:
    a, _, b = str(text).partition("-")
    try:
        first, last = int(a), int(b or a)
    except ValueError:
        return False
    return first <= lo and hi <= last


def canonical(ranges: Sequence[Any], family: int) -> tuple[str, ...] | None:
    """The ranges as CIDRs of ``family`` written from their numbers; None when one is not
    (another family, host bits, not a CIDR): such a rule is not extended."""
    out = []
    for r in ranges:
        try:
            p = ipspace.parse(str(r))
        except ValueError:
            return None
        if p.family != family or p.prefixlen is None or p.host_bits or p.mapped:
            return None
        out.append(ipspace.format_cidr(p.family, p.first, p.prefixlen))
    return tuple(out)


def _network(rule: dict[str, Any]) -> str | None:
    net = rule.get("network")
    return net.rstrip("/").rsplit("/", 1)[-1] if isinstance(net, str) and net else None


class GcloudGenerator(Generator):
    name = "gcloud"
    description = (
        "gcloud compute firewall-rules create/update commands (IPv4, IPv6 in separate rules),"
        " at most 256 source ranges per rule, ahead of the export's denies; --prune"
    )
    families = (4, 6)
    max_comment_len = 255
    max_name_len = 63
    """Rule names: 1-63 characters, a lowercase letter first [Compute Engine naming]."""
    max_ranges: ClassVar[int] = MAX_RANGES
    prunes = True

    def own_limits(self) -> list[str]:
        return [f"{self.max_ranges} source ranges a rule"]

    def check_options(self, options: RuleOptions) -> None:
        if options.chain != "INPUT" and not NAME.fullmatch(options.chain):
            raise UsageError(
                f"chain name {options.chain!r} is not a firewall rule name",
                hint="--chain names the rule to extend: lowercase letters, digits and '-',"
                " a letter first, at most 63 characters",
            )

    def _bound(self, block: MissingBlock, options: RuleOptions) -> int:
        """The lowest priority of a deny that decides the block (65536 when none does)."""
        found = [
            int(m.group(1))
            for text in deciding_rules(options, FORMAT, [block])
            if (m := _DENY.search(text))
        ]
        if any("implied deny" in t for t in deciding_rules(options, FORMAT, [block])):
            found.append(65535)
        return min(found, default=65536)

    def unfixed(self, blocks: Sequence[MissingBlock], options: RuleOptions) -> list[str]:
        return [
            f"{b.cidr}: denied at priority 0, ahead of which no rule can go"
            for b in blocks
            if self._bound(b, options) == 0
        ]

    def _documents(self, options: RuleOptions) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for export in exports(options, FORMAT):
            if export.document is not None:
                out += _rules(export.document)
        return out

    def network(self, options: RuleOptions) -> str:
        for rule in self._documents(options):
            net = _network(rule)
            if net is not None:
                if not NAME.fullmatch(net):
                    raise UsageError(
                        f"network {sanitize.clean(net)!r} of the export is not a network name",
                        hint="export the rules again (gcloud compute firewall-rules list"
                        " --format=json)",
                    )
                return net
        return "default"

    def _extendable(self, family: int, bound: int, options: RuleOptions) -> Extend | None:
        rules = self._documents(options)
        if options.chain != "INPUT":
            named = [r for r in rules if r.get("name") == options.chain]
            if rules and not named:
                raise UsageError(
                    f"no firewall rule {options.chain!r} in the export",
                    hint="--chain names an allow rule of the export to extend",
                )
            rules = named
        best: tuple[int, int, Extend] | None = None
        for i, rule in enumerate(rules):
            name = rule.get("name")
            ranges = rule.get("sourceRanges")
            if (
                not isinstance(name, str)
                or not NAME.fullmatch(name)
                or str(rule.get("direction", "INGRESS")).upper() != "INGRESS"
                or rule.get("disabled") is True
                or any(rule.get(k) for k in _UNRESOLVED)
                or not isinstance(ranges, list)
                or not ranges
                or len(ranges) >= self.max_ranges
                or (written := canonical(ranges, family)) is None
                or _priority(rule) >= bound
                or not _covers(rule, options.service)
            ):
                continue
            key = (_priority(rule), i)
            if best is None or key < best[:2]:
                best = (*key, Extend(name, written))
        return None if best is None else best[2]

    def rule_base(self, service: Service) -> str:
        """``allowlist-auditor-tcp-25``: with ``-v4`` and a chunk number, a rule name."""
        return short(f"allowlist-auditor-{service_slug(service)}", self.max_name_len - 6, service)

    def plans(self, blocks: Sequence[MissingBlock], options: RuleOptions) -> list[Plan]:
        out = []
        base = self.rule_base(options.service)
        for family in self.families:
            mine = [
                b
                for b in sanitize.sorted_blocks(blocks)
                if b.family == family and self._bound(b, options) > 0
            ]
            if not mine:
                continue
            bound = min(self._bound(b, options) for b in mine)
            priority = min(DEFAULT_PRIORITY, bound - 1)
            cidrs = [sanitize.cidr(b) for b in mine]
            extend = self._extendable(family, bound, options)
            added: list[str] = []
            if extend is not None:
                room = self.max_ranges - len(extend.ranges)
                added, cidrs = cidrs[:room], cidrs[room:]
            runs = [cidrs[i : i + self.max_ranges] for i in range(0, len(cidrs), self.max_ranges)]
            created = tuple(
                (chunk_name(f"{base}-v{family}", i, len(runs), self.max_name_len), tuple(run))
                for i, run in enumerate(runs)
            )
            out.append(Plan(family, priority, extend, tuple(added), created, tuple(mine)))
        return out

    def artifacts(self, blocks: Sequence[MissingBlock], options: RuleOptions) -> list[Artifact]:
        network = self.network(options)
        arts = []
        how = "bash FILE (with gcloud configured for the project: gcloud config set project)"
        for plan in self.plans(blocks, options):
            head = [
                SCRIPT_START,
                f"# Network {network}; IPv{plan.family} rules at priority {plan.priority}, ahead"
                " of the rules that deny these addresses (a deny wins at equal priority).",
                _HELPER,
            ]
            apply, back = list(head), list(head)
            origins = sorted({o.source for b in plan.blocks for o in b.origins})
            desc = self.comment([options.service.describe(), *origins])
            fw = ["gcloud", "compute", "firewall-rules"]
            if plan.extend is not None:
                ext = plan.extend
                apply.append(f"# {ext.name} already allows the service: its source ranges grow.")
                apply.append(
                    command([*fw, "update", ext.name, _ranges([*ext.ranges, *plan.added])])
                )
                back.append(f"# {ext.name}: its source ranges as the export held them.")
                back.append(command([*fw, "update", ext.name, _ranges(ext.ranges)]))
            rules = f"--rules={allow_spec(options.service)}"
            for name, run in plan.created:
                update = [*fw, "update", name, f"--priority={plan.priority}", rules, _ranges(run)]
                create = [
                    *fw, "create", name, f"--network={network}", "--direction=INGRESS",
                    f"--priority={plan.priority}", "--action=ALLOW", rules, _ranges(run),
                ]  # fmt: skip
                if desc:
                    create.append(f"--description={desc}")
                apply += [
                    f"if exists {command([name])}; then",
                    "  " + command(update),
                    "else",
                    "  " + command(create),
                    "fi",
                ]
                delete = command([*fw, "delete", name, "--quiet"])
                back.append(f"if exists {command([name])}; then {delete}; fi")
            n = len(plan.blocks)
            arts += [
                Artifact("apply", plan.family, "\n".join(apply) + "\n", "sh", how, script=True,
                         cidrs=n),
                Artifact("rollback", plan.family, "\n".join(back) + "\n", "sh", how, script=True,
                         cidrs=n),
            ]  # fmt: skip
        if options.prune:
            arts.append(self._prune(options))
        return arts

    def _prune(self, options: RuleOptions) -> Artifact:
        """The scope's ingress allow rules without their wholly extra source ranges."""
        if not any(e.document is not None for e in exports(options, FORMAT)):
            raise UsageError(
                "gcloud --prune needs the firewall rules export, unchanged since it was read",
                hint="give the gcloud compute firewall-rules list --format=json export with"
                " --declared and the rule's name as --scope",
            )
        lines = [
            SCRIPT_START,
            "# Removes from the scope's ingress allow rules the source ranges that are entirely"
            " extra;",
            "# a rule left without any is deleted. Deny rules are never changed.",
        ]
        kept: list[str] = []
        count = 0
        fw = ["gcloud", "compute", "firewall-rules"]
        for rule in self._documents(options):
            name = rule.get("name")
            if not isinstance(name, str) or name not in options.scope:
                continue
            if str(rule.get("direction", "INGRESS")).upper() != "INGRESS":
                continue
            label = sanitize.clean(name)
            if rule.get("denied"):
                kept.append(
                    f"{label} is a deny rule: removing a source from it would let the source in"
                )
                continue
            ranges = rule.get("sourceRanges")
            if (
                rule.get("disabled") is True
                or not isinstance(ranges, list)
                or not _touches(rule, options.service)
            ):
                continue
            rest, gone, why = _pruned(ranges, options.prune)
            kept += why
            if not gone:
                continue
            if not NAME.fullmatch(name):
                raise UsageError(
                    f"rule {label!r} of the export is not a firewall rule name",
                    hint="export the rules again (gcloud compute firewall-rules list"
                    " --format=json)",
                )
            others = [k for k in _SOURCES if rule.get(k)]
            if rest:
                lines.append(command([*fw, "update", name, _ranges(rest)]))
            elif others:
                kept.append(
                    f"{label}: every source range is extra, but the rule has {', '.join(others)}"
                    " as sources too: without ranges it is a rule for those only, which an"
                    " update cannot write; remove its ranges in the console, or delete it"
                )
                continue
            else:
                lines.append(command([*fw, "delete", name, "--quiet"]))
            count += gone
        lines += [f"# kept: {text}" for text in dict.fromkeys(kept)]
        how = "bash FILE (with gcloud configured for the project: gcloud config set project)"
        return Artifact("prune", None, "\n".join(lines) + "\n", "sh", how, script=True, cidrs=count)


def _touches(rule: dict[str, Any], service: Service) -> bool:
    """Whether an allow rule lets in some of the service (another service's rule is not the
    service's to prune)."""
    for item in rule.get("allowed") or []:
        if not isinstance(item, dict):
            continue
        proto = str(item.get("IPProtocol", "")).lower()
        proto = {"6": "tcp", "17": "udp"}.get(proto, proto)
        if proto == "all" or service.protocol == "any":
            return True
        if proto != service.protocol:
            continue
        ports = item.get("ports") or []
        if not ports:
            return True
        for text in ports:
            a, _, b = str(text).partition("-")
            try:
                lo, hi = int(a), int(b or a)
            except ValueError:
                return True
            if any(x <= hi and lo <= y for x, y in service.ports):
                return True
    return False


def _pruned(
    ranges: Sequence[Any], extra: Sequence[MissingBlock]
) -> tuple[list[str], int, list[str]]:
    """The ranges without those entirely in ``extra`` (:func:`cloud.pruned`)."""
    return pruned([str(r) for r in ranges], extra, "an address range")


def _ranges(cidrs: Sequence[str]) -> str:
    return "--source-ranges=" + ",".join(cidrs)
