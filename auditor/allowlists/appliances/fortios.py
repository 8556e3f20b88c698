"""``fortios`` (alias ``fortigate``): a FortiGate configuration, as ``show full-configuration``
prints it or a backup file holds it, evaluated for a new connection to the service.

What is read (the language: :mod:`~auditor.allowlists.appliances.fortios_tree`; the semantics:
:mod:`~auditor.allowlists.appliances.fortios_lower`):

- ``config firewall policy`` (and the older ``firewall policy6``), in the order of the list:
  ``srcintf``/``dstintf`` (``any``, interfaces, zones of ``config system zone``), ``srcaddr``/
  ``dstaddr`` and ``srcaddr6``/``dstaddr6`` with ``-negate``, ``service`` (custom services with
  ``tcp-portrange``/``udp-portrange`` ``25``, ``25-26``, ``25:1024-65535`` (destination:source),
  service groups, the predefined ``ALL``, ``SMTP`` ...), ``action accept|deny`` (deny when not
  set), ``status disable`` (skipped), ``schedule``, ``users``/``groups`` (conditional); what no
  policy matches meets the implicit deny;
- ``config firewall address``/``address6`` (subnet with a mask or a prefix, ``iprange``; fqdn,
  geography, dynamic, wildcard ... conditional) and ``addrgrp``/``addrgrp6`` (nested, with
  ``exclude-member``; a group that holds itself is an error);
- VDOMs (``config vdom``, ``edit NAME``): each rule names its VDOM.

``--chain [VDOM/]SRC:DST`` picks the interface pair a connection crosses (``port1:port2``; a
zone's name for a zone): only the policies for that pair are evaluated. Without it, a single
pair the policies name is taken; with several, the policies bound to interfaces are
conditional. ``--chain VDOM`` picks a VDOM alone.

Each ``address``/``addrgrp`` (and their IPv6 kin) of the VDOM is a ``--scope`` name, holding
the addresses of the objects it holds (each with the object's ``edit`` line).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from auditor.allowlists.appliances.fortios_lower import (
    ADDRESS,
    GROUP,
    Addresses,
    Pair,
    Vdom,
    end_ref,
    lower,
    policies,
)
from auditor.allowlists.appliances.fortios_tree import Node, Table, parse_tree
from auditor.allowlists.appliances.sniffing import sniff_fortios as sniff_fortios
from auditor.allowlists.base import ReadContext, ReaderError, decode_text
from auditor.allowlists.firewall import FirewallResult, verdicts_rangeset
from auditor.model import Entry, Finding, Origin, RangeSet, Severity, SourceInfo, Verdicts
from auditor.ruleset.engine import first_match

FORMAT = "fortios"
_NOT_EVALUATED = {
    "firewall security-policy": "security policies (NGFW policy-based mode) are not evaluated",
    "firewall acl": "interface ACLs (drop traffic before the policies) are not evaluated",
    "firewall acl6": "interface ACLs (drop traffic before the policies) are not evaluated",
}


def find_vdoms(root: Table) -> list[Vdom]:
    """The VDOMs with their own configuration, or the configuration itself (no VDOMs)."""
    table = root.table("vdom")
    found = [
        Vdom(name, entry)
        for name, entry in (table.entries.items() if table is not None else ())
        if entry.tables
    ]
    vdoms = found or [Vdom(None, root)]
    for vdom in vdoms:
        zones = vdom.node.table("system zone")
        for name, zone in zones.entries.items() if zones is not None else ():
            vdom.zones[name] = zone.get("interface")
    return vdoms


def _interface_vdoms(root: Table) -> dict[str, str]:
    holder: Node | None = root.table("global") or root
    table = holder.table("system interface") if holder is not None else None
    return {
        n: e.word("vdom") for n, e in (table.entries.items() if table else ()) if e.word("vdom")
    }


def pairs(vdom: Vdom) -> list[str]:
    """The interface pairs the policies name (``SRC:DST``), ``any`` pairs left out."""
    out: dict[str, None] = {}
    for p in policies(vdom):
        for s in p.entry.get("srcintf"):
            for d in p.entry.get("dstintf"):
                if (s, d) != ("any", "any"):
                    out[f"{s}:{d}"] = None
    return list(out)


def _known(vdom: Vdom, root: Table) -> set[str]:
    names = {"any", *vdom.zones, *(i for members in vdom.zones.values() for i in members)}
    for p in policies(vdom):
        names.update(p.entry.get("srcintf"), p.entry.get("dstintf"))
    for holder in (root.table("global"), root, vdom.node):
        table = holder.table("system interface") if holder is not None else None
        names.update(table.entries if table is not None else ())
    return names


@dataclass(frozen=True)
class Choice:
    vdom: Vdom
    pair: Pair | None
    note: str = ""


def choose(root: Table, ctx: ReadContext) -> Choice:
    """The VDOM and interface pair ``--chain`` picks (or the default)."""
    vdoms = find_vdoms(root)
    chain = None if ctx.chain in (None, "INPUT") else ctx.chain
    by_name = {v.name: v for v in vdoms if v.name}
    vdom_name, rest = chain.split("/", 1) if chain and "/" in chain else (None, chain)
    if rest is not None and ":" not in rest and rest in by_name and vdom_name is None:
        vdom_name, rest = rest, None

    def choices() -> str:
        shown = []
        for v in vdoms:
            prefix = f"{v.name}/" if v.name and len(vdoms) > 1 else ""
            shown += [prefix + p for p in pairs(v)] or ([v.name] if v.name else [])
        return ", ".join(shown[:20]) or "none: no policy names an interface"

    if vdom_name is not None and vdom_name not in by_name:
        raise ReaderError(
            f"no VDOM {vdom_name!r} in the configuration",
            source=ctx.name,
            hint=f"--chain [VDOM/]SRC:DST; the choices: {choices()}",
        )
    pair: Pair | None = None
    if rest is not None:
        src, colon, dst = rest.partition(":")
        if not colon or not src or not dst:
            raise ReaderError(
                f"--chain {chain!r} is not an interface pair",
                source=ctx.name,
                hint=f"--chain [VDOM/]SRC:DST, such as port1:port2; the choices: {choices()}",
            )
        pair = Pair(src, dst)
    if vdom_name is not None:
        candidates = [by_name[vdom_name]]
    elif len(vdoms) == 1:
        candidates = vdoms
    else:
        owners = _interface_vdoms(root)
        candidates = [v for v in vdoms if pair is not None and owners.get(pair.src) == v.name]
        if not candidates:
            candidates = [v for v in vdoms if policies(v)]
        if len(candidates) != 1:
            raise ReaderError(
                f"the configuration has {len(vdoms)} VDOMs; --chain names the one to audit",
                source=ctx.name,
                hint=f"--chain VDOM/SRC:DST; the choices: {choices()}",
            )
    vdom = candidates[0]
    if pair is not None:
        known = _known(vdom, root)
        for name in (pair.src, pair.dst):
            if name not in known:
                raise ReaderError(
                    f"{vdom.label()}no interface or zone {name!r} in the configuration",
                    source=ctx.name,
                    hint=f"--chain [VDOM/]SRC:DST; the choices: {choices()}",
                )
        return Choice(vdom, pair)
    named = pairs(vdom)
    if len(named) == 1:
        src, _, dst = named[0].partition(":")
        note = f"{vdom.label()}the policies name one interface pair, {named[0]}: evaluated for it"
        return Choice(vdom, Pair(src, dst), note)
    return Choice(vdom, None)


def scope_objects(vdom: Vdom, ctx: ReadContext) -> tuple[list[Entry], list[str]]:
    """Every address and address group of the VDOM as a scope: the addresses of the objects
    it holds, each with its object's line."""
    entries: list[Entry] = []
    names: dict[str, None] = {}
    for family in (4, 6):
        addresses = Addresses(vdom.node, family, ctx, None)
        for table in (addresses.objects, addresses.groups):
            for name in table.entries:
                names[name] = None
                try:
                    leaves = addresses.leaves(name)
                except ReaderError:
                    continue  # reported when the file is read
                for (a, b), leaf in leaves:
                    path = f"{ADDRESS[family]} {leaf.name}"
                    entries.append(Entry(family, a, b, Origin(ctx.name, leaf.line, path), name))
    return entries, list(names)


