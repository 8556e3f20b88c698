"""Azure: ``az network nsg rule create`` commands for a network security group, per family.

Choices an admin should know about (they are also written into the output):

- The NSG and its resource group are those of the declared ``azure-nsg`` export (every NSG
  of it, or the one ``--chain`` names: an export of several NSGs is read as NSGs that all have
  to allow, so each gets the rules). Without an export the script needs ``RESOURCE_GROUP``
  and ``NSG_NAME`` set and stops without them.
- Inbound rules are evaluated by priority, the lowest number first, and the first match
  decides [Microsoft Learn, "Network security groups"]. Each new rule gets the highest
  priority number that is free among the NSG's inbound rules (100-4096) and lower than the
  deny that decides the missing addresses today (their rule ``DenyX`` at 300: 299, 298 ...;
  only the default ``DenyAllInBound``: from 4096 down). Without an export the priorities
  count down from 4096 and Azure refuses one in use, which stops the script.
- One rule per family (Azure keeps IPv4 and IPv6 prefixes in separate rules) and per 4000
  prefixes (the most an NSG holds across its rules [Azure networking limits]), named
  ``allowlist-auditor-tcp-25-v4`` (``-2`` ...). ``create`` writes the rule whole (a PUT), so
  running the script again leaves the same rule; a rule of that name in the export keeps
  its priority. The rollback deletes the rules by name.
- ``--prune`` with ``--scope RULE`` (or ``NSG/RULE``: the reader declares each inbound Allow
  rule of the NSG as a scope): for each scoped Allow rule that lets in the service, the
  source prefixes that are entirely extra are removed (``az network nsg rule update
  --source-address-prefixes`` with the rest), or the rule is deleted when none is left. A
  prefix only partly extra, a service tag and every Deny rule are kept and named: removing a
  source from a deny would let it in.
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
    exports,
    pruned,
    required,
    service_slug,
    short,
)
from auditor.service import Service

FORMAT = "azure-nsg"

NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,78}[A-Za-z0-9_])?")
"""NSG and rule names: 1-80 characters, letters, digits, '_', '.', '-', a letter or digit
first and '.' or '-' not last [Azure naming rules, Microsoft.Network]."""
GROUP = re.compile(r"[A-Za-z0-9_().-]{0,89}[A-Za-z0-9_()-]")
"""Resource group names: 1-90 characters, letters, digits, '_', '(', ')', '-', '.', not
ending in '.'."""
_RG_IN_ID = re.compile(r"/resourceGroups/([^/]+)/", re.IGNORECASE)

LOWEST, HIGHEST = 100, 4096


@dataclass(frozen=True)
class Nsg:
    name: str
    """The NSG name, or ``$NSG_NAME``."""
    group: str
    """Its resource group, or ``$RESOURCE_GROUP``."""
    used: frozenset[int]
    """Inbound priorities in use, without the rules this tool wrote."""
    mine: dict[str, int]
    """Priorities of the rules of this tool's names that exist already."""
    known: bool = True
    deny_rules: tuple[dict[str, Any], ...] = ()
    """The properties of its inbound deny rules."""

    def denies(self, blocks: Sequence[MissingBlock], service: Service) -> list[int]:
        """Priorities of the deny rules that may match a block for the service."""
        out = []
        for props in self.deny_rules:
            if _may_match(props, blocks, service) and isinstance(props.get("priority"), int):
                out.append(props["priority"])
        return out


def protocol_args(service: Service) -> list[str]:
    if service.protocol == "any":
        return ["--protocol", "*", "--destination-port-ranges", "*"]
    ports = [str(lo) if lo == hi else f"{lo}-{hi}" for lo, hi in service.ports] or ["*"]
    return ["--protocol", service.protocol.title(), "--destination-port-ranges", *ports]


def _props(rule: dict[str, Any]) -> dict[str, Any]:
    props = rule.get("properties")
    return props if isinstance(props, dict) else rule


