"""The core: compare expected with declared, and explain one address."""

from __future__ import annotations

import bisect
import heapq
import itertools
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from functools import reduce
from typing import Literal

from auditor import ipspace
from auditor.errors import UsageError
from auditor.ipspace import IPSpace
from auditor.model import (
    AuditOptions,
    AuditResult,
    Completeness,
    Coverage,
    Entry,
    Finding,
    Layer,
    MissingBlock,
    Origin,
    RangeSet,
    Severity,
)


def _union(sets: Sequence[RangeSet]) -> IPSpace:
    return reduce(lambda acc, rs: acc | rs.space, sets, IPSpace())


def _in_families(space: IPSpace, families: Collection[int]) -> IPSpace:
    kept = [space.family(f) if f in families else ipspace.EMPTY for f in (4, 6)]
    return IPSpace(kept[0], kept[1])


def _layered(sets: Sequence[RangeSet]) -> IPSpace:
    """What gets through every layer: per family, the intersection of the sources that speak
    for it (an iptables export has no say on IPv6 when an ip6tables export is given too)."""
    kept = []
    for fam in (4, 6):
        spaces = [rs.space for rs in sets if fam in rs.families]
        kept.append(reduce(lambda a, b: a & b, spaces).family(fam) if spaces else ipspace.EMPTY)
    return IPSpace(kept[0], kept[1])


def compare(
    expected: Sequence[RangeSet],
    declared: Sequence[RangeSet],
    options: AuditOptions | None = None,
) -> AuditResult:
    """Missing = expected - declared; extra = scoped declared - expected; over-broad entries."""
    options = options or AuditOptions()
    expected_space = _union(expected)
    declared_space = _layered(declared) if options.layered else _union(declared)
    extra = None
    scope_groups: tuple[str, ...] = ()
    if options.scope:
        scope_groups = resolve_scope(declared, options.scope)
        extra = _scoped(declared, scope_groups) - expected_space
    # a family no declared source speaks for (an iptables export without its ip6tables twin)
    # is unknown, not missing
    covered = {f for rs in declared for f in rs.families} if declared else {4, 6}
    uncovered = tuple(f for f in (4, 6) if f not in covered and len(expected_space.family(f)))
    missing = expected_space - declared_space
    if uncovered:
        missing = _in_families(missing, [f for f in (4, 6) if f not in uncovered])
    layers: tuple[Layer, ...] = ()
    if options.layered:
        layers = tuple(
            Layer(
                rs.info.name,
                rs.families,
                _in_families(expected_space, rs.families) - rs.space,
            )
            for rs in declared
        )
    return AuditResult(
        expected=tuple(expected),
        declared=tuple(declared),
        expected_space=expected_space,
        declared_space=declared_space,
        missing=missing,
        extra=extra,
        uncovered=uncovered,
        over_broad=tuple(_over_broad(declared, declared_space, options))
        + tuple(whole_space_findings(expected)),
        options=options,
        scope_groups=scope_groups,
        layers=layers,
        make_missing_blocks=lambda r: tuple(missing_blocks(r)),
        make_extra_blocks=lambda r: tuple(extra_blocks(r)),
        make_partial=lambda r: tuple(partial_coverage(r)),
    )


# Scope names listed in the hint of an unknown scope; the rest are counted.
MAX_SCOPES_LISTED = 40


def resolve_scope(declared: Sequence[RangeSet], scope: Sequence[str]) -> tuple[str, ...]:
    """The group or object each scope name means: its whole name (a YAML group, an ipset, a
    chain, ``sg-...``, ``table/set``, a cidr table's path), else the one whose name ends in
    ``/`` and it (an nftables set by its own name, a table file by its file name); a
    ``cidr:`` in front of a table's path is dropped. Unknown or ambiguous: a usage error."""
    known = sorted({g for rs in declared for g in rs.groups})
    out: dict[str, None] = {}
    for name in scope:
        bare = name.removeprefix("cidr:")
        if name in known or bare in known:
            out[name if name in known else bare] = None
            continue
        found = [g for g in known if g.endswith("/" + bare)]
        if len(found) > 1:
            raise UsageError(
                f"scope {name!r} names more than one object: {', '.join(found)}",
                hint="give the whole name of the one you mean",
            )
        if not found:
            if not known:
                choices = "none: the declared sources have no groups or named objects"
            else:
                choices = ", ".join(known[:MAX_SCOPES_LISTED])
                if len(known) > MAX_SCOPES_LISTED:
                    choices += f" and {len(known) - MAX_SCOPES_LISTED} more"
            raise UsageError(
                f"unknown scope {name!r}",
                hint="scopes in the declared sources (groups, sets, chains, security groups,"
                f" tables): {choices}",
            )
        out[found[0]] = None
    return tuple(out)


