"""What the nftables evaluator works with: where a match holds per source address (three-valued
conditions and their algebra), what a selector is for a probe, the probes of the service, and the
environment of one evaluation."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

from auditor import ipspace
from auditor.allowlists.base import ReadContext
from auditor.allowlists.firewall import (
    complement,
    merge,
)
from auditor.allowlists.nftables.ast import (
    AnonSet,
    Cat,
    Chain,
    Match,
    Ref,
    Ruleset,
    Value,
    VMap,
    _Problem,
)
from auditor.allowlists.nftables.values import IV, _numbers


class Cond(NamedTuple):
    """Where a match holds, per source address: surely (``yes``) or depending on something the
    export does not show (``maybe``); elsewhere it surely does not. Kleene's three-valued logic,
    one interval list per value."""

    yes: IV
    maybe: IV


NEVER = Cond([], [])


def _union(a: IV, b: IV) -> IV:
    if not a:
        return b
    if not b:
        return a
    return merge([*a, *b])


def _inter(a: IV, b: IV) -> IV:
    if not a or not b:
        return []
    iv = ipspace.intersection(_ivs(a), _ivs(b))
    s, e = ipspace.as_lists(iv)
    return list(zip(s, e, strict=True))


def _minus(a: IV, b: IV) -> IV:
    if not a or not b:
        return a
    iv = ipspace.difference(_ivs(a), _ivs(b))
    s, e = ipspace.as_lists(iv)
    return list(zip(s, e, strict=True))


def _ivs(a: IV) -> ipspace.Intervals:
    return ipspace.Intervals([x for x, _ in a], [y for _, y in a])


def _and(x: Cond, y: Cond) -> Cond:
    yes = _inter(x.yes, y.yes)
    either = _inter(_union(x.yes, x.maybe), _union(y.yes, y.maybe))
    return Cond(yes, _minus(either, yes))


def _not(x: Cond, bits: int) -> Cond:
    return Cond(complement(_union(x.yes, x.maybe), bits), x.maybe)


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


class Term(NamedTuple):
    """What a selector is for the probe: a known value (``const`` of a ``type``), the source
    address (``src``), unknown (``why``), absent (the packet has no such header), or, for
    ``--service any``, a protocol or port that takes every value (``some``: a match on it holds
    for some of the connections)."""

    kind: Literal["const", "src", "unknown", "absent", "some"]
    type: str = ""
    value: Any = None
    why: str = ""


_ABSENT = Term("absent")
_SPORT = Term("const", "sport")
"""The client's source port: one of the unprivileged ports the client's system picks, so a
match on it holds always, never or depending on the port (see ``firewall.client_ports``)."""
_REMOTE = "remote"
"""The input interface of a connection from another host: not ``lo``, otherwise unknown."""


class Probe(NamedTuple):
    """One (protocol, destination port) the service is tried with; ``any`` (port 0) stands for
    every connection."""

    protocol: str
    port: int


def probes(ctx: ReadContext, rs: Ruleset) -> list[Probe]:
    """One probe per port class of the service: ports no rule tells apart share a verdict, so a
    range is probed at its ends and wherever a port range of a rule starts or ends inside it.
    ``any`` is one probe, for every protocol and port at once."""
    service = ctx.service
    if service is None:
        return [Probe("tcp", 25)]
    if service.protocol == "any":
        return [Probe("any", 0)]
    edges: set[int] = set()
    if any(a != b for a, b in service.ports):
        edges = _port_edges(rs, service.protocol)
    out: list[Probe] = []
    for a, b in service.ports:
        ports = {a, b} | {p for p in edges if a < p <= b}
        out.extend(Probe(service.protocol, p) for p in sorted(ports))
    return out


def _port_edges(rs: Ruleset, protocol: str) -> set[int]:
    """Where the port ranges the ruleset names start, and just past where they end."""
    edges: set[int] = set()

    def add(values: Sequence[Value]) -> None:
        for v in values:
            for part in v.parts if isinstance(v, Cat) else (v,):
                try:
                    lo, hi = _numbers(part, "port", protocol)
                except _Problem:
                    continue
                edges.update((lo, hi + 1))

    for table in rs.tables.values():
        for nset in table.sets.values():
            if "inet_service" in nset.type or "dport" in nset.type:
                add([e.key for e in nset.elems])
        for chain in table.chains.values():
            for rule in chain.rules:
                for item in rule.items:
                    right = item.right if isinstance(item, Match) else None
                    right = item.data if isinstance(item, VMap) else right
                    if isinstance(right, AnonSet):
                        add([e.key for e in right.elems])
                    elif right is not None and not isinstance(right, Ref):
                        add([right])
    return edges


@dataclass
class _Env:
    family: int
    probe: Probe
    hook: str
    to: tuple[int, int] | None
    """--to as (family, value)."""
    ct_state: str = "new"
    """What ``ct state`` reads: ``invalid`` before conntrack has seen the packet."""


_CONNTRACK_PRIORITY = -200
"""NF_IP_PRI_CONNTRACK: prerouting chains below it run before conntrack, where ``ct state``
reads ``invalid`` (nf_tables' nft_ct_get_eval without a conntrack entry); on ingress always."""


def _ct_state(chain: Chain) -> str:
    hook = chain.hook or "input"
    if hook == "ingress" or (hook == "prerouting" and chain.priority < _CONNTRACK_PRIORITY):
        return "invalid"
    return "new"


@dataclass
class _Shared:
    """What the evaluators of one ruleset share: the ruleset, and the source intervals of each
    set they have matched (a big set is read once, not once per port and hook)."""

    rs: Ruleset
    name: str
    dynamic: frozenset[tuple[str, str, str]]
    sources: dict[tuple[object, ...], Cond] = field(default_factory=dict)
