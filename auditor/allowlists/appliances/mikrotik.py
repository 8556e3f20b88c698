"""``mikrotik`` (alias ``routeros``): a MikroTik RouterOS ``/export`` (plain, ``verbose`` or
``terse``; the syntax is read by :mod:`auditor.allowlists.appliances.mikrotik_export`),
evaluated for a new connection to the service, per family (``/ip`` IPv4, ``/ipv6`` IPv6).

RouterOS firewall semantics (MikroTik RouterOS manual, "Firewall > Filter",
https://help.mikrotik.com/docs/display/ROS/Filter, and "Building Your First Firewall",
https://help.mikrotik.com/docs/display/ROS/Building+Your+First+Firewall; "Packet Flow in
RouterOS", https://help.mikrotik.com/docs/display/ROS/Packet+Flow+in+RouterOS):

- ``/ip firewall filter`` rules are evaluated in the order listed, per chain; the first rule
  whose matchers all hold and whose action is ``accept``, ``drop``, ``reject``, ``tarpit``
  decides; ``jump jump-target=X`` goes through chain X, ``return`` goes back; ``passthrough``,
  ``log`` and ``add-src-to-address-list``/``add-dst-to-address-list`` go on to the next rule;
  ``fasttrack-connection`` is conditional (packets that are not fast-tracked go on).
- RouterOS has no implicit drop: a packet no rule of a base chain (``input``, ``forward``)
  decides is accepted; configurations end their chains with a ``drop`` rule for that.
- ``--chain`` picks the base chain: ``input`` (the default; ``INPUT``) for a service on the
  router, ``forward`` (``FORWARD``) for one behind it; ``input:ether1`` names the interface
  the connections arrive on, which settles ``in-interface``/``in-interface-list`` (their
  members from ``/interface list member``); without it those rules are conditional.
- Before the filter: ``/ip firewall raw`` chain ``prerouting`` (a drop there is final), and
  ``/ip firewall nat`` chain ``dstnat`` (a ``dst-nat``, ``netmap``, ``redirect`` or ``same``
  rule may send the connection elsewhere: conditional).
- Matchers: ``src-address`` (address, CIDR, ``a-b`` range, ``!`` negation),
  ``src-address-list`` (``!``), resolved from ``/ip firewall address-list`` (``disabled=yes``
  entries skipped; entries with ``timeout=`` and DNS names conditional; a list that other
  items fill at run time, such as ``add-src-to-address-list`` rules or DHCP ``address-lists=``,
  is conditional beyond its static entries; a list without static entries is conditional),
  ``dst-address``/``dst-address-list`` against ``--to`` (conditional without it),
  ``protocol`` (``!``), ``dst-port``, ``src-port`` (the client's port), ``port``,
  ``connection-state`` (a new connection is ``new``), ``connection-nat-state``,
  ``src-address-type``/``dst-address-type``. Any other matcher makes its rule conditional,
  naming it. ``disabled=yes`` rules are skipped.
- The address lists are the scopes (``--scope LIST``): their static entries.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from auditor import ipspace
from auditor.allowlists.appliances.mikrotik_export import Export, Item, parse_export
from auditor.allowlists.appliances.sniffing import sniff_mikrotik as sniff_mikrotik
from auditor.allowlists.base import ReadContext, ReaderError, decode_text
from auditor.allowlists.firewall import FirewallResult, verdicts_rangeset
from auditor.errors import AddressError
from auditor.model import (
    Entry,
    Finding,
    Origin,
    RangeSet,
    RuleRef,
    Severity,
    SourceInfo,
    Verdicts,
)
from auditor.ruleset import engine, ir
from auditor.ruleset.sweep import complement, full, intersect, merge, minus, union

Interval = tuple[int, int]
PREFIX = {4: "ip", 6: "ipv6"}
BASE = {"filter": ("input", "forward", "output"), "raw": ("prerouting", "output")}
BASE["nat"] = ("srcnat", "dstnat")
CHAINS = {"input": "input", "forward": "forward", "INPUT": "input", "FORWARD": "forward"}
NEW = (("ct_state", "new"),)
KNOWN = frozenset(
    {"chain", "action", "jump-target", "comment", "log", "log-prefix", "disabled", "dynamic",
     "address-list", "address-list-timeout", "reject-with", "to-addresses", "to-ports",
     "hw-offload", "passthrough"}
)  # fmt: skip
"""Keys that say nothing about which connections a rule matches."""
PROTOCOLS = {"6": "tcp", "17": "udp", "1": "icmp", "58": "icmpv6", "132": "sctp", "33": "dccp"}
_HOST = re.compile(r"[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?(\.[A-Za-z0-9_-]+)*\.?")


@dataclass(frozen=True)
class Where:
    chain: str
    interface: str | None


def where(ctx: ReadContext) -> Where:
    """The base chain and interface ``--chain`` names."""
    given = ctx.chain or "INPUT"
    name, _, iface = given.partition(":")
    chain = CHAINS.get(name)
    if chain is None or (_ and not iface):
        raise ReaderError(
            f"--chain {given!r} is not a chain this reader evaluates",
            source=ctx.name,
            hint="use --chain input (a service on the router), forward (a server behind it),"
            " or input:INTERFACE / forward:INTERFACE for the interface connections arrive on",
        )
    return Where(chain, iface or None)


@dataclass
class AddressList:
    sure: list[Interval] = field(default_factory=list)
    maybe: list[Interval] = field(default_factory=list)
    whys: list[str] = field(default_factory=list)
    entries: list[Entry] = field(default_factory=list)


@dataclass
class _Family:
    """What one family's lowering needs and finds."""

    family: int
    name: str
    export: Export
    where: Where
    ctx: ReadContext
    lists: dict[str, AddressList]
    unsupported: list[str]
    findings: list[Finding]
    dstnat: list[Interval] | None = None
    """The sources a dst-nat rule may rewrite (None until the nat rules are lowered)."""

    @property
    def bits(self) -> int:
        return ipspace.BITS[self.family]

    def error(self, item: Item, message: str, hint: str | None = None) -> ReaderError:
        return ReaderError(message, source=self.name, line=item.line, hint=hint)

    def address(self, text: str, item: Item) -> Interval:
        try:
            parsed = ipspace.parse(text)
        except AddressError as e:
            hint = "write an address, a CIDR or a range a-b"
            raise self.error(item, f"{text!r}: {e}", hint) from None
        if parsed.family != self.family:
            raise self.error(
                item, f"{text} is an IPv{parsed.family} address in /{PREFIX[self.family]}"
            )
        return parsed.first, parsed.last

    def addresses(self, text: str, item: Item) -> list[Interval]:
        return merge([self.address(t, item) for t in text.split(",") if t])


