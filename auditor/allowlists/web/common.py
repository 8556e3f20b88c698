"""Web server access rules: nginx ``allow``/``deny`` and Apache ``Require`` (and the old
``Order``/``Allow``/``Deny``), evaluated for every source address.

A web server applies different rules to different URLs, so a file has several *contexts*
(an nginx ``location``, an Apache ``<Directory>``). Each context is evaluated on its own;
an address gets a verdict only where every context agrees on it (allowed for every URL,
denied for every URL) and is conditional where they differ ("depends on the URL"), with
the contexts named. Nothing is taken from one context and applied to another.

This module holds what both readers share: the contexts, their agreement and the interval
helpers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from auditor import ipspace
from auditor.allowlists.base import ReadContext
from auditor.allowlists.firewall import (
    FirewallResult,
    RuleRef,
    Segment,
    Verdicts,
    complement,
    merge,
    verdicts_rangeset,
)
from auditor.model import Finding, Origin, RangeSet, Severity, SourceInfo

Interval = tuple[int, int]
FAMILIES = (4, 6)


def _full(family: int) -> list[Interval]:
    return [(0, ipspace.MAX[family])]


def _intersect(a: Sequence[Interval], b: Sequence[Interval]) -> list[Interval]:
    out: list[Interval] = []
    i = j = 0
    while i < len(a) and j < len(b):
        lo, hi = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if lo <= hi:
            out.append((lo, hi))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return out


def _union(*parts: Sequence[Interval]) -> list[Interval]:
    return merge([iv for part in parts for iv in part])


def _minus(a: Sequence[Interval], b: Sequence[Interval], bits: int) -> list[Interval]:
    return _intersect(a, complement(list(b), bits))


@dataclass(frozen=True)
class Context:
    """One place where access rules apply (a location, a directory) and its verdicts."""

    label: str
    segments: dict[int, list[Segment]]
    """Per family, segments covering the whole address space."""


def agree(contexts: Sequence[Context], family: int, source: str) -> list[Segment]:
    """One verdict per address where every context gives the same outcome (the first
    context's rule names it); conditional where they differ, naming the contexts."""
    lists = [c.segments[family] for c in contexts]
    if len(lists) == 1:
        return list(lists[0])
    points = sorted({p for segs in lists for s in segs for p in (s.first, s.last + 1)})
    idx = [0] * len(lists)
    out: list[Segment] = []
    for a, nxt in zip(points, points[1:], strict=False):
        here: list[Segment] = []
        for k, segs in enumerate(lists):
            while idx[k] < len(segs) and segs[idx[k]].last < a:
                idx[k] += 1
            here.append(segs[idx[k]])
        outcomes = {s.outcome for s in here}
        if len(outcomes) == 1:
            seg = Segment(a, nxt - 1, here[0].outcome, here[0].rule)
        else:
            shown = [
                f"{c.label}: {s.outcome} ({s.rule.origin})"
                for c, s in zip(contexts, here, strict=True)
            ]
            why = "depends on the URL: " + "; ".join(shown[:3])
            if len(shown) > 3:
                why += f"; {len(shown) - 3} more"
            ref = RuleRef(Origin(source), "several contexts", why)
            seg = Segment(a, nxt - 1, "conditional", ref)
        last = out[-1] if out else None
        if last and last.rule == seg.rule and last.outcome == seg.outcome:
            out[-1] = Segment(last.first, seg.last, seg.outcome, seg.rule)
        else:
            out.append(seg)
    return out


def _rangeset(
    data: bytes,
    ctx: ReadContext,
    fmt: str,
    contexts: Sequence[Context],
    findings: list[Finding],
    unsupported: list[str],
) -> RangeSet:
    info = SourceInfo.for_bytes(ctx.name, ctx.role, fmt, data, ctx.now)
    if len(contexts) > 1:
        findings.append(
            Finding(
                "contexts",
                Severity.INFO,
                f"{len(contexts)} contexts apply rules ("
                + ", ".join(c.label for c in contexts[:5])
                + (", ..." if len(contexts) > 5 else "")
                + "): an address counts as allowed only where all of them allow it",
                Origin(ctx.name),
            )
        )
    verdicts = [Verdicts(f, tuple(agree(contexts, f, ctx.name))) for f in FAMILIES]
    return verdicts_rangeset(FirewallResult(info, verdicts, findings, unsupported))
