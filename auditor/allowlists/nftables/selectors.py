"""What an nftables selector (the left side of a match) is for a new connection from another
host, before any service is chosen: the source address, the protocol or a port of the
connection (matched by the engine per probe), the client's source port, something the gate
decides (``ct state``, the hook), a known value, or unknown; and what a value of a known
selector means (:func:`const_match`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal, NamedTuple

from auditor.allowlists.nftables.ast import (
    _IP6_EXTHDRS,
    _OTHER_L4,
    Cat,
    Concat,
    Expr,
    Masking,
    Value,
    _Problem,
)
from auditor.allowlists.nftables.render import _render_expr, _render_value
from auditor.allowlists.nftables.values import (
    _CT_STATE,
    _ETHERTYPE,
    _NFPROTO,
    _PORT_PROTOCOLS,
    _PROTOCOLS,
    _TCP_FLAGS,
    _addresses,
    _bitop,
    _bits,
    _numbers,
    _text,
)
from auditor.ruleset.ir import Interval, Ports
from auditor.ruleset.sweep import merge

_UNKNOWN_WHY = {
    "mark": "a packet mark",
    "skuid": "the local socket's user",
    "skgid": "the local socket's group",
    "cpu": "the CPU",
    "cgroup": "the control group",
    "time": "the time",
    "day": "the day of the week",
    "hour": "the time of day",
    "random": "a random number",
    "priority": "the packet priority",
    "secmark": "a security mark",
    "ipsec": "IPsec processing",
    "length": "the packet length",
    "iifgroup": "the input interface group",
    "oifgroup": "the output interface group",
    "nftrace": "packet tracing",
}
_ROUTING_INFO = frozenset({"classid", "nexthop", "mtu", "ipsec"})
"""``rt`` keys of routing information [nft(8), ROUTING EXPRESSIONS]; other ``rt`` fields are
the IPv6 routing header's."""
_REMOTE = "remote"
"""The input interface of a connection from another host: not ``lo``, otherwise unknown."""
_NO_OUTPUT = frozenset({"input", "prerouting", "ingress"})
"""Hooks where a packet has no output interface yet."""

FieldKind = Literal[
    "src", "proto", "dport", "sport", "psrc", "ctx", "const", "unknown", "absent", "free"
]


class Field(NamedTuple):
    """What a selector is: ``src`` (the source address), ``proto``/``dport`` (the protocol and
    destination port of the connection: a traffic match), ``sport`` (the client's source port),
    ``psrc`` (``ct original proto-src``: the source port for a port, any value for ``--service
    any``), ``ctx`` (read from the gate's context ``type``: ``value`` maps each context value
    to the Field there), ``const`` (a known ``value`` of a ``type``), ``unknown`` (``why``),
    ``absent`` (the packet has no such header), ``free`` (the header of another protocol,
    which takes every value for ``--service any``). ``implies``: the protocols the selector's
    header belongs to (a match on it never holds for another protocol); ``mask``: an ``op``
    and value applied to the value before it is compared."""

    kind: FieldKind
    type: str = ""
    value: Any = None
    why: str = ""
    implies: frozenset[str] | None = None
    mask: tuple[str, int] | None = None


ABSENT = Field("absent")
SYN = _TCP_FLAGS["syn"]
"""The first packet of a TCP connection carries SYN alone."""