def address_lists(fam: _Family) -> dict[str, AddressList]:
    menu = (PREFIX[fam.family], "firewall", "address-list")
    lists: dict[str, AddressList] = {}
    for item in fam.export.items.get(menu, []):
        name = item.get("list")
        address = item.get("address")
        if not name or not address:
            raise fam.error(item, "an address-list entry without list= or address=")
        one = lists.setdefault(name, AddressList())
        if item.disabled:
            continue
        try:
            parsed = ipspace.parse(address)
        except AddressError:
            if not _HOST.fullmatch(address):
                message = f"address {address!r} is neither an address nor a name"
                raise fam.error(item, message) from None
            one.maybe = full(fam.bits)
            one.whys.append(f"{fam.name}:{item.line}: {address} is resolved by DNS at run time")
            continue
        if parsed.family != fam.family:
            raise fam.error(item, f"{address} is IPv{parsed.family} in /{menu[0]} address-list")
        iv = (parsed.first, parsed.last)
        if item.get("timeout"):
            one.maybe = union(one.maybe, [iv])
            one.whys.append(f"{fam.name}:{item.line}: {address} has a timeout (dynamic)")
            continue
        one.sure = union(one.sure, [iv])
        origin = Origin(fam.name, item.line, item.text)
        one.entries.append(Entry(fam.family, iv[0], iv[1], origin, name))
    for rows in (fam.export.items.get((PREFIX[fam.family], "firewall", t), []) for t in BASE):
        for item in rows:
            if item.get("action").startswith("add-") and item.get("address-list"):
                fill = lists.setdefault(item.get("address-list"), AddressList())
                fill.maybe = full(fam.bits)
                fill.whys.append(f"{fam.name}:{item.line} adds addresses at run time")
    for name, line, _ in fam.export.fills:
        fill = lists.setdefault(name, AddressList())
        fill.maybe = full(fam.bits)
        fill.whys.append(f"{fam.name}:{line} fills it at run time")
    return lists


