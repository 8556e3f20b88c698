"""Cisco access-list entries, read word by word and lowered to the ruleset form
(:mod:`auditor.ruleset.ir`) for a new inbound connection to the service.

The grammar is that of the Cisco IOS XE command reference for ``permit``/``deny`` (IP
extended and standard access lists), with the IOS XR (``ipv4``, ``net-group``,
``port-group``) and NX-OS (``addrgroup``, ``portgroup``, prefix notation) forms:

    [dynamic NAME [timeout N]] permit|deny PROTOCOL SOURCE [PORTS] DESTINATION [PORTS] [OPTIONS]
    permit|deny object-group SERVICE-GROUP SOURCE DESTINATION [OPTIONS]
    permit|deny SOURCE [log]                                   (a standard list)

An address is ``any``, ``host A``, ``A WILDCARD`` (IPv4), ``A/LEN``, or a group. A wildcard
mask's zero bits must match and its one bits are free ["Configuring IP Access Lists",
cisco.com/c/en/us/support/docs/security/ios-firewall/23602-confaccesslists.html]: a mask
whose one bits are contiguous at the end is a prefix; any other is evaluated exactly, as the
set of ranges it matches (up to 65,536 of them; a wider one makes its addresses conditional).
Ports: ``eq P...``, ``neq P...``, ``lt P``, ``gt P``, ``range P Q``, by number or by the IOS
keyword (``smtp`` is 25). ``established`` matches only packets of a connection that exists
(ACK or RST set), so never a new one; ``fragments`` only non-initial fragments. ``log``,
``log-input``, ``reflect``, ``counter`` change nothing. A ``time-range``, a ``dynamic``
(lock-and-key) entry, ``evaluate`` (reflexive entries), DSCP/precedence/TTL/TCP-flag matches
depend on what the configuration does not show: conditional, naming the construct. Words not
understood make the entry conditional and are reported as unsupported, never dropped.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from auditor import ipspace
from auditor.allowlists.appliances.ios_parse import Acl, Config, Entry, Group, Line
from auditor.allowlists.base import ReaderError
from auditor.errors import AddressError
from auditor.model import Origin, RuleRef
from auditor.ruleset import ir
from auditor.ruleset.sweep import complement, merge

Interval = tuple[int, int]
WILDCARD_LIMIT = 65536
"""Most ranges a non-contiguous wildcard is evaluated as; a wider one is conditional."""

# Port keywords of IOS access lists (Cisco IOS XE command reference, "permit (IP)": TCP and
# UDP port names), with the few the IOS XR and NX-OS lists add.
TCP_PORTS = {
    "bgp": 179, "chargen": 19, "cmd": 514, "daytime": 13, "discard": 9, "domain": 53,
    "drip": 3949, "echo": 7, "exec": 512, "finger": 79, "ftp": 21, "ftp-data": 20,
    "gopher": 70, "hostname": 101, "ident": 113, "irc": 194, "klogin": 543, "kshell": 544,
    "login": 513, "lpd": 515, "msrpc": 135, "nntp": 119, "onep-plain": 15001,
    "onep-tls": 15002, "pim-auto-rp": 496, "pop2": 109, "pop3": 110, "smtp": 25,
    "sunrpc": 111, "tacacs": 49, "talk": 517, "telnet": 23, "time": 37, "uucp": 540,
    "whois": 43, "www": 80, "ssh": 22, "https": 443, "ldap": 389, "microsoft-ds": 445,
}  # fmt: skip
UDP_PORTS = {
    "biff": 512, "bootpc": 68, "bootps": 67, "discard": 9, "dnsix": 195, "domain": 53,
    "echo": 7, "isakmp": 500, "mobile-ip": 434, "nameserver": 42, "netbios-dgm": 138,
    "netbios-ns": 137, "netbios-ss": 139, "non500-isakmp": 4500, "ntp": 123,
    "pim-auto-rp": 496, "rip": 520, "ripv6": 521, "snmp": 161, "snmptrap": 162,
    "sunrpc": 111, "syslog": 514, "tacacs": 49, "talk": 517, "tftp": 69, "time": 37,
    "who": 513, "xdmcp": 177, "bfd": 3784, "bfd-echo": 3785,
}  # fmt: skip
PORT_PROTOCOLS = frozenset({"tcp", "udp", "sctp", "tcp-udp"})
PROTOCOL_NUMBERS = {"6": "tcp", "17": "udp", "132": "sctp", "1": "icmp", "58": "icmp"}
ALL_PROTOCOLS = frozenset({"ip", "ipv4", "ipv6"})
OPERATORS = frozenset({"eq", "neq", "lt", "gt", "range"})
GROUP_WORDS = frozenset({"object-group", "addrgroup", "net-group"})
PORT_GROUP_WORDS = frozenset({"portgroup", "port-group"})

_IGNORED = frozenset({"log", "log-input", "icmp-off", "icmp-on"})
_IGNORED_WITH_VALUE = frozenset({"reflect", "counter", "capture", "timeout", "default"})
_MARKINGS = {
    "dscp": 1, "precedence": 1, "tos": 1, "option": 1, "flow-label": 1, "ttl": 2,
    "packet-length": 2,
}  # fmt: skip
_TCP_FLAGS = frozenset({"ack", "fin", "psh", "rst", "syn", "urg", "match-any", "match-all"})
_FLAG_WORD = re.compile(r"[+-](?:ack|fin|psh|rst|syn|urg)")


class Unreadable(Exception):
    """An entry (or a group member) whose words are not understood."""


@dataclass(frozen=True)
class Where:
    """A source or destination of one family: ``any``, or the exact addresses, or (a
    non-contiguous wildcard too wide to list) the base and mask."""

    text: str
    any: bool = False
    intervals: tuple[Interval, ...] = ()
    wide: tuple[int, int] | None = None
    """(base, wildcard) of a wildcard not listed as ranges."""

    def holds(self, value: int) -> bool:
        if self.any:
            return True
        if self.wide is not None:
            base, wild = self.wide
            return value & ~wild == base
        return any(a <= value <= b for a, b in self.intervals)

    def hull(self) -> Interval:
        base, wild = self.wide or (0, 0)
        return base, base | wild


@dataclass(frozen=True)
class Ace:
    """One entry, read."""

    action: str
    """``permit`` or ``deny``."""
    traffics: tuple[ir.Traffic, ...]
    source: Where
    destination: Where | None
    """None: a standard list (every destination)."""
    whys: tuple[str, ...] = ()
    never: str = ""
    """Non-empty: the entry never matches a new connection, and why."""
    unsupported: str = ""
    """Non-empty: words after the addresses that are not understood (the entry is
    conditional, on its own sources and traffic)."""


def wildcard_intervals(base: int, wild: int, bits: int) -> list[Interval] | None:
    """The ranges an address with a wildcard mask matches; None when more than
    :data:`WILDCARD_LIMIT`."""
    top = (1 << bits) - 1
    wild &= top
    base &= top & ~wild
    trailing = 0
    while trailing < bits and (wild >> trailing) & 1:
        trailing += 1
    free = [i for i in range(trailing, bits) if (wild >> i) & 1]
    if len(free) > WILDCARD_LIMIT.bit_length() - 1:
        return None
    low = (1 << trailing) - 1
    out = []
    for combo in range(1 << len(free)):
        v = base
        for k, bit in enumerate(free):
            if (combo >> k) & 1:
                v |= 1 << bit
        out.append((v, v | low))
    out.sort()
    return out


def _dotted(word: str) -> int | None:
    try:
        family, value, _ = ipspace.parse_address(word)
    except AddressError:
        return None
    return value if family == 4 else None


@dataclass
class Reader:
    """Reads entries of one configuration, resolving its groups (memoised, with cycle
    detection); ``origin`` makes the origin of a line."""

    cfg: Config
    origin: Callable[[int], Origin]
    name: str
    stack: list[str] = field(default_factory=list)
    networks: dict[tuple[str, int], list[tuple[Interval, int]]] = field(default_factory=dict)
    services: dict[str, list[ir.Traffic]] = field(default_factory=dict)

    def error(self, line: Line, message: str, hint: str | None = None) -> ReaderError:
        return ReaderError(message, source=self.name, line=line.number, hint=hint)

    def group(self, name: str, kinds: tuple[str, ...], line: Line) -> Group:
        group = self.cfg.groups.get(name)
        if group is None or group.kind not in kinds:
            what = "network" if "network" in kinds else "service or port"
            raise self.error(
                line,
                f"object group {name} is not defined (as a {what} group)",
                hint=f"define object-group {name} in the configuration, or give the whole"
                " running configuration (show running-config)",
            )
        if name in self.stack:
            loop = " -> ".join([*self.stack[self.stack.index(name) :], name])
            raise self.error(
                line,
                f"object groups nest in a loop: {loop}",
                hint="a group-object must not contain the group it is in",
            )
        return group

    # --- network groups -------------------------------------------------------------------

    def network(self, name: str, family: int, line: Line) -> list[tuple[Interval, int]]:
        """The addresses of a network group of one family, each with its member's line."""
        key = (name, family)
        got = self.networks.get(key)
        if got is not None:
            return got
        group = self.group(name, ("network",), line)
        self.stack.append(name)
        out: list[tuple[Interval, int]] = []
        for member in group.members:
            out.extend(self.member(group, member, family))
        self.stack.pop()
        self.networks[key] = out
        return out

    def member(self, group: Group, line: Line, family: int) -> list[tuple[Interval, int]]:
        words = list(line.words)
        if words and words[0].isdigit():
            words = words[1:]  # NX-OS: "10 host 192.0.2.1"
        if words and words[0] == "network-object":
            words = words[1:]
        if not words:
            return []
        if words[0] in ("group-object", "object-group") and len(words) == 2:
            return self.network(words[1], family, line)
        try:
            fam, ivs = self.member_addresses(group, words)
        except (Unreadable, AddressError) as e:
            raise self.error(
                line,
                f"cannot read the member {' '.join(words)!r} of object group {group.name}: {e}",
                hint="members are host A, A MASK (A WILDCARD on NX-OS), A/LEN, range A B or"
                " group-object NAME",
            ) from None
        if fam is not None and fam != family:
            return []
        return [(iv, line.number) for iv in ivs]

    def member_addresses(self, group: Group, words: list[str]) -> tuple[int | None, list[Interval]]:
        if words == ["any"]:
            if group.family is not None:
                return group.family, [(0, ipspace.MAX[group.family])]
            raise Unreadable("'any' in a group of both families")
        if words[0] == "host" and len(words) == 2:
            fam, value, _ = ipspace.parse_address(words[1])
            return fam, [(value, value)]
        if words[0] == "range" and len(words) == 3:
            fam, a, _ = ipspace.parse_address(words[1])
            fam2, b, _ = ipspace.parse_address(words[2])
            if fam != fam2 or a > b:
                raise Unreadable("the range's ends are not of one family, low to high")
            return fam, [(a, b)]
        if len(words) == 1 and "/" in words[0]:
            p = ipspace.parse(words[0])
            return p.family, [(p.first, p.last)]
        if len(words) == 2:
            base, other = _dotted(words[0]), _dotted(words[1])
            if base is None or other is None:
                raise Unreadable("not an IPv4 address and mask")
            wild = other if group.wildcards else other ^ 0xFFFFFFFF
            if not group.wildcards and (wild + 1) & wild:
                raise Unreadable(f"{words[1]} is not a network mask")
            ivs = wildcard_intervals(base, wild, 32)
            if ivs is None:
                raise Unreadable(f"the wildcard {words[1]} matches too many ranges")
            return 4, ivs
        raise Unreadable("unknown form")

    # --- service and port groups ----------------------------------------------------------

    def service(self, name: str, line: Line) -> list[ir.Traffic]:
        got = self.services.get(name)
        if got is not None:
            return got
        group = self.group(name, ("service",), line)
        self.stack.append(name)
        out: list[ir.Traffic] = []
        for member in group.members:
            words = list(member.words)
            if words and words[0] == "group-object" and len(words) == 2:
                out.extend(self.service(words[1], member))
                continue
            try:
                out.extend(self.service_member(words, member))
            except Unreadable as e:
                raise self.error(
                    member,
                    f"cannot read the member {' '.join(words)!r} of object group {name}: {e}",
                    hint="members are PROTOCOL [source OP PORTS] [OP PORTS] or group-object",
                ) from None
        self.stack.pop()
        self.services[name] = out
        return out

    def service_member(self, words: list[str], line: Line) -> list[ir.Traffic]:
        proto = words[0]
        rest = words[1:]
        protocols = _protocols(proto)
        if proto not in PORT_PROTOCOLS:
            whys = (f"{proto} {' '.join(rest)}",) if rest else ()
            return [ir.Traffic(protocols=protocols, whys=whys)]
        sports: tuple[ir.Ports, ...] = ()
        if rest and rest[0] == "source":
            ports, used = self.ports(proto, rest[1:], line)
            if ports is None:
                raise Unreadable("no port after 'source'")
            sports, rest = (ports,), rest[1 + used :]
        dports: tuple[ir.Ports, ...] = ()
        if rest:
            ports, used = self.ports(proto, rest, line)
            if ports is None or used != len(rest):
                raise Unreadable(f"cannot read {' '.join(rest)!r}")
            dports = (ports,)
        return [ir.Traffic(protocols=protocols, dports=dports, sports=sports)]

    def port_group(self, name: str, proto: str, line: Line) -> ir.Ports:
        group = self.group(name, ("port",), line)
        ranges: list[Interval] = []
        for member in group.members:
            words = list(member.words)
            if words and words[0].isdigit() and len(words) > 1 and words[1] in OPERATORS:
                words = words[1:]
            ports, used = self.ports(proto, words, member)
            if ports is None or used != len(words):
                raise self.error(
                    member,
                    f"cannot read the port {' '.join(words)!r} of group {name}",
                    hint="ports are eq P, neq P, lt P, gt P or range P Q",
                )
            got = list(ports.ranges)
            ranges.extend(complement(got, 16) if ports.negated else got)
        return ir.Ports(tuple(merge(ranges)))

    def ports(self, proto: str, words: Sequence[str], line: Line) -> tuple[ir.Ports | None, int]:
        """A port match at the start of ``words`` and how many words it took (None, 0: there
        is none)."""
        if not words:
            return None, 0
        op = words[0]
        if op in PORT_GROUP_WORDS and len(words) >= 2:
            return self.port_group(words[1], proto, line), 2
        if op not in OPERATORS:
            return None, 0
        if op == "range":
            if len(words) < 3:
                raise Unreadable("range needs two ports")
            a, b = _port(proto, words[1]), _port(proto, words[2])
            if a is None or b is None or a > b:
                raise Unreadable(f"range {words[1]} {words[2]}")
            return ir.Ports(((a, b),)), 3
        values: list[int] = []
        used = 1
        for word in words[1:]:
            value = _port(proto, word)
            if value is None or (op in ("lt", "gt") and values):
                break
            values.append(value)
            used += 1
        if not values:
            raise Unreadable(f"{op} {' '.join(words[1:2])}: not a port")
        if op == "lt":
            return ir.Ports(((0, values[0] - 1),) if values[0] > 0 else ()), used
        if op == "gt":
            return ir.Ports(((values[0] + 1, 65535),) if values[0] < 65535 else ()), used
        ranges = tuple(merge([(v, v) for v in values]))
        return ir.Ports(ranges, negated=op == "neq"), used

    # --- addresses ------------------------------------------------------------------------

    def where(
        self, words: Sequence[str], i: int, family: int, line: Line, standard: bool = False
    ) -> tuple[Where, int]:
        if i >= len(words):
            raise Unreadable("an address is missing")
        word = words[i]
        if word == "any" or (word == "any4" and family == 4) or (word == "any6" and family == 6):
            return Where("any", any=True), i + 1
        if word == "host" and i + 1 < len(words):
            fam, value, _ = ipspace.parse_address(words[i + 1])
            if fam != family:
                raise Unreadable(f"{words[i + 1]} is not an IPv{family} address")
            return Where(f"host {words[i + 1]}", intervals=((value, value),)), i + 2
        if word in GROUP_WORDS and i + 1 < len(words):
            name = words[i + 1]
            ivs = merge([iv for iv, _ in self.network(name, family, line)])
            return Where(f"{word} {name}", intervals=tuple(ivs)), i + 2
        if "/" in word:
            p = ipspace.parse(word)
            if p.family != family:
                raise Unreadable(f"{word} is not an IPv{family} prefix")
            return Where(word, intervals=((p.first, p.last),)), i + 1
        base = _dotted(word) if family == 4 else None
        if base is None:
            raise Unreadable(f"{word!r} is not an address")
        wild = _dotted(words[i + 1]) if i + 1 < len(words) else None
        if wild is None:
            if not standard:
                raise Unreadable(f"{word} has no wildcard mask")
            return Where(word, intervals=((base, base),)), i + 1
        text = f"{word} {words[i + 1]}"
        ranges = wildcard_intervals(base, wild, 32)
        if ranges is None:
            return Where(text, wide=(base & ~wild, wild)), i + 2
        return Where(text, intervals=tuple(ranges)), i + 2

    # --- entries --------------------------------------------------------------------------

    def ace(self, acl: Acl, entry: Entry) -> Ace:
        """The entry read; Unreadable (or AddressError) when its words are not understood."""
        words = list(entry.words)
        line = entry.line
        whys: list[str] = []
        if words[0] == "dynamic" and len(words) > 2:
            whys.append(f"dynamic (lock-and-key) entry {words[1]}: open only after a login")
            words = words[2:]
            if words[:1] == ["timeout"]:
                words = words[2:]
        if words[0] == "evaluate" and len(words) == 2:
            why = f"reflexive access list {words[1]}: its entries mirror sessions from inside"
            return Ace("permit", (ir.EVERY,), Where("any", any=True), None, (why,))
        action = words[0]
        if action not in ("permit", "deny"):
            raise Unreadable(f"{action!r} is neither permit nor deny")
        family = acl.family
        if acl.kind == "standard":
            source, i = self.where(words, 1, family, line, standard=True)
            rest = words[i:]
            return self.finish(action, (ir.EVERY,), source, None, rest, whys, "ip")
        if len(words) < 2:
            raise Unreadable("no protocol")
        proto = words[1]
        i = 2
        if proto == "object-group" and len(words) > 2:
            traffics = tuple(self.service(words[2], line))
            source, i = self.where(words, 3, family, line)
            destination, i = self.where(words, i, family, line)
            return self.finish(action, traffics, source, destination, words[i:], whys, "ip")
        protocols = _protocols(proto)
        source, i = self.where(words, i, family, line)
        sports: tuple[ir.Ports, ...] = ()
        if proto in PORT_PROTOCOLS:
            got, used = self.ports(proto, words[i:], line)
            if got is not None:
                sports, i = (got,), i + used
        destination, i = self.where(words, i, family, line)
        dports: tuple[ir.Ports, ...] = ()
        if proto in PORT_PROTOCOLS:
            got, used = self.ports(proto, words[i:], line)
            if got is not None:
                dports, i = (got,), i + used
        traffic = ir.Traffic(protocols=protocols, dports=dports, sports=sports)
        return self.finish(action, (traffic,), source, destination, words[i:], whys, proto)

    def finish(
        self,
        action: str,
        traffics: tuple[ir.Traffic, ...],
        source: Where,
        destination: Where | None,
        rest: Sequence[str],
        whys: list[str],
        proto: str,
    ) -> Ace:
        """The options after the addresses and ports."""
        never = ""
        qualifiers: list[str] = []
        k = 0
        while k < len(rest):
            word = rest[k]
            if word in _IGNORED:
                k += 1
                if word.startswith("log") and k < len(rest) and not _option(rest[k]):
                    k += 1  # log's cookie
                continue
            if word in _IGNORED_WITH_VALUE and k + 1 < len(rest):
                k += 2
                continue
            if word == "established":
                never = "established: only packets of a connection that exists (ACK or RST)"
            elif word == "fragments":
                never = "fragments: only non-initial fragments, never a connection's first"
            elif word == "time-range" and k + 1 < len(rest):
                whys.append(f"time-range {rest[k + 1]}: active only at some times")
                k += 2
                continue
            elif word in _MARKINGS:
                n = _MARKINGS[word]
                taken = rest[k : k + 1 + n]
                if word == "ttl" and len(rest) > k + 1 and rest[k + 1] == "range":
                    taken = rest[k : k + 4]
                whys.append(f"{' '.join(taken)}: the packet's marking is not known here")
                k += len(taken)
                continue
            elif word in _TCP_FLAGS or _FLAG_WORD.fullmatch(word):
                start = k
                while k < len(rest) and (rest[k] in _TCP_FLAGS or _FLAG_WORD.fullmatch(rest[k])):
                    k += 1
                whys.append(f"TCP flags {' '.join(rest[start:k])}")
                continue
            elif proto not in PORT_PROTOCOLS and proto not in ALL_PROTOCOLS and not _option(word):
                qualifiers.append(word)  # an ICMP type and code, an IGMP type
            else:
                # the rest is not understood: the entry is conditional on its own match
                words = " ".join(rest[k:])
                words = words if len(words) <= 80 else words[:77] + "..."  # not echoed whole
                unknown = f"{words!r} is not understood"
                whys.append(f"not understood: {unknown}")
                return Ace(action, traffics, source, destination, tuple(whys), never, unknown)
            k += 1
        if qualifiers:
            what = f"{proto} {' '.join(qualifiers)}"
            traffics = tuple(
                ir.Traffic(t.protocols, t.negated, t.dports, t.sports, t.either, (*t.whys, what))
                for t in traffics
            )
        return Ace(action, traffics, source, destination, tuple(whys), never)