def field(e: Expr, family: int, to: tuple[int, int] | None) -> Field:
    """The selector for a connection of the family (``to``: --to as (family, value))."""
    if isinstance(e, Concat):
        raise _Problem("a concatenation inside a concatenation")
    if isinstance(e, Masking):
        return _masked(e, family, to)
    words = e.name.split()
    head = words[0]
    field_ = " ".join(words[1:])
    if head == "literal":
        return Field("const", "str", field_.lower())
    if head in ("ip", "ip6"):
        if family != (4 if head == "ip" else 6):
            return ABSENT
        if field_ == "saddr":
            return Field("src")
        if field_ == "daddr":
            return destination(family, to)
        if field_ in ("protocol", "nexthdr"):
            return Field("proto")
        if field_ == "version":
            return Field("const", "int", family)
        return Field("unknown", why=f"the {e.name} field")
    if head in _PORT_PROTOCOLS or head == "th":
        implies = _PORT_PROTOCOLS if head == "th" else frozenset({head})
        if e.name == "tcp flags":
            return Field("const", "tcpflags", SYN, implies=implies)
        if field_ == "dport":
            return Field("dport", implies=implies)
        if field_ == "sport":
            return Field("sport", why=f"the client's source port ({e.name})", implies=implies)
        return Field("unknown", why=f"the {e.name} field", implies=implies)
    if head in _OTHER_L4:
        # icmp implies IPv4 and icmpv6 IPv6, as nft adds ``meta nfproto`` for them
        other = {"icmp": 6, "igmp": 6, "icmpv6": 4}.get(head)
        if head == "arp" or other == family:
            return ABSENT
        return Field("free", implies=frozenset({head}))
    if head in _IP6_EXTHDRS or (head == "rt" and field_ not in _ROUTING_INFO):
        # an IPv6 extension header (``rt type 0`` is the routing header, not routing info)
        if family == 4:
            return ABSENT
        return Field("unknown", why=f"an IPv6 extension header ({e.name})")
    if head == "meta":
        return _meta(field_, family)
    if head == "ct":
        return _ct(words[1:], family, to)
    if head == "fib":
        if words[-1] == "type" and "saddr" not in words[1]:
            return Field("ctx", "hook", _fib_type)
        return Field("unknown", why=f"a routing lookup ({e.name})")
    if head in ("ether", "vlan"):
        return Field("unknown", why=f"the link layer ({e.name})")
    return Field("unknown", why=f"{e.name}")


def _masked(e: Masking, family: int, to: tuple[int, int] | None) -> Field:
    inner = field(e.left, family, to)
    if inner.kind in ("absent", "free"):
        return inner
    unknown = Field("unknown", why=f"a masked value ({_render_expr(e)})", implies=inner.implies)
    if inner.mask is not None:
        return unknown
    if inner.kind == "const" and inner.type in ("tcpflags", "int"):
        names = _TCP_FLAGS if inner.type == "tcpflags" else _CT_STATE
        return inner._replace(value=_bitop(e.op, inner.value, _bits(e.right, names)))
    if inner.kind == "dport":
        return inner._replace(mask=(e.op, _bits(e.right, _CT_STATE)))
    if inner.kind == "ctx" and inner.type == "ct_state":
        return inner._replace(mask=(e.op, _bits(e.right, _CT_STATE)))
    return unknown


def destination(family: int, to: tuple[int, int] | None) -> Field:
    if to is None:
        return Field("unknown", why="the destination address (give --to to evaluate it)")
    if to[0] != family:
        return Field("unknown", why=f"the IPv{family} destination address (--to is another)")
    return Field("const", "addr", to[1])


def _fib_type(hook: str) -> Field:
    return Field("const", "str", "unicast" if hook == "forward" else "local")


def _ct_state(state: str) -> Field:
    return Field("const", "ctstate", _CT_STATE[state])


def _output_interface(key: str) -> Callable[[str], Field]:
    def at(hook: str) -> Field:
        if hook in _NO_OUTPUT:
            return Field("const", "iface", "none")
        return Field("unknown", why=f"the output interface ({key})")

    return at


def _meta(key: str, family: int) -> Field:
    if key == "l4proto":
        return Field("proto")
    if key == "nfproto":
        return Field("const", "nfproto", "ipv4" if family == 4 else "ipv6")
    if key == "protocol":
        return Field("const", "ethertype", "ip" if family == 4 else "ip6")
    if key in ("iif", "iifname"):
        return Field("const", "iface", _REMOTE, f"the input interface ({key})")
    if key in ("oif", "oifname"):
        return Field("ctx", "hook", _output_interface(key))
    if key == "iiftype":
        return Field("const", "iftype", _REMOTE, "the input interface type")
    if key == "pkttype":
        return Field("const", "str", "host")
    return Field("unknown", why=_UNKNOWN_WHY.get(key, f"meta {key}"))


def _ct(words: list[str], family: int, to: tuple[int, int] | None) -> Field:
    if words and words[0] in ("original", "reply"):
        if words[0] == "reply":
            return Field("unknown", why=f"ct {' '.join(words)}")
        rest = words[1:]
        if rest and rest[0] in ("ip", "ip6"):
            if family != (4 if rest[0] == "ip" else 6):
                return ABSENT
            rest = rest[1:]
        key = rest[0] if rest else ""
        if key == "saddr":
            return Field("src")
        if key == "daddr":
            return destination(family, to)
        if key == "protocol":
            return Field("proto")
        if key == "proto-dst":
            return Field("dport")
        if key == "proto-src":
            return Field("psrc", why=f"the client's source port (ct {' '.join(words)})")
        return Field("unknown", why=f"ct {' '.join(words)}")
    key = words[0] if words else ""
    if key == "state":
        return Field("ctx", "ct_state", _ct_state)
    if key == "direction":
        return Field("const", "str", "original")
    if key == "l3proto":
        return Field("const", "nfproto", "ipv4" if family == 4 else "ipv6")
    if key == "protocol":
        return Field("proto")
    return Field("unknown", why=f"the connection's {key} (ct {key})")


