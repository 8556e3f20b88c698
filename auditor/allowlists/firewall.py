"""What firewall readers share: first-match evaluation over the source address space.

A ruleset does not list an allowlist; it decides, for each packet, a verdict. The readers
answer the question an admin asks, "which source addresses can open a connection to this
service", by evaluating the rules in order for every source address at once:

- A chain is a list of *claims*: the source intervals a rule matches for the service, in
  rule order, each with the rule's outcome. For every address the first claim wins (first
  match), computed for all addresses in one sweep (:func:`first_claims`), so a 50,000-rule
  chain costs a sort, not 50,000 set differences.
- Outcomes: ``accept``, ``drop`` (DROP and REJECT), ``return`` (back to the calling chain;
  at the end of a built-in chain, its policy) and ``conditional`` (the deciding rule depends
  on something the export does not show: an interface, an ipset whose members were not
  given, a rate limit, a time). Conditional addresses are never counted as allowed.
- A service with several ports (``tcp/25,465,587``) is evaluated once per port; an address
  is allowed only when every port accepts it (:func:`combine`).

The result is a :class:`Verdicts` per family: disjoint segments, each with the rule that
decided it (file:line and the rule's text), which :func:`verdicts_rangeset` turns into the
RangeSet the core compares (the allowed part) plus what ``auditor explain`` shows.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from auditor import ipspace
from auditor.model import (
    Completeness,
    Entries,
    Entry,
    Finding,
    Origin,
    RangeSet,
    Severity,
    SourceInfo,
)

Outcome = Literal["accept", "drop", "return", "conditional"]


@dataclass(frozen=True)
class RuleRef:
    """The rule that decided: where it is and what it says."""

    origin: Origin
    text: str
    why: str = ""
    """For a conditional verdict: what the export does not show."""

    def describe(self) -> str:
        text = self.text if len(self.text) <= 160 else self.text[:157] + "..."
        return f"{self.origin}: {text}" + (f" [{self.why}]" if self.why else "")


@dataclass(frozen=True)
class Segment:
    first: int
    last: int
    outcome: Outcome
    rule: RuleRef


@dataclass(frozen=True)
class Claim:
    """Source intervals a rule matches, in rule order."""

    order: float
    """Rule position; claims of one rule may use fractions to rank among themselves."""
    intervals: Sequence[tuple[int, int]]
    outcome: Outcome
    rule: RuleRef


def first_claims(claims: Iterable[Claim]) -> list[Segment]:
    """For every address the claim with the lowest order that covers it; gaps stay unclaimed.

    One sweep over interval starts and ends with a heap of the active claims: O(n log n).
    """
    events: list[tuple[int, int, int]] = []  # (point, kind 0=start 1=end, claim index)
    table: list[Claim] = []
    for claim in claims:
        k = len(table)
        table.append(claim)
        for a, b in claim.intervals:
            events.append((a, 0, k))
            events.append((b + 1, 1, k))
    events.sort()
    out: list[Segment] = []
    active: list[tuple[float, int]] = []  # (order, claim index)
    count: dict[int, int] = {}
    pos = None
    i = 0
    while i < len(events):
        point = events[i][0]
        if pos is not None and point > pos:
            while active and count.get(active[0][1], 0) <= 0:
                heapq.heappop(active)
            if active:
                c = table[active[0][1]]
                last = out[-1] if out else None
                if (
                    last
                    and last.last == pos - 1
                    and last.rule is c.rule
                    and last.outcome == c.outcome
                ):
                    out[-1] = Segment(last.first, point - 1, c.outcome, c.rule)
                else:
                    out.append(Segment(pos, point - 1, c.outcome, c.rule))
        while i < len(events) and events[i][0] == point:
            _, kind, k = events[i]
            if kind == 0:
                count[k] = count.get(k, 0) + 1
                if count[k] == 1:
                    heapq.heappush(active, (table[k].order, k))
            else:
                count[k] -= 1
            i += 1
        pos = point
    return out


def complement(intervals: Sequence[tuple[int, int]], bits: int) -> list[tuple[int, int]]:
    """The addresses of a family outside sorted, disjoint intervals (``! -s``)."""
    out = []
    start = 0
    for a, b in sorted(intervals):
        if a > start:
            out.append((start, a - 1))
        start = max(start, b + 1)
    top = (1 << bits) - 1
    if start <= top:
        out.append((start, top))
    return out


def clip(segments: Sequence[Segment], intervals: Sequence[tuple[int, int]]) -> list[Segment]:
    """The segments cut to the given sorted, disjoint intervals."""
    out = []
    j = 0
    for a, b in intervals:
        while j < len(segments) and segments[j].last < a:
            j += 1
        k = j
        while k < len(segments) and segments[k].first <= b:
            s = segments[k]
            out.append(Segment(max(a, s.first), min(b, s.last), s.outcome, s.rule))
            k += 1
    return out


def merge(intervals: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    iv = ipspace.normalize(*zip(*intervals, strict=True)) if intervals else ipspace.EMPTY
    return list(zip(*ipspace.as_lists(iv), strict=True)) if len(iv) else []


@dataclass(frozen=True)
class Verdicts:
    """Per family, the disjoint segments of the address space with their deciding rule."""

    family: int
    segments: tuple[Segment, ...]

    def of(self, outcome: Outcome) -> list[Segment]:
        return [s for s in self.segments if s.outcome == outcome]

    def lookup(self, address: int) -> Segment | None:
        import bisect

        i = bisect.bisect_right([s.first for s in self.segments], address) - 1
        if i >= 0 and self.segments[i].last >= address:
            return self.segments[i]
        return None


def combine(per_probe: Sequence[Sequence[Segment]], bits: int) -> list[Segment]:
    """Several ports into one verdict: accepted only if every port accepts; a drop on any
    port wins over conditional, which wins over accept."""
    if len(per_probe) == 1:
        return list(per_probe[0])
    rank = {"drop": 0, "conditional": 1, "return": 2, "accept": 3}
    points = sorted(
        {0, 1 << bits} | {p for segs in per_probe for s in segs for p in (s.first, s.last + 1)}
    )
    idx = [0] * len(per_probe)
    out: list[Segment] = []
    for a, nxt in zip(points, points[1:], strict=False):
        worst: Segment | None = None
        for k, segs in enumerate(per_probe):
            while idx[k] < len(segs) and segs[idx[k]].last < a:
                idx[k] += 1
            if idx[k] < len(segs) and segs[idx[k]].first <= a:
                s = segs[idx[k]]
                if worst is None or rank[s.outcome] < rank[worst.outcome]:
                    worst = s
        if worst is None:
            continue
        if (
            out
            and out[-1].last == a - 1
            and out[-1].rule is worst.rule
            and out[-1].outcome == worst.outcome
        ):
            out[-1] = Segment(out[-1].first, nxt - 1, worst.outcome, worst.rule)
        else:
            out.append(Segment(a, nxt - 1, worst.outcome, worst.rule))
    return out


MAX_REASONS = 5


@dataclass
class FirewallResult:
    """What a firewall reader hands back: verdicts per family it covers, and findings."""

    info: SourceInfo
    verdicts: list[Verdicts] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    unsupported: list[str] = field(default_factory=list)


def verdicts_rangeset(result: FirewallResult) -> RangeSet:
    """The allowed part as entries (origin: the accepting rule); conditional addresses make the
    source partial, with the rules that made them so."""
    name = result.info.name
    entries: list[Entry] = []
    reasons: list[str] = []
    seen_rules: set[RuleRef] = set()
    for v in result.verdicts:
        for seg in v.segments:
            if seg.outcome == "accept":
                origin = Origin(name, seg.rule.origin.line, seg.rule.text)
                entries.append(Entry(v.family, seg.first, seg.last, origin))
            elif seg.outcome == "conditional" and seg.rule not in seen_rules:
                seen_rules.add(seg.rule)
                if len(reasons) < MAX_REASONS:
                    reasons.append(f"conditional: {seg.rule.describe()}")
    conditional = sum(1 for v in result.verdicts for s in v.segments if s.outcome == "conditional")
    if len(seen_rules) > MAX_REASONS:
        reasons.append(f"{len(seen_rules) - MAX_REASONS} more rules make addresses conditional")
    findings = list(result.findings)
    for text in result.unsupported:
        findings.append(Finding("unsupported", Severity.WARNING, text, Origin(name)))
    return RangeSet(
        info=result.info,
        entries=Entries.from_entries(name, entries),
        completeness=Completeness.PARTIAL if conditional else Completeness.COMPLETE,
        reasons=tuple(reasons),
        findings=tuple(findings),
        verdicts=tuple(result.verdicts),
        families=tuple(v.family for v in result.verdicts),
    )
