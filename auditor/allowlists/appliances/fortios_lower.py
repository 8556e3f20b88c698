"""FortiOS objects and firewall policies of one VDOM, lowered to the ruleset form.

Semantics, from Fortinet's CLI reference ("config firewall policy", "config firewall
address", "config firewall addrgrp", "config firewall service custom", FortiOS 6.0-7.6,
docs.fortinet.com/document/fortigate/7.6.1/cli-reference/333889629) and the administration
guide ("Policy views and policy lookup": policies are matched top down, in the order of the
list, not by id; traffic no policy matches meets the implicit deny, policy 0):

- a policy matches a connection when its ``srcintf`` and ``dstintf`` hold the interfaces (or
  ``any``, or a zone holding them), its ``srcaddr`` (``srcaddr6``) holds the source,
  ``dstaddr`` (``dstaddr6``) the destination (``-negate enable``: does not hold), one of its
  services the protocol and ports, and its schedule, users and groups apply;
- ``action`` is ``accept`` or ``deny`` (``deny`` when not set), ``status disable`` skips it.

What the configuration does not settle is conditional, naming the construct: addresses of
type fqdn, geography, dynamic, wildcard, interface-subnet, mac (and their IPv6 kin); a schedule
other than ``always``; users, groups, FSSO groups; internet services; virtual IPs (NAT) as
destinations; ``service-negate``; other actions (``ipsec``); interfaces when the pair is not
chosen (``--chain``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from auditor import ipspace
from auditor.allowlists.appliances.fortios_tree import Entry, Node, Table
from auditor.allowlists.base import ReadContext, ReaderError
from auditor.errors import AddressError
from auditor.model import Origin, RuleRef
from auditor.ruleset import ir
from auditor.ruleset.sweep import complement, full, merge, minus, union

Interval = tuple[int, int]

ADDRESS = {4: "firewall address", 6: "firewall address6"}
GROUP = {4: "firewall addrgrp", 6: "firewall addrgrp6"}
_BUILTIN_ADDRESSES = ("all", "none")
_ZERO = {4: "0.0.0.0", 6: "::"}  # noqa: S104 (an address, not a bind)
_OPEN_TYPES = {
    # what FortiOS fills in at run time, or leaves to another table
    "fqdn": "a DNS name",
    "geography": "a country",
    "dynamic": "a dynamic (SDN, FSSO, EMS) object",
    "wildcard": "a wildcard (non-contiguous) mask",
    "wildcard-fqdn": "a wildcard DNS name",
    "interface-subnet": "an interface's subnet",
    "mac": "MAC addresses",
    "template": "an IPv6 template",
    "route-tag": "a route tag",
}


@dataclass(frozen=True)
class Addr:
    """Addresses a name holds: surely, maybe (depending on what the configuration does not
    show, for ``whys``)."""

    sure: tuple[Interval, ...] = ()
    maybe: tuple[Interval, ...] = ()
    whys: tuple[str, ...] = ()


def joined(parts: Sequence[Addr]) -> Addr:
    sure: list[Interval] = []
    maybe: list[Interval] = []
    whys: list[str] = []
    for p in parts:
        sure = union(sure, p.sure)
        maybe = union(maybe, p.maybe)
        whys += p.whys
    return Addr(tuple(sure), tuple(minus(maybe, sure)), tuple(dict.fromkeys(whys)))


def negated(a: Addr, bits: int) -> Addr:
    return Addr(tuple(complement(union(a.sure, a.maybe), bits)), a.maybe, a.whys)


def excluded(members: Addr, out: Addr) -> Addr:
    sure = minus(members.sure, union(out.sure, out.maybe))
    maybe = minus(minus(union(members.sure, members.maybe), out.sure), sure)
    whys = members.whys + out.whys if maybe else ()
    return Addr(tuple(sure), tuple(maybe), tuple(dict.fromkeys(whys)))


def _error(ctx: ReadContext, line: int, message: str, hint: str | None = None) -> ReaderError:
    return ReaderError(message, source=ctx.name, line=line, hint=hint)


def _ip(ctx: ReadContext, text: str, family: int, line: int) -> int:
    try:
        fam, value, _ = ipspace.parse_address(text)
    except AddressError as e:
        raise _error(ctx, line, str(e)) from None
    if fam != family:
        raise _error(ctx, line, f"{text!r} is not an IPv{family} address")
    return value


def _subnet(ctx: ReadContext, values: tuple[str, ...], line: int) -> Interval:
    """``set subnet 192.0.2.0 255.255.255.0`` or ``192.0.2.0/24``."""
    text = "/".join(values) if len(values) == 2 else " ".join(values)
    if len(values) == 2:
        mask = _ip(ctx, values[1], 4, line)
        inverted = ~mask & ipspace.MAX[4]
        if inverted & (inverted + 1):
            raise _error(
                ctx,
                line,
                f"the mask {values[1]} is not contiguous",
                "a subnet's mask is contiguous (255.255.255.0); a wildcard mask is an address"
                " of type wildcard",
            )
        text = f"{values[0]}/{32 - inverted.bit_length()}"
    try:
        parsed = ipspace.parse(text, ctx.host_bits)
    except AddressError as e:
        raise _error(ctx, line, str(e), "write `set subnet ADDRESS MASK`") from None
    if parsed.family != 4:
        raise _error(ctx, line, f"{text!r} is not an IPv4 subnet")
    return parsed.first, parsed.last


class Addresses:
    """The address objects and groups of one family in one VDOM, resolved when named."""

    def __init__(self, node: Node, family: int, ctx: ReadContext, vips: Table | None) -> None:
        self.family = family
        self.ctx = ctx
        self.bits = ipspace.BITS[family]
        self.objects = node.table(ADDRESS[family]) or Table(line=0)
        self.groups = node.table(GROUP[family]) or Table(line=0)
        self.vips = vips
        self.memo: dict[str, Addr] = {}
        self.stack: list[str] = []

    def defined(self, name: str) -> Entry | None:
        return self.objects.entries.get(name) or self.groups.entries.get(name)

    def names(self, names: Sequence[str], line: int) -> Addr:
        return joined([self.name(n, line) for n in names])

    def name(self, name: str, line: int) -> Addr:
        got = self.memo.get(name)
        if got is not None:
            return got
        if name in self.stack:
            loop = " -> ".join([*self.stack[self.stack.index(name) :], name])
            entry = self.groups.entries[name]
            raise _error(
                self.ctx,
                entry.line,
                f"address groups contain each other: {loop}",
                "FortiOS refuses a group that holds itself; remove one of the members",
            )
        if name in self.objects.entries:
            got = self.address(self.objects.entries[name])
        elif name in self.groups.entries:
            self.stack.append(name)
            got = self.group(self.groups.entries[name])
            self.stack.pop()
        elif self.vips is not None and name in self.vips.entries:
            why = f"virtual IP {name} (destination NAT): its mapped addresses are not evaluated"
            got = Addr((), tuple(full(self.bits)), (why,))
        elif name in _BUILTIN_ADDRESSES:
            got = Addr(tuple(full(self.bits)) if name == "all" else ())
        else:
            v6 = "6" if self.family == 6 else ""
            raise _error(
                self.ctx,
                line,
                f"address {name!r} is not defined (config {ADDRESS[self.family]} or addrgrp{v6})",
                "define it, or correct the name",
            )
        self.memo[name] = got
        return got

    def address(self, e: Entry) -> Addr:
        kind = e.word("type", "ipmask" if self.family == 4 else "ipprefix")
        if kind in ("ipmask", "ipprefix"):
            if self.family == 4:
                values = e.get("subnet") or (_ZERO[4], _ZERO[4])
                return Addr((_subnet(self.ctx, values, e.at("subnet")),))
            text = e.word("ip6", "::/0")
            try:
                parsed = ipspace.parse(text, self.ctx.host_bits)
            except AddressError as err:
                raise _error(self.ctx, e.at("ip6"), str(err)) from None
            if parsed.family != 6:
                raise _error(self.ctx, e.at("ip6"), f"{text!r} is not an IPv6 prefix")
            return Addr(((parsed.first, parsed.last),))
        if kind == "iprange":
            zero = _ZERO[self.family]
            lo = _ip(self.ctx, e.word("start-ip", zero), self.family, e.at("start-ip"))
            hi = _ip(self.ctx, e.word("end-ip", zero), self.family, e.at("end-ip"))
            if lo > hi:
                raise _error(
                    self.ctx,
                    e.at("end-ip"),
                    f"address {e.name}: end-ip is below start-ip",
                    "FortiOS refuses such a range; correct it",
                )
            return Addr(((lo, hi),))
        what = _OPEN_TYPES.get(kind, f"type {kind}")
        why = f"address {e.name} is {what} (type {kind}): its addresses are not in the file"
        return Addr((), tuple(full(self.bits)), (why,))

    def group(self, e: Entry) -> Addr:
        members = self.names(e.get("member"), e.at("member"))
        if e.word("exclude") == "enable":
            out = self.names(e.get("exclude-member"), e.at("exclude-member"))
            return excluded(members, out)
        return members

    def leaves(self, name: str) -> list[tuple[Interval, Entry]]:
        """The address objects a name holds, each interval with the object it comes from
        (clipped to what the group holds, when it excludes members)."""
        out: list[tuple[Interval, Entry]] = []
        seen: set[str] = set()

        def walk(n: str) -> None:
            if n in seen:
                return
            seen.add(n)
            if n in self.objects.entries:
                e = self.objects.entries[n]
                out.extend((iv, e) for iv in self.memo.get(n, self.address(e)).sure)
            elif n in self.groups.entries:
                for m in self.groups.entries[n].get("member"):
                    walk(m)

        walk(name)
        held = self.name(name, 0).sure
        if self.groups.entries.get(name) and self.groups.entries[name].word("exclude") == "enable":
            clipped: list[tuple[Interval, Entry]] = []
            for iv, e in out:
                clipped += [(piece, e) for piece in _clip(iv, held)]
            return clipped
        return out


def _clip(iv: Interval, held: Sequence[Interval]) -> list[Interval]:
    return [(max(a, iv[0]), min(b, iv[1])) for a, b in held if a <= iv[1] and iv[0] <= b]


# --- services ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Alt:
    """One way a service matches: a protocol (None: every one), destination and source ports
    (None: every port), and what it depends on besides."""

    protocol: str | None
    dports: tuple[Interval, ...] | None = None
    sports: tuple[Interval, ...] | None = None
    why: str = ""


_ANY_PORT = ((1, 65535),)
# The services a FortiGate's factory configuration predefines, used when the file names one it
# does not list [FortiGate Administration Guide, "Firewall services: predefined services"
# table: ALL, ALL_TCP, ALL_UDP, SMTP 25, SMTPS 465, HTTP 80, HTTPS 443, SSH 22, DNS 53, IMAP
# 143, IMAPS 993, POP3 110, POP3S 995 (FortiOS 5.4 online help, "Services and TCP ports",
# help.fortinet.com/fos50hlp/54/Content/FortiOS/fortigate-firewall-52/Firewall%20Objects/
# Services%20and%20TCP%20ports.htm)].
PREDEFINED: dict[str, tuple[Alt, ...]] = {
    "ALL": (Alt(None),),
    "ALL_TCP": (Alt("tcp", _ANY_PORT),),
    "ALL_UDP": (Alt("udp", _ANY_PORT),),
    "SMTP": (Alt("tcp", ((25, 25),)),),
    "SMTPS": (Alt("tcp", ((465, 465),)),),
    "HTTP": (Alt("tcp", ((80, 80),)),),
    "HTTPS": (Alt("tcp", ((443, 443),)),),
    "SSH": (Alt("tcp", ((22, 22),)),),
    "DNS": (Alt("tcp", ((53, 53),)), Alt("udp", ((53, 53),))),
    "IMAP": (Alt("tcp", ((143, 143),)),),
    "IMAPS": (Alt("tcp", ((993, 993),)),),
    "POP3": (Alt("tcp", ((110, 110),)),),
    "POP3S": (Alt("tcp", ((995, 995),)),),
}
_PROTOCOL_NUMBERS = {1: "icmp", 6: "tcp", 17: "udp", 58: "ipv6-icmp", 132: "sctp"}


class Services:
    def __init__(self, node: Node, ctx: ReadContext) -> None:
        self.ctx = ctx
        self.custom = node.table("firewall service custom") or Table(line=0)
        self.groups = node.table("firewall service group") or Table(line=0)
        self.memo: dict[str, tuple[Alt, ...]] = {}
        self.stack: list[str] = []

    def names(self, names: Sequence[str], line: int) -> tuple[Alt, ...]:
        return tuple(dict.fromkeys(a for n in names for a in self.name(n, line)))

    def name(self, name: str, line: int) -> tuple[Alt, ...]:
        got = self.memo.get(name)
        if got is not None:
            return got
        if name in self.stack:
            loop = " -> ".join([*self.stack[self.stack.index(name) :], name])
            raise _error(
                self.ctx,
                self.groups.entries[name].line,
                f"service groups contain each other: {loop}",
                "remove one of the members",
            )
        if name in self.custom.entries:
            got = self.service(self.custom.entries[name])
        elif name in self.groups.entries:
            self.stack.append(name)
            e = self.groups.entries[name]
            got = self.names(e.get("member"), e.at("member"))
            self.stack.pop()
        elif name in PREDEFINED:
            got = PREDEFINED[name]
        else:
            raise _error(
                self.ctx,
                line,
                f"service {name!r} is not defined (config firewall service custom or group)",
                "define it, or correct the name",
            )
        self.memo[name] = got
        return got

    def service(self, e: Entry) -> tuple[Alt, ...]:
        protocol = e.word("protocol", "TCP/UDP/SCTP").upper()
        whys = []
        for key in ("iprange", "fqdn"):
            if e.get(key) and e.get(key) != (_ZERO[4],):
                whys.append(
                    f"service {e.name} is for the destinations {key} {' '.join(e.get(key))}"
                )
        why = "; ".join(whys)
        if protocol == "TCP/UDP/SCTP":
            out: list[Alt] = []
            for proto in ("tcp", "udp", "sctp"):
                key = f"{proto}-portrange"
                for item in e.get(key):
                    dports, sports = self.portrange(item, e.at(key))
                    out.append(Alt(proto, dports, sports, why))
            return tuple(out)
        if protocol == "IP":
            number = e.word("protocol-number", "0")
            if not number.isdigit() or int(number) > 255:
                raise _error(self.ctx, e.at("protocol-number"), f"bad protocol-number {number!r}")
            n = int(number)
            return (Alt(None if n == 0 else _PROTOCOL_NUMBERS.get(n, str(n)), why=why),)
        if protocol in ("ICMP", "ICMP6"):
            return (Alt("icmp" if protocol == "ICMP" else "ipv6-icmp", why=why),)
        # HTTP, FTP, CONNECT, SOCKS-*, ALL: services of the explicit web proxy
        return (Alt(None, why=f"service {e.name} is a web proxy service (protocol {protocol})"),)

    def portrange(
        self, item: str, line: int
    ) -> tuple[tuple[Interval, ...], tuple[Interval, ...] | None]:
        """``25``, ``25-26``, ``25:1024-65535`` (destination, then source ports)."""
        dst, colon, src = item.partition(":")
        dports = (self.ports(dst, item, line),)
        return dports, ((self.ports(src, item, line),) if colon else None)

    def ports(self, text: str, item: str, line: int) -> Interval:
        lo, dash, hi = text.partition("-")
        if not lo.isdigit() or (dash and not hi.isdigit()):
            raise _error(
                self.ctx,
                line,
                f"cannot read the port range {item!r}",
                "write PORT, LOW-HIGH, or DST:SRC (25, 25-26, 25:1024-65535)",
            )
        a, b = int(lo), int(hi or lo)
        if a > b:
            a, b = b, a  # FortiOS stores the range either way round
        if b > 65535:
            raise _error(self.ctx, line, f"port {b} in {item!r} is above 65535")
        return a, b


# --- policies ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pair:
    """The interface pair a connection crosses (``--chain SRC:DST``)."""

    src: str
    dst: str


@dataclass
class Vdom:
    """One VDOM (``None``: a configuration without VDOMs) and what is read of it."""

    name: str | None
    node: Node
    zones: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def label(self) -> str:
        return f"vdom {self.name}: " if self.name else ""


@dataclass(frozen=True)
class Policy:
    """A policy as the list holds it, in order."""

    entry: Entry
    table: str
    """``firewall policy`` (both families) or ``firewall policy6``."""
    position: int

    @property
    def id(self) -> str:
        return self.entry.name


def policies(vdom: Vdom) -> list[Policy]:
    """The enabled policies in the order they are matched (the list's order, not the ids)."""
    out: list[Policy] = []
    for path in ("firewall policy", "firewall policy6"):
        table = vdom.node.table(path)
        for entry in table.entries.values() if table is not None else ():
            if entry.word("status", "enable") != "disable":
                out.append(Policy(entry, path, len(out)))
    return out


def source_keys(p: Policy, family: int) -> tuple[str, str] | None:
    """The source and destination keys of the family in the policy (None: not for it)."""
    if p.table == "firewall policy6":
        return ("srcaddr", "dstaddr") if family == 6 else None
    return ("srcaddr", "dstaddr") if family == 4 else ("srcaddr6", "dstaddr6")


def interfaces_match(vdom: Vdom, names: Sequence[str], chosen: str) -> bool:
    for n in names:
        if n in ("any", chosen) or chosen in vdom.zones.get(n, ()):
            return True
    return False


@dataclass
class Lowering:
    """Policies of one VDOM and one family, lowered to ir rules."""

    vdom: Vdom
    family: int
    ctx: ReadContext
    pair: Pair | None
    unsupported: list[str]
    addresses: Addresses = field(init=False)
    services: Services = field(init=False)
    traffics: dict[Alt, ir.Traffic] = field(default_factory=dict)

    def __post_init__(self) -> None:
        vips = self.vdom.node.table("firewall vip" if self.family == 4 else "firewall vip6")
        self.addresses = Addresses(self.vdom.node, self.family, self.ctx, vips)
        self.services = Services(self.vdom.node, self.ctx)

    def origin(self, line: int) -> Origin:
        return Origin(self.ctx.name, line)

    def text(self, p: Policy, src: str, dst: str) -> str:
        e = p.entry
        name = f' "{e.word("name")}"' if e.word("name") else ""
        words = [
            f"{self.vdom.label()}policy {e.name}{name}:",
            f"{' '.join(e.get('srcintf')) or '?'} -> {' '.join(e.get('dstintf')) or '?'},",
            f"{src}{' (negated)' if self.negate(e, src) else ''} {' '.join(e.get(src)) or '?'},",
            f"{dst} {' '.join(e.get(dst)) or '?'},",
            f"service {' '.join(e.get('service')) or '?'},",
            e.word("action", "deny"),
        ]
        return " ".join(words)

    def negate(self, e: Entry, key: str) -> bool:
        return e.word(f"{key}-negate") == "enable"

    def rules(self, p: Policy) -> list[ir.Rule]:
        keys = source_keys(p, self.family)
        e = p.entry
        if keys is None or not e.get(keys[0]) or not e.get(keys[1]):
            return []
        src_key, dst_key = keys
        whys: list[str] = []
        if not self.interfaces(e, whys):
            return []
        dst = self.addresses.names(e.get(dst_key), e.at(dst_key))
        if self.negate(e, dst_key):
            dst = negated(dst, self.addresses.bits)
        if not self.destination(e, dst_key, dst, whys):
            return []
        src = self.addresses.names(e.get(src_key), e.at(src_key))
        if self.negate(e, src_key):
            src = negated(src, self.addresses.bits)
        elif src_key == "srcaddr6" and e.word("srcaddr-negate") == "enable":
            whys.append(
                "srcaddr-negate: FortiOS 6.4 applies it to srcaddr6 too, 7.0 and later only"
                " srcaddr6-negate does"
            )
        self.conditions(e, whys)
        action = self.action(e)
        alts = self.services.names(e.get("service"), e.at("service"))
        if e.word("service-negate") == "enable":
            alts = (
                Alt(None, why=f"service-negate (every service but {' '.join(e.get('service'))})"),
            )
        ref = RuleRef(self.origin(e.line), self.text(p, src_key, dst_key))
        out: list[ir.Rule] = []
        for alt in alts:
            traffic = self.traffic(alt)
            if src.sure:
                out.append(ir.Rule(ref, action, src.sure, traffic=traffic, whys=tuple(whys)))
            if src.maybe:
                out.append(
                    ir.Rule(ref, action, src.maybe, traffic=traffic, whys=(*whys, *src.whys))
                )
        return out

    def interfaces(self, e: Entry, whys: list[str]) -> bool:
        srcintf, dstintf = e.get("srcintf"), e.get("dstintf")
        if self.pair is not None:
            return interfaces_match(self.vdom, srcintf, self.pair.src) and interfaces_match(
                self.vdom, dstintf, self.pair.dst
            )
        if set(srcintf) | set(dstintf) <= {"any"}:
            return True
        whys.append(
            f"only for traffic from {' '.join(srcintf) or '?'} to {' '.join(dstintf) or '?'}"
            " (choose the interface pair with --chain SRC:DST)"
        )
        return True

    def destination(self, e: Entry, key: str, dst: Addr, whys: list[str]) -> bool:
        everything = merge(list(dst.sure)) == full(self.addresses.bits)
        if everything:
            return True
        shown = " ".join(e.get(key))
        if self.ctx.to is None:
            whys.append(f"destination {shown} (give --to)")
            return True
        try:
            fam, value, _ = ipspace.parse_address(self.ctx.to)
        except AddressError as err:
            raise ReaderError(f"--to {self.ctx.to!r}: {err}", source=self.ctx.name) from None
        if fam != self.family:
            whys.append(
                f"the IPv{self.family} destination {shown} (--to gives an IPv{fam} address)"
            )
            return True
        if any(a <= value <= b for a, b in dst.sure):
            return True
        if any(a <= value <= b for a, b in dst.maybe):
            whys.extend(dst.whys)
            return True
        return False

    def conditions(self, e: Entry, whys: list[str]) -> None:
        schedule = e.word("schedule", "always")
        if schedule != "always":
            whys.append(f"schedule {schedule}")
        for key in ("users", "groups", "fsso-groups"):
            if e.get(key):
                whys.append(f"only for authenticated {key} {' '.join(e.get(key))}")
        if e.word("internet-service") == "enable":
            whys.append("destination internet services (FortiGuard database)")
        if e.word("internet-service-src") == "enable":
            whys.append("source internet services (FortiGuard database)")
        if self.family == 6 and e.word("internet-service6-src") == "enable":
            whys.append("source internet services (FortiGuard database)")

    def action(self, e: Entry) -> ir.Action:
        action = e.word("action", "deny")
        if action == "accept":
            return ir.ACCEPT
        if action == "deny":
            return ir.DROP
        return ir.Action("opaque", unsure=f"action {action}")

    def traffic(self, alt: Alt) -> ir.Traffic:
        got = self.traffics.get(alt)
        if got is None:
            got = self.traffics[alt] = ir.Traffic(
                protocols=None if alt.protocol is None else frozenset((alt.protocol,)),
                dports=() if alt.dports is None else (ir.Ports(alt.dports),),
                sports=() if alt.sports is None else (ir.Ports(alt.sports),),
                whys=(alt.why,) if alt.why else (),
            )
        return got


def end_ref(vdom: Vdom, ctx: ReadContext) -> RuleRef:
    table = vdom.node.table("firewall policy")
    line = (table.end_line or table.line) if table is not None else None
    return RuleRef(
        Origin(ctx.name, line), f"{vdom.label()}implicit deny (policy 0): no policy matches"
    )


def lower(
    vdom: Vdom, family: int, ctx: ReadContext, pair: Pair | None, unsupported: list[str]
) -> list[ir.Rule]:
    low = Lowering(vdom, family, ctx, pair, unsupported)
    return [r for p in policies(vdom) for r in low.rules(p)]