def at_context(f: Field, value: str) -> Field:
    """A ``ctx`` field where the gate's context reads ``value``."""
    got: Field = f.value(value)
    if f.mask is not None and got.kind == "const":
        got = got._replace(value=_bitop(f.mask[0], got.value, f.mask[1]))
    return got


def const_match(f: Field, part: Value, family: int) -> bool | None:
    """Whether a known value matches one element (None: it depends on what the export does
    not show, ``f.why``)."""
    t, v = f.type, f.value
    if t in ("port", "proto", "int"):
        lo, hi = _numbers(part, t, "tcp")
        return bool(lo <= v <= hi)
    if t == "ctstate":
        return bool(v == _bits(part, _CT_STATE))
    if t == "tcpflags":
        return bool(v == _bits(part, _TCP_FLAGS))
    if t == "addr":
        return any(a <= v <= b for a, b in _addresses(part, family))
    if t == "iface":
        name = _text(part)
        if v == "none":
            return False  # no output interface on the input hook
        if name == "lo":
            return False  # a connection from another host never arrives on lo
        return None
    if t == "iftype":
        return False if _text(part) == "loopback" else None
    if t == "nfproto":
        return bool(_NFPROTO.get(_text(part).lower()) == v)
    if t == "ethertype":
        return bool(_ETHERTYPE.get(_text(part).lower()) == v)
    return bool(_text(part).lower() == v)


def compare_const(f: Field, op: str, right: Value) -> bool:
    """``<``, ``>``, ``<=``, ``>=`` on a known number."""
    if f.type not in ("port", "proto", "int"):
        raise _Problem(f"{op} needs a number")
    n, _ = _numbers(right, f.type, "tcp")
    v = f.value
    return bool({"<": v < n, "<=": v <= n, ">": v > n, ">=": v >= n}[op])


def port_range(op: str, n: int) -> tuple[int, int]:
    """The ports ``op n`` holds for (``<``, ``>``, ``<=``, ``>=``), possibly empty."""
    return {"<": (0, n - 1), "<=": (0, n), ">": (n + 1, 65535), ">=": (n, 65535)}[op]


def check_parts(atoms: Sequence[Value], n: int) -> Sequence[Value]:
    """The elements, each checked to have ``n`` parts."""
    for atom in atoms:
        got = len(atom.parts) if isinstance(atom, Cat) else 1
        if got != n:
            raise _Problem(f"the element {_render_value(atom)} has {got} parts for {n} fields")
    return atoms


def protocols_in(ranges: Sequence[Interval], negated: bool) -> frozenset[str]:
    """The names of the protocols whose numbers are in the ranges (outside them)."""
    return frozenset(
        name
        for name, number in _PROTOCOLS.items()
        if any(a <= number <= b for a, b in ranges) != negated
    )


def and_protocols(names: frozenset[str], implied: frozenset[str] | None) -> frozenset[str]:
    """The protocols of both (``implied`` None: every protocol)."""
    return names if implied is None else names & implied


def port_protocol(implied: frozenset[str] | None) -> str:
    """The protocol whose service names a port name is read with."""
    if implied is not None and len(implied) == 1 and "udp" in implied:
        return "udp"
    return "tcp"


def port_match(ranges: Sequence[Interval], negated: bool, mask: tuple[str, int] | None) -> Ports:
    """A destination-port match; under a mask (``tcp dport & 0xff00 == 0``), the ports whose
    masked value is in the ranges, found by trying every port."""
    if mask is None:
        return Ports(tuple(merge(list(ranges))), negated)
    op, value = mask
    out: list[Interval] = []
    for port in range(65536):
        masked = _bitop(op, port, value)
        if any(a <= masked <= b for a, b in ranges) != negated:
            if out and out[-1][1] == port - 1:
                out[-1] = (out[-1][0], port)
            else:
                out.append((port, port))
    return Ports(tuple(out))
