"""The rules every cloud reader produces and their evaluation for a new inbound connection to
the service (``--service``, default tcp/25) like the other rulesets
(:mod:`auditor.allowlists.firewall`): first match over rules of which some may not apply, and
agreement of several ACLs of which the export does not say which applies.

For every reader, the service ``any`` asks whether an address may open every connection: an
allow counts when it covers every protocol and port, a deny of anything counts.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace

from auditor import ipspace
from auditor.allowlists.base import ReadContext
from auditor.allowlists.cloud.document import Doc, Interval
from auditor.allowlists.firewall import (
    Claim,
    FirewallResult,
    Outcome,
    RuleRef,
    Segment,
    Verdicts,
    clip,
    combine,
    complement,
    fill_gaps,
    first_claims,
    merge,
    verdicts_rangeset,
)
from auditor.model import Entries, Entry, Origin, RangeSet, SourceInfo
from auditor.service import Service

Sources = Mapping[int, Sequence[Interval]]
FULL: dict[int, tuple[Interval, ...]] = {4: ((0, ipspace.MAX[4]),), 6: ((0, ipspace.MAX[6]),)}
NOWHERE: dict[int, tuple[Interval, ...]] = {4: (), 6: ()}


@dataclass(frozen=True)
class Probe:
    """One protocol and port to evaluate; ``any`` (port None) stands for every connection."""

    protocol: str
    port: int | None


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
    """A non-empty ``ref.why``: the rule may or may not apply (a tag, a group)."""
    group: str | None = None

    def applies(self, probe: Probe) -> bool:
        if probe.protocol == "any":
            return self.outcome == "drop" or (self.protocol == "all" and self.ports is None)
        if self.protocol not in ("all", probe.protocol):
            return False
        port = probe.port or 0
        return self.ports is None or any(a <= port <= b for a, b in self.ports)


def probes(service: Service | None, rules: Sequence[Rule]) -> list[Probe]:
    """One probe per port class of the service: a range is probed at its start and wherever
    a rule's port range starts or ends inside it."""
    if service is None:
        return [Probe("tcp", 25)]
    if service.protocol == "any":
        return [Probe("any", None)]
    bounds = {p for r in rules if r.ports for a, b in r.ports for p in (a, b + 1)}
    out: list[Probe] = []
    for a, b in service.ports:
        points = {a} | {p for p in bounds if a < p <= b}
        out.extend(Probe(service.protocol, p) for p in sorted(points))
    return out


def _push(out: list[Segment], seg: Segment) -> None:
    if out and out[-1].last == seg.first - 1:
        last = out[-1]
        if last.outcome == seg.outcome and last.rule == seg.rule:
            out[-1] = Segment(last.first, seg.last, seg.outcome, seg.rule)
            return
    out.append(seg)


def _overlay(layers: Sequence[Sequence[Segment]]) -> Iterator[tuple[int, int, list[Segment]]]:
    """Pieces of the address space with the segment of every layer (each covers it all)."""
    idx = [0] * len(layers)
    pos = 0
    top = layers[0][-1].last
    while pos <= top:
        segs = [layer[i] for layer, i in zip(layers, idx, strict=True)]
        end = min(s.last for s in segs)
        yield pos, end, segs
        for k, s in enumerate(segs):
            if s.last == end:
                idx[k] += 1
        pos = end + 1


def first_match(rules: Sequence[Rule], family: int, default: RuleRef) -> list[Segment]:
    """First match over rules of which some may not apply. An address is decided when every
    way the uncertain rules could go ends in the same outcome; otherwise it is conditional,
    named by an uncertain rule that would change it."""
    bits = ipspace.BITS[family]

    live = [r for r in rules if r.sources.get(family)]
    definite = [Claim(r.order, r.sources[family], r.outcome, r.ref) for r in live if not r.ref.why]
    base = fill_gaps(first_claims(definite), bits, "drop", default)
    layers: list[tuple[Outcome, list[Segment]]] = []
    maybes: tuple[Outcome, ...] = ("accept", "drop")
    for maybe in maybes:
        cond = [
            Claim(r.order, r.sources[family], "conditional", r.ref)
            for r in live
            if r.ref.why and r.outcome == maybe
        ]
        if cond:
            layers.append((maybe, fill_gaps(first_claims(definite + cond), bits, "drop", default)))
    if not layers:
        return base
    out: list[Segment] = []
    for first, last, segs in _overlay([base] + [segs for _, segs in layers]):
        decided = segs[0]
        seg = Segment(first, last, decided.outcome, decided.rule)
        for (maybe, _), s in zip(layers, segs[1:], strict=True):
            if s.outcome == "conditional" and maybe != decided.outcome:
                seg = Segment(first, last, "conditional", s.rule)
                break
        _push(out, seg)
    return out


def evaluate(rules: Sequence[Rule], default: RuleRef, service: Service | None) -> list[Verdicts]:
    """Verdicts per family for the service: every port probed, accepted only where all accept."""
    points = probes(service, rules)
    out = []
    for fam in (4, 6):
        per_probe = [first_match([r for r in rules if r.applies(p)], fam, default) for p in points]
        out.append(Verdicts(fam, tuple(combine(per_probe, ipspace.BITS[fam]))))
    return out


def agree(
    named: Sequence[tuple[str, Sequence[Verdicts]]], what: str, choose: str
) -> list[Verdicts]:
    """Several alternatives (one of them applies, the export does not say which): an address
    is decided where they all decide alike, conditional elsewhere."""
    if len(named) == 1:
        return list(named[0][1])
    out = []
    refs: dict[tuple[RuleRef, ...], RuleRef] = {}
    for k, fam in enumerate((4, 6)):
        layers = [list(verdicts[k].segments) for _, verdicts in named]
        segs_out: list[Segment] = []
        for first, last, segs in _overlay(layers):
            if all(s.outcome == segs[0].outcome for s in segs):
                _push(segs_out, Segment(first, last, segs[0].outcome, segs[0].rule))
                continue
            key = tuple(s.rule for s in segs)
            ref = refs.get(key)
            if ref is None:
                said = "; ".join(
                    f"{name}: {s.outcome} ({s.rule.text})"
                    for (name, _), s in zip(named, segs, strict=True)
                )
                why = f"the {what}s disagree ({said}); {choose}"
                ref = RuleRef(segs[0].rule.origin, segs[0].rule.text, why)
                refs[key] = ref
            _push(segs_out, Segment(first, last, "conditional", ref))
        out.append(Verdicts(fam, tuple(segs_out)))
    return out


def _sources(pairs: Sequence[tuple[int, Interval]]) -> dict[int, tuple[Interval, ...]]:
    return {fam: tuple(merge([iv for f, iv in pairs if f == fam])) for fam in (4, 6)}


def _result(
    data: bytes,
    ctx: ReadContext,
    fmt: str,
    verdicts: Sequence[Verdicts],
    doc: Doc,
    groups: Mapping[str, Sequence[Verdicts]] | None = None,
) -> RangeSet:
    """The RangeSet of a ruleset; with ``groups``, each group's own accepted addresses are
    entries of that group, and what only their union accepts is without a group."""
    info = SourceInfo.for_bytes(ctx.name, ctx.role, fmt, data, ctx.now)
    rs = verdicts_rangeset(FirewallResult(info, list(verdicts), doc.findings, doc.unsupported))

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