def _option(word: str) -> bool:
    return (
        word in _IGNORED
        or word in _IGNORED_WITH_VALUE
        or word in _MARKINGS
        or word in _TCP_FLAGS
        or word in ("established", "fragments", "time-range")
    )


def _protocols(word: str) -> frozenset[str] | None:
    if word in ALL_PROTOCOLS:
        return None
    if word == "tcp-udp":
        return frozenset({"tcp", "udp"})
    if word in ("icmp6", "icmpv6"):
        return frozenset({"icmp"})
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", word):
        raise Unreadable(f"{word!r} is not a protocol")
    return frozenset({PROTOCOL_NUMBERS.get(word, word)})


def _port(proto: str, word: str) -> int | None:
    if word.isdigit():
        value = int(word)
        return value if value <= 65535 else None
    if proto == "tcp":
        return TCP_PORTS.get(word)
    if proto == "udp":
        return UDP_PORTS.get(word)
    return TCP_PORTS.get(word, UDP_PORTS.get(word))


# --- lowering --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Lowered:
    rules: list[ir.Rule]
    unsupported: list[str]


def acl_label(acl: Acl) -> str:
    return f"access-list {acl.name}"


def lower(
    reader: Reader, acl: Acl, to: tuple[int, int] | None, refs: dict[int, RuleRef]
) -> Lowered:
    """The rules of an access list for the ACL's family, in sequence order; ``to``: the
    ``--to`` address (family, value). ``refs`` receives each entry's RuleRef by line."""
    rules: list[ir.Rule] = []
    unsupported: list[str] = []
    family = acl.family
    full = ((0, ipspace.MAX[family]),)
    for entry in acl.ordered():
        line = entry.line
        text = line.text.strip()
        shown = text if acl.numbered else f"{acl_label(acl)}: {text}"
        ref = RuleRef(reader.origin(line.number), shown)
        refs[line.number] = ref
        try:
            ace = reader.ace(acl, entry)
        except (Unreadable, AddressError) as e:
            said = str(e) if len(str(e)) <= 120 else str(e)[:117] + "..."
            unsupported.append(f"{reader.name}:{line.number}: {text[:80]} ({said})")
            action = {"permit": ir.ACCEPT, "deny": ir.DROP}.get(
                next((w for w in entry.words if w in ("permit", "deny")), ""),
                ir.Action("opaque", unsure="an entry not understood"),
            )
            why = f"not understood: {said}"
            rules.append(ir.Rule(ref, action, None, whys=(why,)))
            continue
        if ace.unsupported:
            unsupported.append(f"{reader.name}:{line.number}: {text[:80]} ({ace.unsupported})")
        if ace.never:
            continue
        action = ir.ACCEPT if ace.action == "permit" else ir.DROP
        whys = list(ace.whys)
        if ace.destination is not None and not ace.destination.any:
            dest = ace.destination
            if to is not None and to[0] == family:
                if not dest.holds(to[1]):
                    continue  # the server is not among the destinations
            else:
                whys.append(f"destination {dest.text} (give --to)")
        source = ace.source
        sources: list[tuple[tuple[Interval, ...] | None, tuple[str, ...]]] = []
        if source.any:
            sources.append((None, ()))
        elif source.wide is not None:
            why = f"the wildcard {source.text} matches more than {WILDCARD_LIMIT} ranges"
            sources.append(((source.hull(),), (why,)))
        elif source.intervals:
            sources.append((source.intervals, ()))
        for ivs, extra in sources:
            for traffic in ace.traffics:
                if ivs is not None and ivs == full:
                    ivs = None
                rules.append(ir.Rule(ref, action, ivs, traffic=traffic, whys=(*whys, *extra)))
    return Lowered(rules, unsupported)