def _scoped(declared: Sequence[RangeSet], scope: Sequence[str]) -> IPSpace:
    space = IPSpace()
    for group in scope:
        for rs in declared:
            if group in rs.groups:
                space = space | rs.scope(group)
    return space


def _over_broad(
    declared: Sequence[RangeSet], declared_space: IPSpace, options: AuditOptions
) -> Iterator[Finding]:
    """Declared entries broader than the limit, then runs of entries that together are."""
    for fam in (4, 6):
        limit = options.over_broad(fam)
        flagged: list[tuple[int, int]] = []
        for rs in declared:
            for i in rs.entries.broader_than(fam, limit):
                entry = rs.entries.entry(fam, i)
                flagged.append((entry.first, entry.last))
                if entry.size == 1 << ipspace.BITS[fam]:
                    message = f"{entry.text} allows every IPv{fam} address"
                    severity = Severity.ERROR
                else:
                    message = f"{entry.text} is broader than /{limit}"
                    severity = Severity.WARNING
                yield Finding("over-broad", severity, message, entry.origin)
        # 256 adjacent /8s allow as much as one 0.0.0.0/0: judge the merged set as well
        block = 1 << (ipspace.BITS[fam] - limit)
        min_size = min(block + 1, 1 << ipspace.BITS[fam])
        # is the interval inside an entry already reported? the entries sorted by start with
        # the running maximum of their ends answer that by bisection (n log n, not n * m)
        flagged.sort()
        starts = [a for a, _ in flagged]
        reach = list(itertools.accumulate((b for _, b in flagged), max))
        for first, last in ipspace.wide_intervals(declared_space.family(fam), min_size):
            k = bisect.bisect_right(starts, first)
            if k and reach[k - 1] >= last:
                continue
            whole = last - first + 1 == 1 << ipspace.BITS[fam]
            yield Finding(
                "over-broad",
                Severity.ERROR if whole else Severity.WARNING,
                f"entries together allow {ipspace.format_interval(fam, first, last)}"
                f" ({last - first + 1} addresses), broader than /{limit}",
            )


def whole_space_findings(expected: Sequence[RangeSet]) -> Iterator[Finding]:
    """An expected entry that is a whole family (a feed line 0.0.0.0/0, SPF +all) is never
    turned into rules: it is reported as an error (RELIABILITY 2.11)."""
    for rs in expected:
        for fam in (4, 6):
            wide = rs.entries.broader_than(fam, 0)
            if wide:
                entry = rs.entries.entry(fam, wide[0])
                yield Finding(
                    "expected-everything",
                    Severity.ERROR,
                    f"{entry.text} in an expected source means every IPv{fam} address;"
                    " no rules are made from it",
                    entry.origin,
                )
            elif covers_family(rs.space, fam):
                # pieces that add up to everything (SPF "ip4:... +all" clips +all around
                # what matched first) mean the same as one /0 entry
                yield Finding(
                    "expected-everything",
                    Severity.ERROR,
                    f"{rs.info.name} lists every IPv{fam} address (its entries add up to the"
                    " whole family); no rules are made from it",
                    Origin(rs.info.name),
                )


def covers_family(space: IPSpace, family: int) -> bool:
    """Whether a set holds every address of a family: its intervals are merged, so that is
    one interval from the first address to the last (constant time at any size)."""
    return ipspace.is_whole(space.family(family), family)