def _nsgs(doc: Any) -> list[dict[str, Any]]:
    items = doc if isinstance(doc, list) else [doc]
    return [n for n in items if isinstance(n, dict)]


def _strings(props: dict[str, Any], one: str, many: str) -> list[str]:
    values = [props.get(one)] + list(props.get(many) or [])
    return [str(v) for v in values if v not in (None, "")]


def _touches(props: dict[str, Any], service: Service) -> bool:
    """Whether a rule's protocol and destination ports hold some of the service."""
    proto = str(props.get("protocol", "*")).lower()
    if service.protocol != "any" and proto not in ("*", "any", service.protocol):
        return False
    ports = _strings(props, "destinationPortRange", "destinationPortRanges")
    if service.protocol == "any" or "*" in ports:
        return True
    for text in ports:
        first, _, last = text.partition("-")
        try:
            lo, hi = int(first), int(last or first)
        except ValueError:
            return True
        if any(x <= hi and lo <= y for x, y in service.ports):
            return True
    return False


def _may_match(props: dict[str, Any], blocks: Sequence[MissingBlock], service: Service) -> bool:
    if not _touches(props, service):
        return False
    sources = _strings(props, "sourceAddressPrefix", "sourceAddressPrefixes")
    if props.get("sourceApplicationSecurityGroups") or not sources:
        return True
    for text in sources:
        try:
            p = ipspace.parse(text)
        except ValueError:
            return True  # *, Internet, a service tag: it may hold the addresses
        for b in blocks:
            if b.family == p.family and b.network <= p.last and p.first < b.network + b.size:
                return True
    return False


def _resource_group(nsg: dict[str, Any]) -> str:
    """The NSG's resource group (``resourceGroup``, else from its id), else
    ``$RESOURCE_GROUP``."""
    group = nsg.get("resourceGroup")
    if not isinstance(group, str):
        m = _RG_IN_ID.search(str(nsg.get("id", "")))
        group = m.group(1) if m else None
    return "$RESOURCE_GROUP" if group is None else _check(GROUP, group, "resource group")


def _check(pattern: re.Pattern[str], value: str, what: str) -> str:
    if not pattern.fullmatch(value):
        raise UsageError(
            f"{what} {sanitize.clean(value)!r} cannot be written into an az command",
            hint=f"name the {what} as Azure does (letters, digits, '_', '.', '-')",
        )
    return value


def _pruned(
    props: dict[str, Any], extra: Sequence[MissingBlock]
) -> tuple[list[str], int, list[str]]:
    """A rule's source prefixes without those entirely in ``extra`` (:func:`cloud.pruned`)."""
    texts = _strings(props, "sourceAddressPrefix", "sourceAddressPrefixes")
    return pruned(texts, extra, "an address prefix")