def _in_list(fam: _Family, name: str, item: Item) -> tuple[list[Interval], list[Interval], str]:
    """The addresses of a list: surely, maybe, and why maybe."""
    found = fam.lists.get(name)
    if found is None or (not found.sure and not found.maybe):
        return [], full(fam.bits), f"address-list {name} has no static entry (filled at run time?)"
    maybe = minus(found.maybe, found.sure)
    return found.sure, maybe, f"address-list {name}: " + "; ".join(dict.fromkeys(found.whys))


def _negate(
    fam: _Family, sure: list[Interval], maybe: list[Interval]
) -> tuple[list[Interval], list[Interval]]:
    return complement(union(sure, maybe), fam.bits), maybe


@dataclass
class _Match:
    """A rule's matchers as they stand for the probe's connection."""

    sure: list[Interval]
    maybe: list[Interval]
    maybe_whys: list[str] = field(default_factory=list)
    whys: list[str] = field(default_factory=list)
    protocols: frozenset[str] | None = None
    proto_negated: bool = False
    dports: list[ir.Ports] = field(default_factory=list)
    sports: list[ir.Ports] = field(default_factory=list)
    either: list[ir.Ports] = field(default_factory=list)
    when: list[ir.When] = field(default_factory=list)

    def narrow(self, sure: list[Interval], maybe: list[Interval], why: str) -> None:
        """Intersect the sources with (sure, maybe)."""
        every = union(self.sure, self.maybe)
        mine = union(sure, maybe)
        self.sure = intersect(self.sure, sure)
        self.maybe = minus(intersect(every, mine), self.sure)
        if maybe:
            self.maybe_whys.append(why)


def _ports(text: str, fam: _Family, item: Item) -> ir.Ports:
    negated = text.startswith("!")
    ranges = []
    for part in text.lstrip("!").split(","):
        m = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
        if m is None or int(m.group(2) or m.group(1)) > 65535:
            raise fam.error(item, f"cannot read the port {part!r}", "ports are 25, 25,587 or 1-100")
        ranges.append((int(m.group(1)), int(m.group(2) or m.group(1))))
    return ir.Ports(tuple(merge(ranges)), negated)


def _destination(fam: _Family, sure: list[Interval], maybe: list[Interval], key: str) -> str | None:
    """None: the rule never matches a connection to --to; else why it is conditional ("")."""
    if fam.ctx.to is None:
        return f"{key} (give --to, the address the service listens on)"
    try:
        f, value, _ = ipspace.parse_address(fam.ctx.to)
    except AddressError as e:
        raise ReaderError(f"--to {fam.ctx.to!r}: {e}", source=fam.name) from None
    if f != fam.family:
        return f"{key} (--to gives an IPv{f} address)"
    if any(a <= value <= b for a, b in sure):
        return ""
    if any(a <= value <= b for a, b in maybe):
        return key
    return None


