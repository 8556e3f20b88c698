"""The objects, object-groups and extended entries of a Cisco ASA configuration
(:mod:`auditor.allowlists.appliances.asa`), resolved: network objects and groups to addresses
per family (memoised; a cycle is an error), service objects and groups to protocol and port
alternatives, an entry to its action, services, source and destination."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from auditor import ipspace
from auditor.allowlists.appliances.asa_config import (
    PORT_OPS,
    Ace,
    Config,
    Group,
    Interval,
    network,
    port_match,
    protocol_name,
)
from auditor.allowlists.base import ReadContext, ReaderError
from auditor.ruleset import ir
from auditor.ruleset.sweep import merge

FAMILIES = (4, 6)


@dataclass
class Net:
    """The addresses of a source or destination per family, what is not known of them (an
    fqdn, an interface's address), and references to objects that are not defined."""

    sure: dict[int, list[Interval]] = field(default_factory=lambda: {4: [], 6: []})
    whys: dict[int, list[str]] = field(default_factory=lambda: {4: [], 6: []})
    missing: list[tuple[str, int]] = field(default_factory=list)

    def add(self, other: Net) -> None:
        for fam in FAMILIES:
            self.sure[fam] += other.sure[fam]
            self.whys[fam] += [w for w in other.whys[fam] if w not in self.whys[fam]]
        self.missing += other.missing

    def whole(self, fam: int) -> bool:
        return self.sure[fam] == [(0, ipspace.MAX[fam])]


def _any(*fams: int) -> Net:
    net = Net()
    for fam in fams:
        net.sure[fam] = [(0, ipspace.MAX[fam])]
    return net


class Alt(NamedTuple):
    """One service alternative of an entry: protocols, source and destination ports."""

    protocols: frozenset[str] | None
    sports: tuple[ir.Ports, ...] = ()
    dports: tuple[ir.Ports, ...] = ()
    whys: tuple[str, ...] = ()


EVERY_ALT = Alt(None)
_OPTIONS = frozenset({"log", "time-range", "inactive"})
_IDENTITY = {"user": 2, "user-group": 2, "object-group-user": 2, "object-group-security": 2}


class Resolver:
    """Objects and groups by name, resolved once."""

    def __init__(self, cfg: Config, ctx: ReadContext) -> None:
        self.cfg = cfg
        self.ctx = ctx
        self.nets: dict[str, Net] = {}
        self.stack: list[str] = []
        self.services: dict[str, list[Alt]] = {}

    def group(self, name: str, no: int, want: str) -> Group:
        group = self.cfg.groups.get(name)
        if group is None:
            raise self.cfg.error(
                f"{want} {name} is not defined",
                no,
                f"define it ({want} {name} ...) before it is used, or give the whole"
                " configuration (show running-config)",
            )
        return group

    def net(self, name: str, no: int) -> Net:
        got = self.nets.get(name)
        if got is not None:
            return got
        group = self.cfg.groups.get(name)
        if group is None:
            out = Net()
            out.missing.append((name, no))
            return out
        if not group.network:
            raise self.cfg.error(
                f"{name} is an {group.kind if group.kind.startswith('object') else 'object-group ' + group.kind}, not a network object or group",  # noqa: E501
                no,
                "a source or destination names a network object or object-group network",
            )
        if name in self.stack:
            loop = " -> ".join([*self.stack[self.stack.index(name) :], name])
            raise self.cfg.error(
                f"object-group network {name} contains itself: {loop}",
                group.line,
                "remove the group-object that closes the loop",
            )
        self.stack.append(name)
        out = Net()
        for m in group.members:
            self._member(group, m.words, m.line, out)
        self.stack.pop()
        for fam in FAMILIES:
            out.sure[fam] = merge(out.sure[fam])
        self.nets[name] = out
        return out

    def _member(self, group: Group, words: tuple[str, ...], no: int, out: Net) -> None:
        cfg, ctx = self.cfg, self.ctx
        head = words[0] if words else ""
        rest = words[1:]
        if head in ("description",):
            return
        if group.kind == "object network":
            if head == "host" and len(rest) == 1:
                fam, a, b = network(cfg, ctx, rest[0], None, no)
                out.sure[fam].append((a, b))
            elif head == "subnet" and len(rest) in (1, 2):
                fam, a, b = network(cfg, ctx, rest[0], rest[1] if len(rest) == 2 else None, no)
                out.sure[fam].append((a, b))
            elif head == "range" and len(rest) == 2:
                fa, a, _ = network(cfg, ctx, rest[0], None, no)
                fb, b, _ = network(cfg, ctx, rest[1], None, no)
                if fa != fb or a > b:
                    raise cfg.error(
                        f"range {rest[0]} {rest[1]} is not a range",
                        no,
                        "write the lower address first, both of one family",
                    )
                out.sure[fa].append((a, b))
            elif head == "fqdn" and rest:
                fams = {"v4": (4,), "v6": (6,)}.get(rest[0], FAMILIES)
                for fam in fams:
                    out.whys[fam].append(
                        f"object {group.name} is fqdn {rest[-1]}, resolved by the ASA at run time"
                    )
            else:
                self._unknown(group, words, no, out)
            return
        if head == "network-object" and rest:
            if rest[0] == "host" and len(rest) == 2:
                fam, a, b = network(cfg, ctx, rest[1], None, no)
            elif rest[0] == "object" and len(rest) == 2:
                out.add(self.net(rest[1], no))
                return
            elif len(rest) in (1, 2):
                fam, a, b = network(cfg, ctx, rest[0], rest[1] if len(rest) == 2 else None, no)
            else:
                self._unknown(group, words, no, out)
                return
            out.sure[fam].append((a, b))
        elif head == "group-object" and len(rest) == 1:
            out.add(self.net(rest[0], no))
        else:
            self._unknown(group, words, no, out)

    def _unknown(self, group: Group, words: tuple[str, ...], no: int, out: Net) -> None:
        text = " ".join(words)
        self.cfg.unsupported.append(f"line {no}: {_short(text)} (in {group.name})")
        for fam in FAMILIES:
            out.whys[fam].append(f"{group.name} holds {text!r}, which is not read")

    def items(self, name: str, seen: set[str]) -> list[tuple[int, int, int, int, str]]:
        """The addresses of a network object or group as written, (family, first, last,
        line, the object or group whose line it is) per member line, nested groups' members
        included (each once)."""
        group = self.cfg.groups.get(name)
        if group is None or not group.network or name in seen:
            return []
        seen.add(name)
        out: list[tuple[int, int, int, int, str]] = []
        for m in group.members:
            words = m.words
            if words[:1] == ("group-object",) and len(words) == 2:
                out += self.items(words[1], seen)
            elif words[:2] == ("network-object", "object") and len(words) == 3:
                out += self.items(words[2], seen)
            elif words[:1] != ("description",):
                one = Net()
                try:
                    self._member(group, words, m.line, one)
                except ReaderError:
                    continue
                out += [(f, a, b, m.line, name) for f in FAMILIES for a, b in one.sure[f]]
        return out

    # --- services -------------------------------------------------------------------------

    def service(self, name: str, no: int) -> list[Alt]:
        """The alternatives of a service object or group, or of a protocol group."""
        got = self.services.get(name)
        if got is not None:
            return got
        group = self.group(name, no, "object-group service")
        if name in self.stack:
            loop = " -> ".join([*self.stack[self.stack.index(name) :], name])
            raise self.cfg.error(
                f"object-group {name} contains itself: {loop}",
                group.line,
                "remove the group-object that closes the loop",
            )
        self.stack.append(name)
        alts: list[Alt] = []
        if group.kind == "protocol":
            protos: set[str] = set()
            every = False
            for m in group.members:
                if m.words[:1] == ("protocol-object",) and len(m.words) == 2:
                    p = protocol_name(m.words[1])
                    every = every or p is None
                    protos.add(p or "")
                elif m.words[:1] == ("group-object",) and len(m.words) == 2:
                    for alt in self.service(m.words[1], m.line):
                        every = every or alt.protocols is None
                        protos |= alt.protocols or set()
            alts = [EVERY_ALT if every else Alt(frozenset(protos))]
        elif group.kind == "object service":
            for m in group.members:
                if m.words[:1] == ("service",):
                    alts.append(self._service_words(m.words[1:], m.line))
        elif group.kind == "service":
            ports = self.port_group(group)
            if ports is not None:
                alts.append(Alt(_group_protocols(group.proto), dports=(ports,)))
            for m in group.members:
                if m.words[:1] == ("service-object",) and len(m.words) >= 2:
                    if m.words[1] == "object" and len(m.words) == 3:
                        alts += self.service(m.words[2], m.line)
                    else:
                        alts.append(self._service_words(m.words[1:], m.line))
                elif m.words[:1] == ("group-object",) and len(m.words) == 2 and ports is None:
                    alts += self.service(m.words[1], m.line)
        else:
            raise self.cfg.error(
                f"{name} is not a service or protocol object-group",
                no,
                "the protocol of an entry names a protocol, a service object or a service or"
                " protocol object-group",
            )
        self.stack.pop()
        self.services[name] = alts
        return alts

    def port_group(self, group: Group) -> ir.Ports | None:
        """The ports of a service group of ``port-object`` lines (nested ones included);
        None when it has none."""
        ranges: list[Interval] = []
        found = False
        for m in group.members:
            if m.words[:1] == ("port-object",) and len(m.words) >= 3:
                found = True
                rng, negated, _ = port_match(self.cfg, m.words, 1, m.line)
                if negated:
                    raise self.cfg.error(
                        "port-object takes eq or range", m.line, "write eq PORT or range A B"
                    )
                ranges.append(rng)
            elif m.words[:1] == ("group-object",) and len(m.words) == 2:
                inner = self.group(m.words[1], m.line, "object-group service")
                if inner.name in self.stack:
                    raise self.cfg.error(
                        f"object-group {inner.name} contains itself",
                        inner.line,
                        "remove the group-object that closes the loop",
                    )
                self.stack.append(group.name)
                sub = self.port_group(inner)
                self.stack.pop()
                if sub is not None:
                    found = True
                    ranges += sub.ranges
        return ir.Ports(tuple(merge(ranges))) if found else None

    def _service_words(self, words: tuple[str, ...], no: int) -> Alt:
        """``tcp destination eq 25``, ``tcp eq 25``, ``udp source eq 3 eq 1236``, ``icmp echo``."""
        if not words:
            raise self.cfg.error("a service without its protocol", no, "write service tcp ...")
        proto = words[0].lower()
        protocols = _group_protocols(proto) if proto in ("tcp-udp",) else None
        if protocols is None:
            p = protocol_name(proto)
            protocols = None if p is None else frozenset({p})
        sports: list[ir.Ports] = []
        dports: list[ir.Ports] = []
        i = 1
        whys: list[str] = []
        while i < len(words):
            w = words[i]
            target = dports
            if w in ("source", "destination"):
                target = sports if w == "source" else dports
                i += 1
            if i < len(words) and words[i] in PORT_OPS:
                rng, negated, used = port_match(self.cfg, words, i, no)
                target.append(ir.Ports((rng,), negated))
                i += used
            elif proto in ("icmp", "icmp6", "icmp-type"):
                whys.append(f"ICMP type {' '.join(words[i:])}")
                break
            else:
                whys.append(f"not read: {_short(' '.join(words[i:]))}")
                self.cfg.unsupported.append(f"line {no}: service {_short(' '.join(words))}")
                break
        return Alt(protocols, tuple(sports), tuple(dports), tuple(whys))


def _group_protocols(proto: str) -> frozenset[str] | None:
    if proto == "tcp-udp":
        return frozenset({"tcp", "udp"})
    if not proto:
        return frozenset({"tcp", "udp"})
    p = protocol_name(proto)
    return None if p is None else frozenset({p})


# --- entries ----------------------------------------------------------------------------------


@dataclass
class Parsed:
    """An extended entry, parsed: its action, service alternatives, source, destination."""

    ace: Ace
    action: ir.Action
    alts: list[Alt]
    source: Net
    destination: Net
    whys: list[str]
    inactive: bool = False


class EntryParser:
    def __init__(self, res: Resolver) -> None:
        self.res = res
        self.cfg = res.cfg

    def parse(self, ace: Ace) -> Parsed:
        w = ace.words
        no = ace.line
        if len(w) < 5 or w[1] not in ("permit", "deny"):
            raise self.cfg.error(
                f"cannot read the entry {ace.text!r}",
                no,
                "an extended entry is access-list NAME extended permit|deny PROTOCOL SOURCE"
                " DESTINATION",
            )
        action = ir.ACCEPT if w[1] == "permit" else ir.DROP
        i = 2
        whys: list[str] = []
        port_proto = True  # the entry may carry ports of its own
        if w[i] in ("object-group", "object") and i + 1 < len(w):
            alts = self.res.service(w[i + 1], no)
            group = self.cfg.groups[w[i + 1]]
            port_proto = group.kind == "protocol"
            i += 2
        else:
            p = protocol_name(w[i])
            if p is not None and p.startswith("?"):
                raise self.cfg.error(
                    f"unknown protocol {w[i]!r}",
                    no,
                    "write a protocol name (ip, tcp, udp, icmp, ...) or number, or a service"
                    " object or object-group",
                )
            alts = [EVERY_ALT if p is None else Alt(frozenset({p}))]
            i += 1
        i = self.identity(w, i, whys)
        source, i = self.net(w, i, no)
        sports, i = self.ports(w, i, no, port_proto)
        i = self.identity(w, i, whys)
        destination, i = self.net(w, i, no)
        dports, i = self.ports(w, i, no, port_proto)
        inactive = False
        icmp = any(a.protocols and a.protocols & {"icmp", "icmp6"} for a in alts)
        while i < len(w):
            word = w[i]
            if word == "log":
                i += 1
                while i < len(w) and w[i] not in _OPTIONS:
                    i += 1
            elif word == "time-range" and i + 1 < len(w):
                whys.append(f"time-range {w[i + 1]}")
                i += 2
            elif word == "inactive":
                inactive = True
                i += 1
            elif icmp and i == len(w) - 1 or (icmp and w[i + 1] in _OPTIONS):
                i += 1  # an ICMP type: the entry matches no TCP or UDP connection anyway
            else:
                rest = " ".join(w[i:])
                whys.append(f"not read: {_short(rest)}")
                self.cfg.unsupported.append(f"line {no}: {_short(rest)} (in {_short(ace.text)})")
                break
        if sports or dports:
            alts = [
                Alt(a.protocols, (*a.sports, *sports), (*a.dports, *dports), a.whys) for a in alts
            ]
        return Parsed(ace, action, alts, source, destination, whys, inactive)

    def identity(self, w: tuple[str, ...], i: int, whys: list[str]) -> int:
        while i < len(w):
            if w[i] in _IDENTITY and i + 1 < len(w):
                whys.append(f"{w[i]} {w[i + 1]} (identity firewall)")
                i += 2
            elif w[i] == "security-group" and i + 2 < len(w):
                whys.append(f"security-group {w[i + 1]} {w[i + 2]} (TrustSec)")
                i += 3
            else:
                break
        return i

    def net(self, w: tuple[str, ...], i: int, no: int) -> tuple[Net, int]:
        cfg, ctx = self.cfg, self.res.ctx
        if i >= len(w):
            raise cfg.error(
                "the entry ends before its source or destination",
                no,
                "write any, host A, A MASK, object NAME or object-group NAME",
            )
        word = w[i]
        if word == "any":
            return _any(4, 6), i + 1
        if word == "any4":
            return _any(4), i + 1
        if word == "any6":
            return _any(6), i + 1
        if word in ("host", "object", "object-group", "interface") and i + 1 >= len(w):
            raise cfg.error(f"{word} without its name or address", no, f"write {word} NAME")
        if word == "host":
            fam, a, b = network(cfg, ctx, w[i + 1], None, no)
            out = Net()
            out.sure[fam].append((a, b))
            return out, i + 2
        if word in ("object", "object-group"):
            got = self.res.net(w[i + 1], no)
            if got.missing:
                name, line = got.missing[0]
                raise cfg.error(
                    f"{word} {name} is not defined"
                    if line == no
                    else f"{name} is not defined (in {w[i + 1]}, used by the entry at line {no})",
                    line,
                    f"define {name} before it is used, or give the whole configuration"
                    " (show running-config)",
                )
            return got, i + 2
        if word == "interface":
            out = Net()
            for fam in FAMILIES:
                out.whys[fam].append(f"the address of interface {w[i + 1]}")
            iface = cfg.interfaces.get(w[i + 1])
            if iface is not None and iface.addresses:
                out = Net()
                for fam, value in iface.addresses:
                    out.sure[fam].append((value, value))
            return out, i + 2
        mask = w[i + 1] if i + 1 < len(w) and _looks_v4(w[i + 1]) and "/" not in word else None
        try:
            fam, a, b = network(cfg, ctx, word, mask, no)
        except ReaderError:
            if word in cfg.names or _looks_address(word):
                raise
            raise cfg.error(
                f"cannot read {word!r} as a source or destination",
                no,
                "write any, any4, any6, host A, A MASK, an IPv6 prefix, object NAME,"
                " object-group NAME or interface NAME",
            ) from None
        out = Net()
        out.sure[fam].append((a, b))
        return out, i + (2 if mask else 1)

    def ports(
        self, w: tuple[str, ...], i: int, no: int, allowed: bool
    ) -> tuple[list[ir.Ports], int]:
        if i >= len(w):
            return [], i
        if w[i] in PORT_OPS and allowed:
            rng, negated, used = port_match(self.cfg, w, i, no)
            return [ir.Ports((rng,), negated)], i + used
        if w[i] == "object-group" and i + 1 < len(w) and allowed:
            group = self.cfg.groups.get(w[i + 1])
            if group is not None and group.kind == "service":
                ports = self.res.port_group(group)
                if ports is None:
                    raise self.cfg.error(
                        f"object-group service {group.name} holds no port-object",
                        no,
                        "a port match names a service group of port-object lines",
                    )
                return [ports], i + 2
        return [], i


def _short(text: str) -> str:
    """Words shown in a why: a huge line is not echoed whole."""
    return text if len(text) <= 80 else text[:77] + "..."


def _looks_v4(word: str) -> bool:
    return word.count(".") == 3 and all(p.isdigit() for p in word.split("."))


def _looks_address(word: str) -> bool:
    return _looks_v4(word) or ":" in word