def partial_coverage(result: AuditResult) -> list[Coverage]:
    """Expected entries that the declared side allows only in part, in address order."""
    out: dict[tuple[int, int, int], Coverage] = {}
    for rs in result.expected:
        for fam in (4, 6):
            col = rs.entries.family(fam)
            declared = result.declared_space.family(fam)
            vector = ipspace.is_vector(col.first) or ipspace.is_vector(declared.starts)
            if fam == 4 and (vector or ipspace.vectorise(len(col))):
                from auditor import _vector

                counts = _vector.coverage_many(declared, col.first, col.last).tolist()
                firsts, lasts = ipspace.as_list(col.first), ipspace.as_list(col.last)
            elif vector or ipspace.vectorise(len(col)):  # IPv6: count only what is held in part
                from auditor import _vector

                held = ipspace.Intervals(*ipspace.as_lists(declared))
                for i in _vector.partly_held(declared, col.first, col.last).tolist():
                    a, b = _vector.at(col.first, i), _vector.at(col.last, i)
                    n = ipspace.covered(held, a, b)
                    if 0 < n < b - a + 1 and (fam, a, b) not in out:
                        out[(fam, a, b)] = Coverage(rs.entries.entry(fam, i), n)
                continue
            else:
                if ipspace.is_vector(declared.starts):  # wide IPv6: bisect on lists is faster
                    declared = ipspace.Intervals(*ipspace.as_lists(declared))
                memo: dict[tuple[int, int], int] = {}  # repeated entries are counted once
                firsts, lasts = ipspace.as_list(col.first), ipspace.as_list(col.last)
                counts = [
                    memo[(a, b)]
                    if (a, b) in memo
                    else memo.setdefault((a, b), ipspace.covered(declared, a, b))
                    for a, b in zip(firsts, lasts, strict=True)
                ]
            for i, (a, b, n) in enumerate(zip(firsts, lasts, counts, strict=True)):
                if 0 < n < b - a + 1 and (fam, a, b) not in out:
                    out[(fam, a, b)] = Coverage(rs.entries.entry(fam, i), n)
    return [out[k] for k in sorted(out)]


def _entry_rows(
    sets: Sequence[RangeSet], family: int, groups: Collection[str] | None
) -> list[tuple[int, int, list[tuple[int, int]]]]:
    """(first, last, [(set index, entry index), ...]) per distinct entry, sorted by start:
    repeated entries become one row, so the sweep below stays linear."""
    rows: dict[tuple[int, int], list[tuple[int, int]]] = {}
    for k, rs in enumerate(sets):
        col = rs.entries.family(family)
        index: Iterable[int] = range(len(col))
        if groups is not None:
            wanted = {rs.entries.groups.index(g) for g in groups if g in rs.entries.groups}
            gid = ipspace.as_list(col.group) if col.group is not None else [-1] * len(col)
            index = [i for i in index if gid[i] in wanted]
        first, last = ipspace.as_list(col.first), ipspace.as_list(col.last)
        for i in index:
            rows.setdefault((first[i], last[i]), []).append((k, i))
    return sorted((a, b, refs) for (a, b), refs in rows.items())


# Origins listed per reported block; the rest are counted, not listed.
MAX_ORIGINS = 20


def blocks_with_origins(
    space: IPSpace, sets: Sequence[RangeSet], groups: Collection[str] | None = None
) -> Iterator[MissingBlock]:
    """The minimal CIDRs of ``space``, each with the origins of the entries that overlap it
    (only entries of ``groups`` when given).

    One sweep over entries sorted by start, with a heap of the active ones keyed by end;
    origins are made only for the entries that are reported, at most MAX_ORIGINS a block.
    """
    sets = sorted(sets, key=lambda rs: rs.info.name)  # origins in name, then file, order
    for fam in (4, 6):
        rows = _entry_rows(sets, fam, groups)
        active: list[tuple[int, int]] = []  # (last, row index)
        made: dict[tuple[int, int], Origin] = {}
        p = 0
        origins: tuple[Origin, ...] = ()
        changed = True
        for _, net, plen in space.cidrs(fam):
            block_last = net | ((1 << (ipspace.BITS[fam] - plen)) - 1)
            while p < len(rows) and rows[p][0] <= block_last:
                heapq.heappush(active, (rows[p][1], p))
                p += 1
                changed = True
            while active and active[0][0] < net:
                heapq.heappop(active)
                changed = True
            if changed:  # runs of blocks inside the same big entries share their origins
                refs = sorted(ref for _, r in active for ref in rows[r][2][:MAX_ORIGINS])
                found: dict[Origin, None] = {}
                for ref in refs[:MAX_ORIGINS]:
                    origin = made.get(ref)
                    if origin is None:
                        origin = made[ref] = sets[ref[0]].entries.origin(fam, ref[1])
                    found[origin] = None
                origins = tuple(found)
                changed = False
            yield MissingBlock(fam, net, plen, origins)


def missing_blocks(result: AuditResult) -> Iterator[MissingBlock]:
    return blocks_with_origins(result.missing, result.expected)


def extra_blocks(result: AuditResult) -> Iterator[MissingBlock]:
    if result.extra is None:
        return iter(())
    # the entries of scoped objects (a ruleset's sets and chains) tell where an extra is
    sets = [replace(rs, entries=rs.scope_entries) for rs in result.declared]
    groups = set(result.scope_groups or result.options.scope)
    return blocks_with_origins(result.extra, sets, groups)


