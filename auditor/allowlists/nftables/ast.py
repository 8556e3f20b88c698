"""What an nftables ruleset says, as read from ``nft list ruleset`` text or ``nft -j`` JSON: values,
expressions, statements, rules, chains, sets and tables (what both parsers build and the evaluator
reads), with the words of the nft language both need."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeAlias

# Headers of protocols a TCP or UDP probe never carries: a match on them never matches.
_OTHER_L4 = frozenset(
    {"icmp", "icmpv6", "igmp", "ah", "esp", "comp", "gre", "gretap", "geneve", "vxlan", "arp"}
)
_IP6_EXTHDRS = frozenset({"hbh", "rt0", "rt2", "rt4", "srh", "frag", "dst", "mh", "exthdr"})
_META_BARE = frozenset(
    {"iif", "iifname", "oif", "oifname", "iiftype", "oiftype", "iifgroup", "oifgroup", "mark",
     "skuid", "skgid", "nfproto", "l4proto", "pkttype", "cpu", "cgroup", "rtclassid", "ibrname",
     "obrname", "ibriport", "obriport", "ibrpvid", "ibrvproto", "priority", "nftrace", "time",
     "day", "hour", "random", "ipsec", "secmark", "length", "sdif", "sdifname", "iifkind",
     "oifkind", "broute"}
)  # fmt: skip
_NAT = frozenset({"dnat", "snat", "masquerade", "redirect", "tproxy"})


@dataclass(frozen=True)
class Val:
    """One literal as written: an address, prefix, ``a-b`` range, number, name or string."""

    text: str
    quoted: bool = False


@dataclass(frozen=True)
class Rng:
    lo: Value
    hi: Value


@dataclass(frozen=True)
class Pfx:
    addr: str
    length: int


@dataclass(frozen=True)
class Cat:
    """A concatenated value, ``192.0.2.1 . 22``."""

    parts: tuple[Value, ...]


@dataclass(frozen=True)
class Bits:
    """Flags or'ed together: ``established,related`` or ``syn | ack``."""

    items: tuple[Value, ...]


@dataclass(frozen=True)
class Masked:
    """``syn / fin,syn,rst,ack``: the value under a mask."""

    value: Value
    mask: Value


@dataclass(frozen=True)
class Verdict:
    kind: str
    """accept, drop, reject, return, continue, jump, goto."""
    target: str | None = None


@dataclass(frozen=True)
class Elem:
    key: Value
    data: Value | Verdict | None = None
    line: int | None = field(default=None, compare=False)
    """Where the element is written, for findings about it (its JSON object's line)."""
    path: str | None = field(default=None, compare=False)
    """In nft JSON: the element's path, ``nftables[2].elem[0]``."""


@dataclass(frozen=True)
class AnonSet:
    elems: tuple[Elem, ...]


@dataclass(frozen=True)
class Ref:
    """``@name``: a named set or map of the table."""

    name: str


Value: TypeAlias = Val | Rng | Pfx | Cat | Bits | Masked | AnonSet | Ref


@dataclass(frozen=True)
class Sel:
    """A left-hand expression by canonical name: ``ip saddr``, ``meta l4proto``, ``ct state``,
    ``fib daddr type``; ``raw`` and the like for those only ever conditional."""

    name: str


@dataclass(frozen=True)
class Masking:
    left: Expr
    op: str
    right: Value


@dataclass(frozen=True)
class Concat:
    parts: tuple[Expr, ...]


Expr: TypeAlias = Sel | Masking | Concat


@dataclass(frozen=True)
class Match:
    left: Expr
    op: str
    """==, !=, <, >, <=, >=, in (flags: any of the bits), exists, missing."""
    right: Value


@dataclass(frozen=True)
class Maybe:
    """A condition the export cannot settle (a rate limit, a quota, a meter)."""

    why: str


@dataclass(frozen=True)
class Opaque:
    """A terminal statement whose outcome is no plain verdict (queue, NAT, notrack)."""

    why: str


@dataclass(frozen=True)
class VMap:
    key: Expr
    data: Value


@dataclass(frozen=True)
class NotUnderstood:
    what: str


Item: TypeAlias = Match | Maybe | Verdict | Opaque | VMap | NotUnderstood


@dataclass
class Rule:
    items: list[Item]
    line: int | None
    text: str
    path: str | None = None


@dataclass
class Chain:
    name: str
    line: int | None = None
    path: str | None = None
    hook: str | None = None
    type: str | None = None
    priority: int = 0
    policy: str = "accept"
    devices: tuple[str, ...] = ()
    rules: list[Rule] = field(default_factory=list)


@dataclass
class NamedSet:
    name: str
    kind: str
    """set or map."""
    type: str = ""
    flags: frozenset[str] = frozenset()
    elems: list[Elem] = field(default_factory=list)
    line: int | None = None


@dataclass
class Table:
    family: str
    name: str
    line: int | None = None
    chains: dict[str, Chain] = field(default_factory=dict)
    sets: dict[str, NamedSet] = field(default_factory=dict)
    dormant: bool = False

    @property
    def label(self) -> str:
        return f"{self.family} {self.name}"


@dataclass
class Ruleset:
    tables: dict[tuple[str, str], Table] = field(default_factory=dict)
    unsupported: list[str] = field(default_factory=list)
    includes: list[str] = field(default_factory=list)
    """``include`` lines not followed, as "file:line: include "x"."""
    dynamic: set[tuple[str, str, str]] = field(default_factory=set)
    """Sets rules add to at run time (``add @set``, ``update @set``): (family, table, set)."""
    anon: int = 0

    def table(self, family: str, name: str, line: int | None) -> Table:
        key = (family, name)
        if key not in self.tables:
            self.tables[key] = Table(family, name, line)
        return self.tables[key]


class _Problem(Exception):
    """A value or construct the reader cannot read; turned into a ReaderError with the line."""