def _interface(fam: _Family, key: str, value: str) -> bool | None:
    """Whether an interface matcher holds for --chain's interface (None: not known)."""
    negated = value.startswith("!")
    name = value.lstrip("!")
    iface = fam.where.interface
    if iface is None:
        return None
    if key.endswith("-list"):
        if name == "all":
            got: bool | None = True
        elif name == "none":
            got = False
        elif name in ("dynamic", "static"):
            return None
        else:
            lists = fam.export.items.get(("interface", "list"), [])
            if any(i.get("name") == name and (i.get("include") or i.get("exclude")) for i in lists):
                return None
            members = fam.export.items.get(("interface", "list", "member"), [])
            got = any(
                m.get("list") == name and m.get("interface") == iface and not m.disabled
                for m in members
            )
    else:
        if name.startswith("all-"):
            return None
        got = name == iface
    return got != negated


def _matchers(fam: _Family, item: Item, table: str) -> _Match | None:
    """The rule's matchers; None when it never matches a new connection to the service."""
    m = _Match(full(fam.bits), [])
    for key, value in item.attrs.items():
        if key in KNOWN or value == "":
            continue
        negated = value.startswith("!")
        bare = value.lstrip("!")
        shown = f"{key}={value}"
        if key in ("src-address", "src-address-list"):
            maybe: list[Interval]
            if key == "src-address":
                sure, maybe, why = fam.addresses(bare, item), [], ""
            else:
                sure, maybe, why = _in_list(fam, bare, item)
            if negated:
                sure, maybe = _negate(fam, sure, maybe)
            m.narrow(sure, maybe, why)
        elif key in ("dst-address", "dst-address-list"):
            if key == "dst-address":
                sure, maybe = fam.addresses(bare, item), []
            else:
                sure, maybe, _ = _in_list(fam, bare, item)
            if negated:
                sure, maybe = _negate(fam, sure, maybe)
            cond = _destination(fam, sure, maybe, shown)
            if cond is None:
                return None
            if cond:
                m.whys.append(cond)
        elif key == "protocol":
            m.protocols = frozenset({PROTOCOLS.get(bare, bare)})
            m.proto_negated = negated
        elif key in ("dst-port", "src-port", "port"):
            ports = _ports(value, fam, item)
            {"dst-port": m.dports, "src-port": m.sports, "port": m.either}[key].append(ports)
        elif key == "connection-state":
            states = frozenset(bare.split(","))
            m.when.append(ir.When("ct_state", states, negated, "connection-state"))
        elif key == "connection-nat-state" and bare == "dstnat" and fam.dstnat is not None:
            # rewritten: the sources a dst-nat rule may match (as the nat rules show)
            nat = fam.dstnat
            sure, maybe = ([], nat) if not negated else (complement(nat, fam.bits), nat)
            m.narrow(sure, maybe, f"{shown}: whether a dst-nat rule rewrote the connection")
        elif key in ("in-interface", "in-interface-list"):
            got = _interface(fam, key, value)
            if got is False:
                return None
            if got is None:
                m.whys.append(f"{shown} (give --chain {fam.where.chain}:INTERFACE)")
        elif key == "src-address-type" and bare in ("unicast", "local", "broadcast", "multicast"):
            if (bare == "unicast") == negated:
                return None  # a client's address is a unicast one, not the router's own
        elif key == "dst-address-type" and bare in ("unicast", "local"):
            holds = bare == "unicast" or fam.where.chain == "input"
            if holds == negated:
                return None
        else:
            m.whys.append(f"{shown} (not evaluated)")
            fam.unsupported.append(f"{fam.name}:{item.line}: {shown} makes the rule conditional")
    return m