Decision = Literal[
    "allowed", "denied", "conditional", "not listed", "not covered", "no say", "failed"
]
"""``not covered``: no declared source speaks for the address's family (unknown); ``no say``:
this one does not, but another does (an iptables export next to its ip6tables twin)."""


@dataclass(frozen=True)
class SourceDecision:
    """One declared source's answer for one address."""

    source: str
    decision: Decision
    where: str
    """The deciding rule or entry (file:line and its text), or why there is none."""


@dataclass(frozen=True)
class Explanation:
    address: str
    family: int
    expected: tuple[Entry, ...]
    """The expected entries that contain the address (whose address it is)."""
    declared: tuple[SourceDecision, ...]

    @property
    def allowed(self) -> bool:
        """Allowed by every declared source that has a say (a connection must pass each)."""
        say = [d for d in self.declared if d.decision != "no say"]
        return bool(say) and all(d.decision == "allowed" for d in say)

    @property
    def certain(self) -> bool:
        return all(
            d.decision not in ("conditional", "failed", "not covered") for d in self.declared
        )


def _entries_at(rs: RangeSet, family: int, value: int) -> list[Entry]:
    if not rs.space.covered(family, value, value):
        return []
    col = rs.entries.family(family)
    first, last = ipspace.as_list(col.first), ipspace.as_list(col.last)
    return [
        rs.entries.entry(family, i)
        for i, (a, b) in enumerate(zip(first, last, strict=True))
        if a <= value <= b
    ]


def _unseen(rs: RangeSet) -> list[str]:
    """Why a partial source is partial, beyond its own conditional verdicts: something it
    could not read (an include not followed, unreadable lines) may decide any address."""
    if rs.completeness is Completeness.COMPLETE:
        return []
    return [
        r
        for r in rs.reasons
        if not r.startswith("conditional: ") and "make addresses conditional" not in r
    ]


def _decide(rs: RangeSet, family: int, value: int) -> SourceDecision:
    name = rs.info.name
    if rs.completeness is Completeness.FAILED:
        return SourceDecision(name, "failed", "; ".join(rs.reasons) or "could not be read")
    if family not in rs.families:
        return SourceDecision(name, "not covered", f"{name} does not speak for IPv{family}")
    found = _decide_seen(rs, family, value)
    unseen = _unseen(rs)
    if unseen and found.decision in ("allowed", "not listed"):
        # what was not read could decide otherwise (the same rule the diff follows: a
        # partial source never makes a run certain)
        why = "; ".join(unseen[:3])
        return SourceDecision(name, "conditional", f"{found.where} (but {why})")
    return found


def _decide_seen(rs: RangeSet, family: int, value: int) -> SourceDecision:
    name = rs.info.name
    for v in rs.verdicts:
        if v.family != family:
            continue
        seg = v.lookup(value)
        if seg is None:
            return SourceDecision(name, "denied", "no rule decides it")
        # "return" at the top of a ruleset is "no decision" (a cidr table's DUNNO)
        decision: Decision = {  # type: ignore[assignment]
            "accept": "allowed",
            "drop": "denied",
            "return": "not listed",
        }.get(seg.outcome, "conditional")
        return SourceDecision(name, decision, seg.rule.describe())
    hits = _entries_at(rs, family, value)
    if hits:
        return SourceDecision(name, "allowed", ", ".join(f"{e.origin} {e.text}" for e in hits[:5]))
    return SourceDecision(name, "not listed", f"no entry of {name} contains it")


def explain(
    address: str, expected: Sequence[RangeSet], declared: Sequence[RangeSet]
) -> Explanation:
    """Whose address it is (the expected entries that contain it) and, for every declared
    source, whether it allows the address and which rule or entry decides."""
    family, value, _ = ipspace.parse_address(address)
    found = tuple(e for rs in expected for e in _entries_at(rs, family, value))
    decisions = tuple(_decide(rs, family, value) for rs in declared)
    if any(d.decision != "not covered" for d in decisions):
        # a source of the other family has no say when another one speaks for this family
        decisions = tuple(
            SourceDecision(
                d.source,
                "no say",
                f"{d.source} speaks for {' and '.join(f'IPv{f}' for f in rs.families)} only",
            )
            if d.decision == "not covered"
            else d
            for rs, d in zip(declared, decisions, strict=True)
        )
    return Explanation(ipspace.format_address(family, value), family, found, decisions)