class AzureGenerator(Generator):
    name = "azure"
    description = (
        "az network nsg rule create commands (IPv4, IPv6 in separate rules) at free priorities"
        " ahead of the NSG's denies; delete to roll back; --prune"
    )
    families = (4, 6)
    max_comment_len = 140
    """A rule's description: at most 140 characters [Network REST API, SecurityRule]."""
    max_name_len = 80
    max_prefixes: ClassVar[int] = 4000
    prunes = True

    def own_limits(self) -> list[str]:
        return [f"{self.max_prefixes} prefixes a rule"]

    def check_options(self, options: RuleOptions) -> None:
        if options.chain != "INPUT":
            _check(NAME, options.chain, "chain name (the network security group)")

    def rule_base(self, service: Service) -> str:
        return short(f"allowlist-auditor-{service_slug(service)}", self.max_name_len - 8, service)

    def targets(self, options: RuleOptions) -> list[Nsg]:
        base = self.rule_base(options.service)
        out = []
        for export in exports(options, FORMAT):
            if export.document is None:
                continue
            for nsg in _nsgs(export.document):
                holder = _props(nsg)
                name = nsg.get("name") or holder.get("name")
                if not isinstance(name, str):
                    continue
                if options.chain != "INPUT" and name != options.chain:
                    continue
                group = _resource_group(nsg)
                used, mine = set(), {}
                denies: list[dict[str, Any]] = []
                for rule in holder.get("securityRules") or []:
                    if not isinstance(rule, dict):
                        continue
                    props = _props(rule)
                    prio = props.get("priority")
                    if str(props.get("direction", "")).lower() != "inbound" or not isinstance(
                        prio, int
                    ):
                        continue
                    if str(props.get("access", "")).lower() == "deny":
                        denies.append(props)
                    rname = rule.get("name") or props.get("name")
                    if isinstance(rname, str) and rname.startswith(base):
                        mine[rname] = prio
                    else:
                        used.add(prio)
                checked = _check(NAME, name, "network security group")
                out.append(Nsg(checked, group, frozenset(used), mine, True, tuple(denies)))
        if out:
            return out
        name = "$NSG_NAME" if options.chain == "INPUT" else options.chain
        return [Nsg(name, "$RESOURCE_GROUP", frozenset(), {}, known=False)]

    def _bound(self, nsg: Nsg, blocks: Sequence[MissingBlock], options: RuleOptions) -> int:
        """One more than the highest priority a new rule may take for ``nsg``: the lowest
        priority of an inbound deny of the NSG that may match the blocks for the service (a
        source that is not an address, a service tag, may hold them)."""
        bound = HIGHEST + 1
        for prio in nsg.denies(blocks, options.service):
            bound = min(bound, prio)
        return bound

    def artifacts(self, blocks: Sequence[MissingBlock], options: RuleOptions) -> list[Artifact]:
        arts = []
        base = self.rule_base(options.service)
        how = "bash FILE (with az logged in to the NSG's subscription: az account set)"
        nsgs = self.targets(options)
        for family in self.families:
            mine = [b for b in sanitize.sorted_blocks(blocks) if b.family == family]
            if not mine:
                continue
            cidrs = [sanitize.cidr(b) for b in mine]
            runs = [
                cidrs[i : i + self.max_prefixes] for i in range(0, len(cidrs), self.max_prefixes)
            ]
            names = [
                chunk_name(f"{base}-v{family}", i, len(runs), self.max_name_len)
                for i in range(len(runs))
            ]
            origins = sorted({o.source for b in mine for o in b.origins})
            desc = self.comment([options.service.describe(), *origins])
            apply, back = [SCRIPT_START], [SCRIPT_START]
            for var in ("RESOURCE_GROUP", "NSG_NAME"):
                if any(f"${var}" in (n.name, n.group) for n in nsgs):
                    what = "the NSG's resource group" if var == "RESOURCE_GROUP" else "the NSG"
                    apply.append(required(var, what))
                    back.append(required(var, what))
            for nsg in nsgs:
                bound = self._bound(nsg, mine, options)
                prios = self._priorities(nsg, names, bound)
                where = ["-g", nsg.group, "--nsg-name", nsg.name]
                note = (
                    f"# {nsg.name}: priority {', '.join(map(str, prios))}, ahead of"
                    + (f" the deny at {bound}" if bound <= HIGHEST else " DenyAllInBound")
                    + ("" if nsg.known else " (no export read: Azure refuses one in use)")
                )
                apply.append(note)
                back.append(f"# {nsg.name}: the rules the apply script created.")
                for name, run, prio in zip(names, runs, prios, strict=True):
                    args = [
                        "az", "network", "nsg", "rule", "create", *where, "-n", name,
                        "--priority", str(prio), "--direction", "Inbound", "--access", "Allow",
                        *protocol_args(options.service), "--source-address-prefixes", *run,
                        "--source-port-ranges", "*", "--destination-address-prefixes", "*",
                    ]  # fmt: skip
                    if desc:
                        args += ["--description", desc]
                    apply.append(command(args))
                    back.append(
                        command(["az", "network", "nsg", "rule", "delete", *where, "-n", name])
                    )
            n = len(mine)
            arts += [
                Artifact("apply", family, "\n".join(apply) + "\n", "sh", how, script=True,
                         cidrs=n),
                Artifact("rollback", family, "\n".join(back) + "\n", "sh", how, script=True,
                         cidrs=n),
            ]  # fmt: skip
        if options.prune:
            arts.append(self._prune(options))
        return arts

    def _prune(self, options: RuleOptions) -> Artifact:
        """The scope's inbound Allow rules without their wholly extra source prefixes."""
        found = [e for e in exports(options, FORMAT) if e.document is not None]
        if not found:
            raise UsageError(
                "azure --prune needs the NSG export, unchanged since it was read",
                hint="give the az network nsg show JSON with --declared and the security"
                " rule's name as --scope",
            )
        lines = [
            SCRIPT_START,
            "# Removes from the scope's inbound Allow rules the source prefixes that are"
            " entirely extra;",
            "# a rule left without any is deleted. Deny rules are never changed.",
        ]
        body: list[str] = []
        kept: list[str] = []
        count = 0
        for export in found:
            for nsg in _nsgs(export.document):
                holder = _props(nsg)
                name = nsg.get("name") or holder.get("name")
                if not isinstance(name, str):
                    continue
                if options.chain != "INPUT" and name != options.chain:
                    continue
                for rule in holder.get("securityRules") or []:
                    if not isinstance(rule, dict):
                        continue
                    props = _props(rule)
                    rname = rule.get("name") or props.get("name")
                    if not isinstance(rname, str) or not (
                        rname in options.scope or f"{name}/{rname}" in options.scope
                    ):
                        continue
                    if str(props.get("direction", "")).lower() != "inbound":
                        continue
                    label = sanitize.clean(f"{name}/{rname}")
                    access = str(props.get("access", "")).lower()
                    if access == "deny":
                        kept.append(
                            f"{label} is a Deny rule: removing a source from it would let"
                            " the source in"
                        )
                        continue
                    if access != "allow" or not _touches(props, options.service):
                        continue
                    where = ["-g", _resource_group(nsg), "--nsg-name",
                             _check(NAME, name, "network security group"),
                             "-n", _check(NAME, rname, "security rule")]  # fmt: skip
                    step, gone, why = _pruned(props, options.prune)
                    kept += why
                    if not gone:
                        continue
                    count += gone
                    az = ["az", "network", "nsg", "rule"]
                    if step:
                        body.append(
                            command([*az, "update", *where, "--source-address-prefixes", *step])
                        )
                    elif props.get("sourceApplicationSecurityGroups"):
                        kept.append(
                            f"{label}: every prefix is extra, but the rule has application"
                            " security groups as sources too: remove its prefixes by hand"
                        )
                    else:
                        body.append(command([*az, "delete", *where]))
        if any("$RESOURCE_GROUP" in line for line in body):
            lines.append(required("RESOURCE_GROUP", "the NSG's resource group"))
        lines += body
        lines += [f"# kept: {text}" for text in dict.fromkeys(kept)]
        how = "bash FILE (with az logged in to the NSG's subscription: az account set)"
        return Artifact("prune", None, "\n".join(lines) + "\n", "sh", how, script=True, cidrs=count)

    def _priorities(self, nsg: Nsg, names: Sequence[str], bound: int) -> list[int]:
        """A free priority per rule name, the highest below ``bound`` first; a rule of that
        name that exists keeps its own when it is still ahead of the deny."""
        taken = set(nsg.used)
        out: list[int] = []
        candidates = iter(range(min(bound, HIGHEST + 1) - 1, LOWEST - 1, -1))
        for name in names:
            kept = nsg.mine.get(name)
            if kept is not None and kept < bound and kept not in taken:
                out.append(kept)
                taken.add(kept)
                continue
            reserved = taken | set(nsg.mine.values())
            prio = next((p for p in candidates if p not in reserved), None)
            if prio is None:
                raise UsageError(
                    f"no free priority in {nsg.name} below {bound} for {len(names)} rule(s)",
                    hint="free a priority between 100 and the deny that decides these addresses",
                )
            out.append(prio)
            taken.add(prio)
        return out
