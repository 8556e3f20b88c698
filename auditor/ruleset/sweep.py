"""Sweeps over the address space: first match for every address at once, and the interval
algebra the ruleset engine and the readers share.

A chain is a list of *claims*: the source intervals a rule matches, in rule order, each with
the rule's outcome. For every address the first claim wins (first match), computed for all
addresses in one sweep (:func:`first_claims`), so a 50,000-rule chain costs a sort, not 50,000
set differences. Intervals are ``(first, last)`` pairs of integers, inclusive.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from auditor import ipspace
from auditor.model import Outcome, RuleRef, Segment

Interval = tuple[int, int]


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

    Intervals are sorted by start; a run of intervals that do not overlap (most rules of a
    real chain) is emitted as is, and only clusters of overlapping intervals go through a
    sweep with a heap of the active claims: O(n log n) in all. A last claim that covers
    everything from address 0 and ranks after all the others (a chain's end) only fills the
    gaps: it would otherwise overlap every interval and make the whole chain one cluster.
    """
    claims = list(claims)
    if len(claims) > 1:
        last = claims[-1]
        if (
            len(last.intervals) == 1
            and last.intervals[0][0] == 0
            and all(c.order < last.order for c in claims[:-1])
        ):
            return _fill(_first(claims[:-1]), last.intervals[0][1], last.outcome, last.rule)
    return _first(claims)


def _first(claims: Sequence[Claim]) -> list[Segment]:
    items: list[tuple[int, int, float, int]] = []
    add = items.append
    for k, claim in enumerate(claims):
        order = claim.order
        intervals = claim.intervals
        if len(intervals) == 1:
            a, b = intervals[0]
            add((a, b, order, k))
        else:
            items.extend((a, b, order, k) for a, b in intervals)
    items.sort()
    out: list[Segment] = []
    i = 0
    n = len(items)
    while i < n:
        a, b, _, k = items[i]
        j = i + 1
        top = b
        while j < n and items[j][0] <= top:
            top = max(top, items[j][1])
            j += 1
        if j == i + 1:
            c = claims[k]
            rule, outcome = c.rule, c.outcome
            if out:
                last = out[-1]
                if last.last == a - 1 and last.rule is rule and last.outcome == outcome:
                    out[-1] = Segment(last.first, b, outcome, rule)
                    i = j
                    continue
            out.append(Segment(a, b, outcome, rule))
        else:
            _sweep(items[i:j], claims, out)
        i = j
    return out


def _append(out: list[Segment], seg: Segment) -> None:
    """Add a segment, merging it into the previous one when they touch and agree."""
    if out:
        last = out[-1]
        if last.last == seg.first - 1 and last.rule is seg.rule and last.outcome == seg.outcome:
            out[-1] = Segment(last.first, seg.last, seg.outcome, seg.rule)
            return
    out.append(seg)


def _sweep(
    cluster: Sequence[tuple[int, int, float, int]], table: Sequence[Claim], out: list[Segment]
) -> None:
    """First claim per address over overlapping intervals: a heap of the active claims."""
    events: list[tuple[int, int, int]] = []  # (point, 0 start | 1 end, item index)
    for idx, (a, b, _, _) in enumerate(cluster):
        events.append((a, 0, idx))
        events.append((b + 1, 1, idx))
    events.sort()
    active: list[tuple[float, int]] = []  # (order, item index)
    ended: set[int] = set()
    pos = events[0][0]
    e = 0
    while e < len(events):
        point = events[e][0]
        if point > pos:
            while active and active[0][1] in ended:
                heapq.heappop(active)
            if active:
                c = table[cluster[active[0][1]][3]]
                _append(out, Segment(pos, point - 1, c.outcome, c.rule))
        while e < len(events) and events[e][0] == point:
            _, kind, idx = events[e]
            if kind == 0:
                heapq.heappush(active, (cluster[idx][2], idx))
            else:
                ended.add(idx)
            e += 1
        pos = point


def _fill(segments: Sequence[Segment], top: int, outcome: Outcome, rule: RuleRef) -> list[Segment]:
    """The segments, with every address up to ``top`` they leave out given ``outcome``."""
    out: list[Segment] = []
    add = out.append
    start = 0
    for seg in segments:
        first = seg.first
        if first > start:
            gap_end = min(first - 1, top)
            if (
                out
                and out[-1].last == start - 1
                and out[-1].rule is rule
                and out[-1].outcome == outcome
            ):
                out[-1] = Segment(out[-1].first, gap_end, outcome, rule)
            else:
                add(Segment(start, gap_end, outcome, rule))
            add(seg)  # it starts after a gap: nothing to merge with
        else:
            _append(out, seg)
        start = seg.last + 1
    if start <= top:
        _append(out, Segment(start, top, outcome, rule))
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
    if not segments or not intervals:
        return []
    if len(intervals) == 1:
        a, b = intervals[0]
        if a <= segments[0].first and segments[-1].last <= b:
            return list(segments)  # a jump every source takes: the whole chain as it is
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


def merge(intervals: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted, disjoint intervals (one interval, the common case, as it is)."""
    if len(intervals) <= 1:
        return list(intervals)
    iv = ipspace.normalize([a for a, _ in intervals], [b for _, b in intervals])
    return list(zip(*ipspace.as_lists(iv), strict=True))


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


_UNPRIVILEGED = (1024, 65535)
"""The source ports a client connects from: the system picks one (Linux 32768-60999, IANA
49152-65535, older systems from 1024), never a privileged one for an ordinary client."""


def client_ports(ranges: Sequence[tuple[int, int]], negated: bool) -> bool | None:
    """Whether a source port match (iptables ``--sport``, nftables ``th sport``, an Azure
    ``sourcePortRange``) meets every port a client may connect from (True), none
    of them (False), or only some (None: it depends on the port the client got)."""
    low, high = _UNPRIVILEGED
    listed = 0
    for a, b in merge([(max(a, low), min(b, high)) for a, b in ranges if a <= high and b >= low]):
        listed += b - a + 1
    matched = high - low + 1 - listed if negated else listed
    if matched == 0:
        return False
    return True if matched == high - low + 1 else None


def union(a: Sequence[Interval], b: Sequence[Interval]) -> list[Interval]:
    """Sorted, disjoint intervals covering both."""
    if not a:
        return list(b)
    if not b:
        return list(a)
    return merge([*a, *b])


def _ivs(a: Sequence[Interval]) -> ipspace.Intervals:
    return ipspace.Intervals([x for x, _ in a], [y for _, y in a])


def intersect(a: Sequence[Interval], b: Sequence[Interval]) -> list[Interval]:
    """The addresses in both (sorted, disjoint inputs)."""
    if not a or not b:
        return []
    starts, ends = ipspace.as_lists(ipspace.intersection(_ivs(a), _ivs(b)))
    return list(zip(starts, ends, strict=True))


def minus(a: Sequence[Interval], b: Sequence[Interval]) -> list[Interval]:
    """The addresses of ``a`` not in ``b`` (sorted, disjoint inputs)."""
    if not a or not b:
        return list(a)
    starts, ends = ipspace.as_lists(ipspace.difference(_ivs(a), _ivs(b)))
    return list(zip(starts, ends, strict=True))


def full(bits: int) -> list[Interval]:
    """The whole address space of a family of ``bits`` bits."""
    return [(0, (1 << bits) - 1)]
