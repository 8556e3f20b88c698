"""The rules every cloud reader produces, lowered to the ruleset intermediate form
(:mod:`auditor.ruleset.ir`) and evaluated by :mod:`auditor.ruleset.engine` for a new inbound
connection to the service (``--service``, default tcp/25): first match over rules of which some
may not apply (:func:`auditor.ruleset.engine.first_match`), and agreement of several ACLs of
which the export does not say which applies (:func:`auditor.ruleset.engine.agree`).

For every reader, the service ``any`` asks whether an address may open every connection: an
allow counts when it covers every protocol and port, a deny of anything counts (a rule for some
protocols or ports matches only some connections: :attr:`auditor.ruleset.ir.Traffic.narrow`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

from auditor import ipspace
from auditor.allowlists.base import ReadContext
from auditor.allowlists.cloud.document import Doc, Interval
from auditor.allowlists.firewall import FirewallResult, verdicts_rangeset
from auditor.model import (
    Entries,
    Entry,
    Origin,
    Outcome,
    RangeSet,
    RuleRef,
    Segment,
    SourceInfo,
    Verdicts,
)
from auditor.ruleset import engine, ir
from auditor.ruleset.sweep import clip, complement, merge
from auditor.service import Service

Sources = Mapping[int, Sequence[Interval]]
FULL: dict[int, tuple[Interval, ...]] = {4: ((0, ipspace.MAX[4]),), 6: ((0, ipspace.MAX[6]),)}
_ACTIONS = {"accept": ir.ACCEPT, "drop": ir.DROP}


@dataclass(frozen=True)
class Rule:
    """A rule as the cloud evaluates it: a rank, allow or deny, what it matches."""

    order: float
    outcome: Outcome
    """``accept`` or ``drop``."""
    protocol: str
    """``all``, ``tcp``, ``udp`` or another name/number (which never carries the service)."""
    ports: tuple[Interval, ...] | None
    """Destination ports; None: every port."""
    sources: Sources
    ref: RuleRef
    why: str = ""
    """Non-empty: the rule may or may not apply (a tag, a group), for this reason."""


def carries(service: Service | None, proto: str, ports: tuple[Interval, ...] | None) -> bool:
    """Whether a rule for ``proto`` and ``ports`` lets in some of the service (None: tcp/25):
    what makes a rule's sources a scope's addresses."""
    service = service or Service.parse("tcp/25")
    if service.protocol == "any" or proto == "all":
        return True
    if proto != service.protocol:
        return False
    return ports is None or any(a <= hi and lo <= b for a, b in ports for lo, hi in service.ports)


def lower(rules: Sequence[Rule]) -> dict[int, list[ir.Rule]]:
    """The rules of each family in the order the cloud evaluates them (by rank; rules of one
    rank in the order given)."""
    out: dict[int, list[ir.Rule]] = {4: [], 6: []}
    traffics: dict[tuple[str, tuple[Interval, ...] | None], ir.Traffic] = {}
    for r in sorted(rules, key=lambda r: r.order):
        traffic = traffics.get((r.protocol, r.ports))
        if traffic is None:
            traffic = traffics[r.protocol, r.ports] = ir.Traffic(
                protocols=None if r.protocol == "all" else frozenset((r.protocol,)),
                dports=() if r.ports is None else (ir.Ports(r.ports),),
            )
        action = _ACTIONS[r.outcome]
        whys = (r.why,) if r.why else ()
        for fam, sources in r.sources.items():
            if sources:
                out[fam].append(ir.Rule(r.ref, action, tuple(sources), traffic=traffic, whys=whys))
    return out


def evaluate(rules: Sequence[Rule], default: RuleRef, service: Service | None) -> list[Verdicts]:
    """Verdicts per family for the service; what no rule matches is denied by ``default``."""
    lowered = lower(rules)
    return [engine.first_match(lowered[fam], fam, "drop", default, service) for fam in (4, 6)]


def agree(
    named: Sequence[tuple[str, Sequence[Verdicts]]], what: str, choose: str
) -> list[Verdicts]:
    """Several alternatives (one of them applies, the export does not say which), per family:
    an address is decided where they all decide alike, conditional elsewhere."""
    if len(named) == 1:
        return list(named[0][1])
    return [
        Verdicts(fam, tuple(engine.agree([(n, v[k].segments) for n, v in named], what, choose)))
        for k, fam in enumerate((4, 6))
    ]


def _sources(pairs: Sequence[tuple[int, Interval]]) -> dict[int, tuple[Interval, ...]]:
    return {fam: tuple(merge([iv for f, iv in pairs if f == fam])) for fam in (4, 6)}


def _result(
    data: bytes,
    ctx: ReadContext,
    fmt: str,
    verdicts: Sequence[Verdicts],
    doc: Doc,
    groups: Mapping[str, Sequence[Verdicts]] | None = None,
    objects: Callable[[], tuple[list[Entry], list[str]]] | None = None,
) -> RangeSet:
    """The RangeSet of a ruleset; with ``groups``, each group's own accepted addresses are
    entries of that group, and what only their union accepts is without a group; with
    ``objects``, the named objects (rules) a scope may name, made when one is asked for."""
    info = SourceInfo.for_bytes(ctx.name, ctx.role, fmt, data, ctx.now)
    found = FirewallResult(info, list(verdicts), doc.findings, doc.unsupported, objects)
    rs = verdicts_rangeset(found)

    def entry(fam: int, seg: Segment, group: str | None) -> Entry:
        path = f"{seg.rule.origin.path}: {seg.rule.text}"
        return Entry(fam, seg.first, seg.last, Origin(ctx.name, None, path), group)

    entries: list[Entry] = []
    for k, v in enumerate(verdicts):
        covered: list[Interval] = []
        for group, own in (groups or {}).items():
            for seg in own[k].of("accept"):
                entries.append(entry(v.family, seg, group))
                covered.append((seg.first, seg.last))
        rest = complement(merge(covered), ipspace.BITS[v.family])
        entries.extend(entry(v.family, s, None) for s in clip(v.of("accept"), rest))
    return replace(rs, entries=Entries.from_entries(ctx.name, entries, tuple(groups or ())))