def _unused_errors(vdom: Vdom, ctx: ReadContext) -> list[Finding]:
    """Address objects the FortiGate would refuse, which no policy uses (so nothing depends
    on them): a warning each."""
    out: list[Finding] = []
    for family in (4, 6):
        addresses = Addresses(vdom.node, family, ctx, None)
        for table, path in ((addresses.objects, ADDRESS), (addresses.groups, GROUP)):
            for name, e in table.entries.items():
                try:
                    addresses.name(name, e.line)
                except ReaderError as err:
                    message = f"{path[family]} {name}: {err.message} (no policy uses it)"
                    out.append(
                        Finding(
                            "invalid-object", Severity.WARNING, message, Origin(ctx.name, e.line)
                        )
                    )
    return out


def _not_evaluated(vdom: Vdom, ctx: ReadContext) -> list[str]:
    out = []
    for path, what in _NOT_EVALUATED.items():
        table = vdom.node.table(path)
        if table is not None and table.entries:
            out.append(f"{ctx.name}:{table.line}: config {path}: {what}")
    return out


@dataclass(frozen=True)
class Read:
    """What one reading holds, for the reader and for rule placement."""

    root: Table
    choice: Choice
    verdicts: list[Verdicts]
    findings: list[Finding]
    unsupported: list[str]


def read(data: bytes, ctx: ReadContext) -> Read:
    text = decode_text(data, ctx)
    root, refused = parse_tree(text, ctx.name)
    choice = choose(root, ctx)
    vdom = choice.vdom
    findings = [
        Finding("refused-command", Severity.WARNING, f"the FortiGate refuses it: {why}",
                Origin(ctx.name, line))
        for line, why in refused
    ]  # fmt: skip
    if choice.note:
        findings.append(Finding("chain", Severity.INFO, choice.note, Origin(ctx.name)))
    if not policies(vdom):
        findings.append(
            Finding(
                "no-policy",
                Severity.INFO,
                f"{vdom.label()}no enabled firewall policy: the implicit deny refuses every"
                " connection",
                Origin(ctx.name),
            )
        )
    unsupported = _not_evaluated(vdom, ctx)
    verdicts = []
    for family in (4, 6):
        rules = lower(vdom, family, ctx, choice.pair, unsupported)
        verdicts.append(first_match(rules, family, "drop", end_ref(vdom, ctx), ctx.service))
    findings += _unused_errors(vdom, ctx)
    return Read(root, choice, verdicts, findings, unsupported)


def parse(data: bytes, ctx: ReadContext) -> RangeSet:
    """What :class:`FortiosReader` reads from a configuration."""
    got = read(data, ctx)
    info = SourceInfo.for_bytes(ctx.name, ctx.role, FORMAT, data, ctx.now)
    vdom = got.choice.vdom
    objects: Callable[[], tuple[list[Entry], list[str]]] = lambda: scope_objects(vdom, ctx)  # noqa: E731
    found = FirewallResult(info, got.verdicts, got.findings, got.unsupported, objects)
    return verdicts_rangeset(found)