def _action(fam: _Family, item: Item, table: str) -> ir.Action | None:
    """The rule's action in the ruleset form; None for one that goes on to the next rule."""
    action = item.get("action", "accept")
    if action == "accept":
        return ir.ACCEPT
    if action in ("drop", "reject", "tarpit"):
        return ir.DROP
    if action == "return":
        return ir.RETURN
    if action == "jump":
        target = item.get("jump-target")
        if not target:
            raise fam.error(item, "action=jump without jump-target=")
        return ir.Action("jump", f"{table}:{target}")
    if action in ("passthrough", "log") or action.startswith("add-"):
        return None
    if action == "fasttrack-connection":
        return ir.Action("accept", unsure="fasttrack-connection: packets not fast-tracked go on")
    if table == "raw" and action == "notrack":
        return ir.Action("opaque", unsure="notrack: the filter sees the connection untracked")
    if table == "nat":
        if action in ("dst-nat", "netmap", "redirect", "same"):
            return ir.Action("opaque", unsure=f"action={action} may send it elsewhere", bypass=True)
        return None  # src-nat, masquerade: not for a connection coming in
    fam.unsupported.append(f"{fam.name}:{item.line}: action={action} is not read")
    return ir.Action("opaque", unsure=f"action={action} is not read")


def _rules(fam: _Family, item: Item, table: str) -> list[ir.Rule]:
    action = _action(fam, item, table)
    if action is None:
        return []
    m = _matchers(fam, item, table)
    if m is None:
        return []
    ref = RuleRef(Origin(fam.name, item.line), item.text)
    traffic = ir.Traffic(
        m.protocols, m.proto_negated, tuple(m.dports), tuple(m.sports), tuple(m.either)
    )
    whys = tuple(m.whys)
    when = tuple(m.when)
    out = []
    if m.sure:
        out.append(ir.Rule(ref, action, tuple(m.sure), (), traffic, when, whys))
    if m.maybe:
        why = "; ".join(dict.fromkeys(w for w in m.maybe_whys if w)) or "address-list"
        out.append(ir.Rule(ref, action, (), tuple(m.maybe), traffic, when, (*whys, why)))
    return out


def ruleset(fam: _Family) -> ir.Ruleset:
    """The family's raw, nat and filter chains, and the gates of --chain's path."""
    chains: dict[str, ir.Chain] = {}
    rules: dict[str, list[ir.Rule]] = {}
    firsts: dict[str, int] = {}
    jumps: list[tuple[str, Item]] = []
    for table in ("raw", "nat", "filter"):
        if table == "filter":
            nat = [
                r for k, v in rules.items() if k.startswith("nat:") for r in v if r.action.bypass
            ]
            fam.dstnat = merge(
                [iv for r in nat for iv in (*(r.sources or full(fam.bits)), *r.maybe)]
            )
        menu = (PREFIX[fam.family], "firewall", table)
        for item in fam.export.items.get(menu, []):
            chain = item.get("chain")
            if not chain:
                raise fam.error(item, "a rule without chain=", "every rule names its chain")
            key = f"{table}:{chain}"
            firsts.setdefault(key, item.line)
            got = rules.setdefault(key, [])
            if item.disabled:
                continue
            if item.get("action") == "jump":
                jumps.append((f"{table}:{item.get('jump-target')}", item))
            got += _rules(fam, item, table)
    for target, item in jumps:
        if target not in rules:
            rules[target] = []
            fam.findings.append(
                Finding(
                    "empty-chain",
                    Severity.WARNING,
                    f"jump-target {target.partition(':')[2]} has no rules: the jump returns",
                    Origin(fam.name, item.line, item.text),
                )
            )
    for key, mine in rules.items():
        table, _, chain = key.partition(":")
        base = chain in BASE[table]
        label = f"/{PREFIX[fam.family]} firewall {table}"
        end = RuleRef(
            Origin(fam.name, firsts.get(key)),
            f"{label} chain={chain}: no rule decides"
            + ("; RouterOS accepts (no implicit drop)" if base else "; back to the calling chain"),
        )
        chains[key] = ir.Chain(
            key, tuple(mine), end, "accept" if base else None, f"{label} {chain}"
        )
    main = f"filter:{fam.where.chain}"
    if main not in chains:
        label = f"/{PREFIX[fam.family]} firewall filter"
        line = fam.export.menus.get((PREFIX[fam.family], "firewall", "filter"))
        end = RuleRef(
            Origin(fam.name, line),
            f"{label}: no rule in chain {fam.where.chain}; RouterOS accepts (no implicit drop)",
        )
        chains[main] = ir.Chain(main, (), end, "accept")
    gates = []
    if "raw:prerouting" in chains:
        gates.append(ir.Gate("raw:prerouting"))
    if "nat:dstnat" in chains:
        gates.append(ir.Gate("nat:dstnat", NEW))
    gates.append(ir.Gate(main, NEW, main=True))
    return ir.Ruleset(fam.family, chains, tuple(gates))


