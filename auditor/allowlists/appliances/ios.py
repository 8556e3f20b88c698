"""``ios``: a Cisco IOS / IOS XE running configuration (``show running-config``), and the
access lists of IOS XR and NX-OS where their syntax differs, evaluated for a new inbound
connection to the service on one interface.

What is read (:mod:`~auditor.allowlists.appliances.ios_parse` for the structure,
:mod:`~auditor.allowlists.appliances.ios_lower` for the entries):

- standard and extended access lists, named and numbered, with or without sequence numbers
  (entries are evaluated by ascending sequence number, first match; an entry without one
  gets the next multiple of ten), IPv6 access lists, IOS XR ``ipv4 access-list`` and NX-OS
  ``ip access-list NAME`` with prefix notation;
- the implicit deny at the end of every list ["IP Access List Overview", Cisco IOS XE
  Security Configuration Guide: "an implicit deny ... at the end of an access list"];
- ``object-group network`` (``host``, ``A MASK``, ``A/LEN``, ``range``, ``group-object``
  nested, a loop being an error) and ``object-group service`` (protocol and ports), their
  NX-OS (``addrgroup``, ``portgroup``) and IOS XR (``net-group``, ``port-group``) forms;
- ``ip access-group NAME in`` per interface, ``ipv6 traffic-filter NAME in``, and IOS XR
  ``ipv4|ipv6 access-group NAME ingress``.

``--chain`` names the interface (``GigabitEthernet0/0``, or as abbreviated: ``Gi0/0``) whose
inbound access lists are evaluated, or an access list by name. Without it, the one interface
that has an inbound access list is taken; several are an error that lists them. A file of
access lists alone (no interface binds one) is evaluated when it holds one list name (an
IPv4 and an IPv6 list may share it); else ``--chain`` must name one. A family for which the
interface has no access list is not covered (its traffic is not filtered there). An access
list that a binding names but the file does not define, and an object group that an
evaluated entry names but the file does not define, are errors.

Scopes (``--scope``): every ``object-group network`` (its addresses, nested groups
included) and every access list (the sources of its permit entries that let in some of the
service).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass, replace

from auditor import ipspace
from auditor.allowlists.appliances.ios_lower import (
    Reader as EntryReader,
)
from auditor.allowlists.appliances.ios_lower import (
    Unreadable,
    acl_label,
    lower,
)
from auditor.allowlists.appliances.ios_parse import Acl, Binding, Config, Line, parse_config
from auditor.allowlists.appliances.sniffing import IOS_SHOW as _SHOW
from auditor.allowlists.appliances.sniffing import sniff_ios as sniff_ios
from auditor.allowlists.base import ReadContext, ReaderError, decode_text
from auditor.allowlists.firewall import FirewallResult, verdicts_rangeset
from auditor.errors import AddressError
from auditor.model import Entry, Finding, Origin, RangeSet, RuleRef, Severity, SourceInfo
from auditor.ruleset import engine, ir
from auditor.ruleset.engine import probes, traffic_match
from auditor.service import Service

FORMAT = "ios"

_HEAD = 65536
SHOW_HINT = (
    "give the running configuration (show running-config) with --format ios: the output of"
    " show access-lists leaves out which interface each list filters"
)


@dataclass(frozen=True)
class Chosen:
    """What is evaluated: the access list per family, and how it was chosen."""

    label: str
    acls: dict[int, Acl]
    findings: tuple[Finding, ...] = ()
    interface: str | None = None


def _split(name: str) -> tuple[str, str]:
    kind = re.match(r"[A-Za-z-]*", name)
    cut = kind.end() if kind else 0
    return name[:cut].lower(), name[cut:].lower()


def _matches(given: str, interface: str) -> bool:
    """``Gi0/0`` names ``GigabitEthernet0/0``: the same numbers, the type abbreviated."""
    if given.lower() == interface.lower():
        return True
    kind, rest = _split(given.replace(" ", ""))
    full_kind, full_rest = _split(interface.replace(" ", ""))
    return bool(kind) and rest == full_rest and full_kind.startswith(kind)


class _Chooser:
    def __init__(self, cfg: Config, ctx: ReadContext) -> None:
        self.cfg = cfg
        self.ctx = ctx

    def inbound(self) -> dict[str, list[Binding]]:
        out: dict[str, list[Binding]] = {}
        for b in self.cfg.bindings:
            if b.direction == "in":
                out.setdefault(b.interface, []).append(b)
        return out

    def choices(self) -> str:
        interfaces = [
            f"{name} ({', '.join(b.acl for b in bs)})" for name, bs in self.inbound().items()
        ]
        names = list(dict.fromkeys(acl.name for acl in self.cfg.acls.values()))
        parts = []
        if interfaces:
            parts.append("interfaces " + ", ".join(interfaces))
        if names:
            more = " ..." if len(names) > 30 else ""
            parts.append("access lists " + ", ".join(names[:30]) + more)
        return "; ".join(parts) or "none: the file defines no IP access list"

    def error(self, message: str) -> ReaderError:
        return ReaderError(
            message, source=self.ctx.name, hint="--chain names one of: " + self.choices()
        )

    def interface(self, name: str, bindings: list[Binding]) -> Chosen:
        acls: dict[int, Acl] = {}
        for b in bindings:
            acl = self.cfg.acls.get((b.family, b.acl))
            if acl is None:
                kind = "IPv6 access list" if b.family == 6 else "access list"
                raise ReaderError(
                    f"the {kind} {b.acl} that interface {name} filters with is not defined",
                    source=self.ctx.name,
                    line=b.line.number,
                    hint="give the whole running configuration (show running-config), which"
                    " holds the access list",
                )
            acls[b.family] = acl
        findings = []
        for fam in (4, 6):
            if fam not in acls:
                word = "ip access-group" if fam == 4 else "ipv6 traffic-filter"
                findings.append(
                    Finding(
                        "not-covered",
                        Severity.INFO,
                        f"interface {name} has no inbound {word}: its IPv{fam} traffic is not"
                        " filtered there, and this source says nothing of IPv"
                        f"{fam}",
                        Origin(self.ctx.name, self.cfg.interfaces[name].number),
                    )
                )
        text = ", ".join(f"{acl_label(a)} in" for a in acls.values())
        return Chosen(f"interface {name} ({text})", acls, tuple(findings), name)

    def by_name(self, name: str) -> Chosen | None:
        acls = {fam: acl for (fam, n), acl in self.cfg.acls.items() if n == name}
        if not acls:
            return None
        return Chosen(f"access list {name}", acls)

    def choose(self) -> Chosen:
        inbound = self.inbound()
        given = self.ctx.chain
        if given:
            named = [n for n in inbound if n.lower() == given.lower()] or [
                n for n in inbound if _matches(given, n)
            ]
            if len(named) == 1:
                return self.interface(named[0], inbound[named[0]])
            if len(named) > 1:
                raise self.error(f"--chain {given} names several interfaces: {', '.join(named)}")
            chosen = self.by_name(given)
            if chosen is not None:
                return chosen
            plain = [n for n in self.cfg.interfaces if _matches(given, n)]
            if given == "INPUT" and not plain:
                return self.choose_default()  # the CLI's default: nothing chosen
            if plain:
                raise self.error(f"interface {plain[0]} has no inbound access list")
            raise self.error(f"no interface or access list {given!r} in the configuration")
        return self.choose_default()

    def choose_default(self) -> Chosen:
        inbound = self.inbound()
        if len(inbound) == 1:
            name = next(iter(inbound))
            return self.interface(name, inbound[name])
        if len(inbound) > 1:
            raise self.error(
                f"{len(inbound)} interfaces filter inbound traffic; name the one the"
                " connections arrive on"
            )
        names = list(dict.fromkeys(acl.name for acl in self.cfg.acls.values()))
        if len(names) != 1:
            if not names:
                raise ReaderError(
                    "the configuration defines no IP access list",
                    source=self.ctx.name,
                    hint="give a configuration with ip access-list (or access-list) entries",
                )
            raise self.error(
                f"no interface binds an access list, and there are {len(names)}: name one"
            )
        acls = {fam: acl for (fam, n), acl in self.cfg.acls.items() if n == names[0]}
        chosen = Chosen(f"access list {names[0]}", acls)
        note = Finding(
            "unbound",
            Severity.INFO,
            f"no interface binds access list {names[0]}: evaluated as if it filtered the"
            " connections inbound",
            Origin(self.ctx.name),
        )
        return Chosen(chosen.label, chosen.acls, (note,))


def choose(cfg: Config, ctx: ReadContext) -> Chosen:
    """The access lists ``--chain`` (``ctx.chain``) picks, or the default; ReaderError with the
    choices when it is ambiguous or unknown."""
    return _Chooser(cfg, ctx).choose()


def _to(ctx: ReadContext) -> tuple[int, int] | None:
    if not ctx.to:
        return None
    fam, value, _ = ipspace.parse_address(ctx.to)
    return fam, value


def _subnets(lines: list[Line]) -> list[tuple[int, int, int]]:
    """(family, first, last) of an interface's ``ip address A MASK``, ``A/LEN`` and ``ipv6
    address P/LEN`` lines (``dhcp``, ``negotiated``, ``autoconfig``: nothing known)."""
    out: list[tuple[int, int, int]] = []
    for line in lines:
        words = line.words[2:]
        text = "/".join(words[:2]) if len(words) >= 2 and "." in words[1] else words[0]
        try:
            net = ipaddress.ip_interface(text).network if words else None
        except ValueError:
            continue
        if net is not None:
            first = int(net.network_address)
            out.append((net.version, first, first + net.num_addresses - 1))
    return out


def outbound(
    cfg: Config, chosen: Chosen, ctx: ReadContext, family: int
) -> list[tuple[Binding, str]]:
    """The ``out`` lists of the other interfaces a connection may leave by, and for each why
    it may not ("": it does: ``--to`` is in that interface's subnet and no other's)."""
    others = [
        b
        for b in cfg.bindings
        if b.direction == "out" and b.family == family and b.interface != chosen.interface
    ]
    if not others:
        return []
    to = _to(ctx)
    if to is not None and to[0] == family:
        behind = {
            name
            for name, lines in cfg.addresses.items()
            if name != chosen.interface
            and any(f == family and a <= to[1] <= b for f, a, b in _subnets(lines))
        }
        if len(behind) == 1:
            return [(b, "") for b in others if b.interface in behind]
        if behind:
            others = [b for b in others if b.interface in behind]
    return [
        (b, f"the server may not be behind interface {b.interface} (give --to)") for b in others
    ]


def carries(service: Service | None, traffic: ir.Traffic) -> bool:
    """Whether the traffic holds for some probe of the service (what makes a permit's
    sources part of its list's scope)."""
    return any(traffic_match(traffic, p)[0] for p in probes(service, []))


def _objects(
    cfg: Config, reader: EntryReader, ctx: ReadContext
) -> Callable[[], tuple[list[Entry], list[str]]]:
    """Each network object group, and each access list (the sources of its permit entries
    that let in some of the service), as a scope."""

    def make() -> tuple[list[Entry], list[str]]:
        entries: list[Entry] = []
        names: dict[str, None] = {}
        for name, group in cfg.groups.items():
            if group.kind != "network":
                continue
            names[name] = None
            for fam in (4, 6):
                try:
                    found = reader.network(name, fam, group.line)
                except ReaderError:
                    continue  # an undefined nested group: the group is shown empty
                for (a, b), line in found:
                    entries.append(Entry(fam, a, b, Origin(ctx.name, line), name))
        service = ctx.service
        for acl in cfg.acls.values():
            names[acl.name] = None
            for entry in acl.ordered():
                try:
                    ace = reader.ace(acl, entry)
                except (Unreadable, AddressError, ReaderError):
                    continue
                if ace.action != "permit" or ace.never or ace.source.any:
                    continue
                if not any(carries(service, t) for t in ace.traffics):
                    continue
                origin = Origin(ctx.name, entry.line.number)
                for a, b in ace.source.intervals:
                    entries.append(Entry(acl.family, a, b, origin, acl.name))
        return entries, list(names)

    return make


def read_config(data: bytes, ctx: ReadContext) -> Config:
    return parse_config(decode_text(data, ctx), ctx)


def parse(data: bytes, ctx: ReadContext) -> RangeSet:
    """What :class:`IosReader` reads from a configuration."""
    shown = _SHOW.search(data[:_HEAD])
    if shown is not None:
        raise ReaderError(
            "this looks like the output of show access-lists (or show object-group), not"
            " a configuration",
            source=ctx.name,
            line=data[: shown.start()].count(b"\n") + 1,
            hint=SHOW_HINT,
        )
    cfg = read_config(data, ctx)
    chosen = choose(cfg, ctx)
    reader = EntryReader(cfg, lambda n: Origin(ctx.name, n), ctx.name)
    to = _to(ctx)
    verdicts = []
    unsupported = list(cfg.unsupported)
    for fam in (4, 6):
        acl = chosen.acls.get(fam)
        if acl is None:
            continue
        refs: dict[int, RuleRef] = {}
        lowered = lower(reader, acl, to, refs)
        unsupported += lowered.unsupported
        end_ref = RuleRef(
            Origin(ctx.name, acl.line.number), f"{acl_label(acl)}: implicit deny at the end"
        )
        end: str = "drop"
        if not acl.entries:
            end_ref = RuleRef(
                end_ref.origin,
                f"{acl_label(acl)}: no entries",
                "an access list without entries: IOS filters nothing with it, NX-OS and"
                " IOS XR deny everything",
            )
            end = "conditional"
        outs = outbound(cfg, chosen, ctx, fam)
        if not outs:
            verdicts.append(
                engine.first_match(lowered.rules, fam, end, end_ref, ctx.service)  # type: ignore[arg-type]
            )
            continue
        # a connection then leaves by the server's interface: its out list filters too
        chains = {"in": ir.Chain("in", tuple(lowered.rules), end_ref, policy=end)}  # type: ignore[arg-type]
        gates = [ir.Gate("in", main=True)]
        for b, why in outs:
            out_acl = cfg.acls.get((fam, b.acl))
            key = f"out:{b.interface}"
            if out_acl is None:
                # (an interface's undefined list passes everything on IOS; on other
                # platforms it may not: not known, never allowed)
                ref = RuleRef(
                    Origin(ctx.name, b.line.number),
                    f"interface {b.interface}: {b.line.text.strip()}",
                    f"access list {b.acl} is not defined in this file",
                )
                chains[key] = ir.Chain(key, (), ref, policy="conditional")
                gates.append(ir.Gate(key, only_some=why))
                continue
            low = lower(reader, out_acl, to, {})
            unsupported += low.unsupported
            ref = RuleRef(
                Origin(ctx.name, out_acl.line.number),
                f"{acl_label(out_acl)}: implicit deny at the end (out on {b.interface})",
            )
            chains[key] = ir.Chain(key, tuple(low.rules), ref, policy="drop")
            gates.append(ir.Gate(key, only_some=why))
        verdicts.append(engine.evaluate(ir.Ruleset(fam, chains, tuple(gates)), ctx.service))
    info = SourceInfo.for_bytes(ctx.name, ctx.role, FORMAT, data, ctx.now)
    info = replace(info, detail=chosen.label)
    result = FirewallResult(
        info,
        verdicts,
        list(chosen.findings),
        unsupported,
        _objects(cfg, reader, ctx),
    )
    return verdicts_rangeset(result)