def _covered(export: Export, family: int) -> bool | None:
    """True: the family's filter is in the export; None: the export shows the family's other
    menus but no filter (none is set: RouterOS accepts everything); False: it shows neither."""
    prefix = PREFIX[family]
    if (prefix, "firewall", "filter") in export.menus:
        return True
    return None if any(m[:1] == (prefix,) for m in export.menus) else False


def read_export(data: bytes, ctx: ReadContext) -> tuple[Export, list[_Family]]:
    """The export and, per family it covers, what its lowering needs."""
    export = parse_export(decode_text(data, ctx), ctx.name)
    return export, families(export, ctx)


def families(export: Export, ctx: ReadContext) -> list[_Family]:
    spot = where(ctx)
    fams = []
    findings: list[Finding] = []
    for family in (4, 6):
        covered = _covered(export, family)
        prefix = PREFIX[family]
        if covered is False:
            findings.append(
                Finding(
                    "family-not-covered",
                    Severity.INFO,
                    f"the export has no /{prefix} menu: IPv{family} is not covered (give the"
                    " whole /export)",
                    Origin(ctx.name),
                )
            )
            continue
        if covered is None:
            findings.append(
                Finding(
                    "no-filter",
                    Severity.WARNING,
                    f"no /{prefix} firewall filter rule: RouterOS accepts every IPv{family}"
                    " connection",
                    Origin(ctx.name),
                )
            )
        fam = _Family(family, ctx.name, export, spot, ctx, {}, [], findings)
        fam.lists = address_lists(fam)
        fams.append(fam)
    if not fams:
        raise ReaderError(
            "no /ip or /ipv6 firewall menu in the export",
            source=ctx.name,
            hint="give the output of /export (or /ip firewall export and /ipv6 firewall export)",
        )
    return fams


def verdicts_of(export: Export, ctx: ReadContext) -> dict[int, Verdicts]:
    """The verdicts of an export already parsed, per family (rule placement tries changes)."""
    return {f.family: _evaluate(f, ctx) for f in families(export, ctx)}


def _evaluate(fam: _Family, ctx: ReadContext) -> Verdicts:
    try:
        return engine.evaluate(ruleset(fam), ctx.service)
    except ir.RulesetError as e:  # jumps that come back to a chain they left
        line = e.ref.origin.line if e.ref is not None else None
        raise ReaderError(
            e.message,
            source=ctx.name,
            line=line,
            hint="RouterOS never gets out of such a loop: remove or change one of the jumps",
        ) from None


def _objects(fams: Sequence[_Family]) -> Callable[[], tuple[list[Entry], list[str]]]:
    def make() -> tuple[list[Entry], list[str]]:
        entries = [e for fam in fams for one in fam.lists.values() for e in one.entries]
        names = dict.fromkeys(n for fam in fams for n in fam.lists)
        return entries, list(names)

    return make


def evaluate_export(data: bytes, ctx: ReadContext, fmt: str) -> RangeSet:
    _, fams = read_export(data, ctx)
    verdicts = [_evaluate(fam, ctx) for fam in fams]
    info = SourceInfo.for_bytes(ctx.name, ctx.role, fmt, data, ctx.now)
    findings = fams[0].findings
    unsupported = list(dict.fromkeys(u for fam in fams for u in fam.unsupported))
    result = FirewallResult(info, verdicts, findings, unsupported, _objects(fams))
    return verdicts_rangeset(result)
