"""Missing and extra CIDRs for the reports that list every one of them, made as they are read.

A report of a million missing CIDRs cannot afford a Python object per CIDR held until the end:
:class:`BlockList` keeps the CIDR texts of each family (made in bulk) and finds the origins of
each block in one sweep over the blocks and the sources' entries, both sorted by address, as
:func:`rows` hands the blocks out. Runs of blocks inside the same entries share one origins
tuple, so a report can word each run once.

The origins are those of :func:`auditor.audit.blocks_with_origins`, in the same order: the
entries that overlap the block, by source name, then by position in the source, at most
:data:`auditor.audit.MAX_ORIGINS`, repeated origins once.
"""

from __future__ import annotations

import heapq
import sys
from bisect import bisect_left, bisect_right
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import replace
from itertools import accumulate, repeat
from operator import sub
from typing import TYPE_CHECKING, Any, overload

from auditor import ipspace
from auditor.ipspace import IPSpace
from auditor.model import AuditResult, MissingBlock, Origin, RangeSet
from auditor.reports.rows import INDEX, Fields, Row, RowFormat, Source, origins_of

if TYPE_CHECKING:
    from auditor.reports.bulk import Blocks


_Rows = tuple[list[int], list[int], list[int], list[int], list[Source]]


def _entry_rows(sets: Sequence[RangeSet], family: int, groups: Collection[str] | None) -> _Rows:
    """The distinct entries sorted by (first, last): their bounds, and for each the slice
    ``refs[start[r]:start[r + 1]]`` of its (source, index) keys, in source then index order."""
    firsts: list[int] = []
    lasts: list[int] = []
    keys: list[int] = []
    sources = []
    for k, rs in enumerate(sets):
        col = rs.entries.family(family)
        first, last = ipspace.as_list(col.first), ipspace.as_list(col.last)
        lines = ipspace.as_list(col.line) if len(col.line) else [0] * len(first)
        sources.append(Source(rs.entries.source, lines, list(col.path) if col.path else None))
        index: Sequence[int] = range(len(first))
        if groups is not None:
            wanted = {rs.entries.groups.index(g) for g in groups if g in rs.entries.groups}
            gid = ipspace.as_list(col.group) if col.group is not None else [-1] * len(first)
            index = [i for i in index if gid[i] in wanted]
            first = [first[i] for i in index]
            last = [last[i] for i in index]
        firsts += first
        lasts += last
        keys += [k << 40 | i for i in index]
    order = _sort_order(firsts, lasts, family)
    rf: list[int] = []
    rl: list[int] = []
    start: list[int] = []
    refs = [keys[j] for j in order]
    prev = (-1, -1)
    for pos, j in enumerate(order):
        pair = (firsts[j], lasts[j])
        if pair != prev:
            rf.append(pair[0])
            rl.append(pair[1])
            start.append(pos)
            prev = pair
    start.append(len(order))
    return rf, rl, start, refs, sources


def _sort_order(firsts: list[int], lasts: list[int], family: int) -> list[int]:
    """Indexes by (first, last), ties in input order."""
    if len(firsts) <= ipspace.VECTOR_THRESHOLD:
        return sorted(range(len(firsts)), key=lambda j: (firsts[j], lasts[j]))
    import numpy as np

    if family == 4:
        cols = [np.array(lasts, dtype=np.int64), np.array(firsts, dtype=np.int64)]
    else:
        mask = (1 << 64) - 1
        cols = [
            np.array([x & mask for x in lasts], dtype=np.uint64),
            np.array([x >> 64 for x in lasts], dtype=np.uint64),
            np.array([x & mask for x in firsts], dtype=np.uint64),
            np.array([x >> 64 for x in firsts], dtype=np.uint64),
        ]
    order: list[int] = np.lexsort(cols).tolist()  # stable: ties keep the input order
    return order


BULK_MIN = ipspace.VECTOR_THRESHOLD
"""Blocks (as intervals of the set) above which a :class:`BlockList` words its rows in bulk,
when numpy is loaded or the set is big enough to pay for its import."""


def _bulk(space: IPSpace) -> bool:
    ivs = [space.family(f) for f in (4, 6)]
    if any(ipspace.is_vector(iv.starts) for iv in ivs):
        return True
    n = sum(len(iv) for iv in ivs)
    return n > BULK_MIN and (n > ipspace.VECTOR_ALWAYS or "numpy" in sys.modules)


class BlockList(Sequence[MissingBlock]):
    """The minimal CIDRs of a set, with the origins of the entries of ``sets`` (only those of
    ``groups`` when given) that overlap each; IPv4 first, then IPv6, by address."""

    def __init__(
        self, space: IPSpace, sets: Sequence[RangeSet], groups: Collection[str] | None = None
    ) -> None:
        self._space = space
        self._sets = sorted(sets, key=lambda rs: rs.info.name)  # origins in name order
        self._groups = groups
        self._columns: dict[int, tuple[Any, Any]] = {}
        self.bulk: dict[int, Blocks] | None = None
        """For a big set, what :mod:`auditor.reports.bulk` words the rows from, per family."""
        self._made: dict[int, list[str]] = {}
        if _bulk(space):
            from auditor.reports import bulk

            self.bulk = {f: bulk.Blocks.of(f, space.family(f)) for f in (4, 6)}
        else:
            self._made = {f: list(space.cidrs_text(f)) for f in (4, 6)}

    @property
    def _texts(self) -> dict[int, list[str]]:
        """The CIDR text of each block, by family."""
        if self.bulk is not None and not self._made:
            self._made = {f: self.bulk[f].texts() for f in (4, 6)}
        return self._made

    def columns(self, family: int) -> tuple[Any, Any]:
        """(networks, prefix lengths) of one family's blocks: arrays for a big IPv4 set."""
        if family not in self._columns:
            iv = self._space.family(family)
            if family == 4 and ipspace.is_vector(iv.starts):
                from auditor import _vector

                self._columns[4] = _vector.blocks4(iv)
            elif self._texts[family]:
                _, nets, plens = zip(*self._space.cidrs(family), strict=True)
                self._columns[family] = (nets, plens)
            else:
                self._columns[family] = ((), ())
        return self._columns[family]

    def prefixlens(self, family: int) -> set[int]:
        if self.bulk is not None:
            return self.bulk[family].prefixlens()
        plens = self.columns(family)[1]
        tolist = getattr(plens, "tolist", None)
        return set(tolist() if tolist else plens)

    def cidr_width(self) -> int:
        """The length of the longest CIDR text."""
        if self.bulk is not None:
            return max(self.bulk[f].width() for f in (4, 6))
        return max((len(t) for f in (4, 6) for t in self._texts[f]), default=0)

    def cidr_count(self, family: int) -> int:
        """The CIDRs of one family."""
        if self.bulk is not None:
            return len(self.bulk[family])
        return len(self._texts[family])

    def tally(self, family: int) -> tuple[int, int]:
        """(CIDRs, addresses) of one family."""
        return self.cidr_count(family), self._space.size(family)

    def __len__(self) -> int:
        return self.cidr_count(4) + self.cidr_count(6)

    def rows(self) -> Iterator[Row]:
        """Every block as a :data:`Row`, its origins found as it comes."""
        for fam in (4, 6):
            if self.cidr_count(fam):
                yield from self._sweep(fam)

    def _sweep(self, fam: int) -> Iterator[Row]:
        """The origins of each block from the entries whose start is at most the block's
        last address and whose end, or that of an entry before them, reaches the block: two
        binary searches a block, done in bulk. Where entries nest, more than one candidate
        is checked; when that adds up to more than a few a block, the heap sweep runs."""
        if fam == 4 and ipspace.is_vector(self._space.family(4).starts):
            yield from self._sweep_v4()
            return
        rows = _entry_rows(self._sets, fam, self._groups)
        rf, rl, start, refs, sources = rows
        host = ipspace.BITS[fam]
        nets, plens = self.columns(fam)
        ends = [net | ((1 << (host - plen)) - 1) for net, plen in zip(nets, plens, strict=True)]
        reach = list(accumulate(rl, max))
        hi = list(map(bisect_right, repeat(rf), ends))
        lo = list(map(bisect_left, repeat(reach), nets))
        if sum(map(sub, hi, lo)) > 4 * len(nets) + 1000:
            yield from self._heap_sweep(fam, rows)
            return
        text = self._texts[fam]
        origins: tuple[Fields, ...] = ()
        last: tuple[int, int] = (-1, -1)
        for i, (a, b) in enumerate(zip(lo, hi, strict=True)):
            if b - a == 1:
                if a != last[0] or last[1] != 1:
                    last = (a, 1)
                    if start[a + 1] - start[a] == 1:
                        key = refs[start[a]]
                        origins = (sources[key >> 40].origin(key & INDEX),)
                    else:
                        origins = origins_of([a], start, refs, sources)
            else:
                net = nets[i]
                over = [r for r in range(a, b) if rl[r] >= net]
                last = (-1, -1)
                origins = origins_of(over, start, refs, sources)
            yield text[i], fam, nets[i], plens[i], origins

    def _sweep_v4(self) -> Iterator[Row]:
        """:meth:`_sweep` for a big IPv4 set, on arrays."""
        import numpy as np

        net, plen = self.columns(4)
        ends = net + (np.int64(1) << (32 - plen)) - 1
        firsts, lasts, keys, sources = [], [], [], []
        for k, rs in enumerate(self._sets):
            col = rs.entries.family(4)
            first = np.asarray(col.first, dtype=np.int64)
            index = np.arange(len(first), dtype=np.int64)
            lines = ipspace.as_list(col.line) if len(col.line) else [0] * len(first)
            sources.append(Source(rs.entries.source, lines, list(col.path) if col.path else None))
            if self._groups is not None:
                groups = rs.entries.groups
                wanted = [groups.index(g) for g in self._groups if g in groups]
                gid = np.asarray(col.group if col.group is not None else [-1] * len(first))
                index = index[np.isin(gid, wanted)]
            firsts.append(first[index])
            lasts.append(np.asarray(col.last, dtype=np.int64)[index])
            keys.append(np.int64(k << 40) | index)
        f, la, key = np.concatenate(firsts), np.concatenate(lasts), np.concatenate(keys)
        order = np.lexsort((la, f))  # stable: ties keep source, then index, order
        f, la, key = f[order], la[order], key[order]
        new = np.ones(len(f), dtype=bool)
        new[1:] = (f[1:] != f[:-1]) | (la[1:] != la[:-1])
        start = np.append(np.flatnonzero(new), len(f))
        rf, rl = f[new], la[new]
        hi = np.searchsorted(rf, ends, "right")
        lo = np.searchsorted(np.maximum.accumulate(rl), net, "left")
        if int((hi - lo).sum()) > 4 * len(net) + 1000:
            rows = (rf.tolist(), rl.tolist(), start.tolist(), key.tolist(), sources)
            yield from self._heap_sweep(4, rows)
            return
        single = hi - lo == 1
        row = np.where(single, lo, 0)
        single &= start[row + 1] - start[row] == 1
        first_ref = np.where(single, key[start[row]], -1).tolist()
        refs, start_list, rl_list = key.tolist(), start.tolist(), rl.tolist()
        origins: tuple[Fields, ...] = ()
        last = -1
        columns = zip(
            self._texts[4], net.tolist(), plen.tolist(), first_ref, lo.tolist(), hi.tolist(),
            strict=True,
        )  # fmt: skip
        for text, a, p, ref, low, high in columns:
            if ref >= 0:
                if ref != last:
                    last = ref
                    origins = (sources[ref >> 40].origin(ref & INDEX),)
            else:
                last = -1
                over = [r for r in range(low, high) if rl_list[r] >= a]
                origins = origins_of(over, start_list, refs, sources)
            yield text, 4, a, p, origins

    def _heap_sweep(self, fam: int, rows: _Rows) -> Iterator[Row]:
        """One sweep with a heap of the entries over the block, keyed by their end."""
        rf, rl, start, refs, sources = rows
        host = ipspace.BITS[fam]
        n = len(rf)
        active: list[tuple[int, int]] = []  # (last, row) of the entries over the block
        p = 0
        origins: tuple[Fields, ...] = ()
        changed = True
        push, pop = heapq.heappush, heapq.heappop
        for (_, net, plen), text in zip(self._space.cidrs(fam), self._texts[fam], strict=True):
            block_last = net | ((1 << (host - plen)) - 1)
            while p < n and rf[p] <= block_last:
                push(active, (rl[p], p))
                p += 1
                changed = True
            while active and active[0][0] < net:
                pop(active)
                changed = True
            if changed:
                changed = False
                origins = origins_of([r for _, r in active], start, refs, sources)
            yield text, fam, net, plen, origins

    def __iter__(self) -> Iterator[MissingBlock]:
        for _, fam, net, plen, origins in self.rows():
            yield MissingBlock(fam, net, plen, tuple(Origin(*o) for o in origins))

    @overload
    def __getitem__(self, index: int) -> MissingBlock: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[MissingBlock]: ...

    def __getitem__(self, index: int | slice) -> MissingBlock | Sequence[MissingBlock]:
        every = tuple(self)
        return every[index]


def block_rows(blocks: Sequence[MissingBlock]) -> Iterator[Row]:
    """The rows of a report's blocks: read as they are made from a :class:`BlockList`; from
    made blocks, their origins tuples shared as the blocks share them."""
    if isinstance(blocks, BlockList):
        yield from blocks.rows()
        return
    memo: dict[int, tuple[Fields, ...]] = {}
    for b in blocks:
        fields = memo.get(id(b.origins))
        if fields is None:
            fields = memo[id(b.origins)] = tuple((o.source, o.line, o.path) for o in b.origins)
        yield b.cidr, b.family, b.network, b.prefixlen, fields


def missing(result: AuditResult) -> BlockList:
    """:attr:`AuditResult.missing_blocks`, read as it is made."""
    return BlockList(result.missing, result.expected)


def extra_in_scope(result: AuditResult) -> BlockList | None:
    """:attr:`AuditResult.extra_blocks`, read as it is made."""
    if result.extra is None:
        return None
    # the entries of scoped objects (a ruleset's sets and chains) tell where an extra is
    sets = [replace(rs, entries=rs.scope_entries) for rs in result.declared]
    return BlockList(result.extra, sets, set(result.scope_groups or result.options.scope))


def lines(blocks: Sequence[MissingBlock], fmt: RowFormat, batch: int = 4096) -> Iterator[str]:
    """The lines of ``blocks`` as ``fmt`` words them, in pieces of many lines joined by
    ``fmt.sep`` (a piece does not end with it): in bulk for a big :class:`BlockList`."""
    if isinstance(blocks, BlockList) and blocks.bulk is not None:
        from auditor.reports import bulk

        yield from bulk.lines(
            blocks.bulk, bulk.Listing(blocks._sets, blocks._groups, blocks._sweep), fmt
        )
        return
    words: dict[tuple[int, int], tuple[str, str]] = {}
    last: tuple[Fields, ...] | None = None
    text = ""
    out: list[str] = []
    pad = fmt.pad
    for cidr, fam, _, plen, origins in block_rows(blocks):
        if origins is not last:
            last = origins
            text = fmt.origins(origins)
        around = words.get((fam, plen))
        if around is None:
            around = words[(fam, plen)] = (fmt.head(fam, plen), fmt.mid(fam, plen))
        out.append(f"{around[0]}{cidr:<{pad}}{around[1]}{text}")
        if len(out) >= batch:
            yield fmt.sep.join(out)
            out = []
    if out:
        yield fmt.sep.join(out)


def batches(items: Iterable[str], batch: int = 4096, size: int = 1 << 18) -> Iterator[list[str]]:
    """``items`` in lists of at most ``batch`` items, cut early after about ``size``
    characters: some items are pieces of thousands of lines already."""
    out: list[str] = []
    held = 0
    for item in items:
        out.append(item)
        held += len(item)
        if len(out) >= batch or held >= size:
            yield out
            out = []
            held = 0
    if out:
        yield out


def cidr_width(blocks: Sequence[MissingBlock]) -> int:
    """The length of the longest CIDR text of ``blocks``."""
    if isinstance(blocks, BlockList):
        return blocks.cidr_width()
    return max((len(b.cidr) for b in blocks), default=0)


def sizes(blocks: Sequence[MissingBlock]) -> set[int]:
    """The distinct sizes of ``blocks``, in addresses."""
    if isinstance(blocks, BlockList):
        return {1 << (ipspace.BITS[f] - p) for f in (4, 6) for p in blocks.prefixlens(f)}
    return {b.size for b in blocks}


def tally(blocks: Sequence[MissingBlock], family: int | None) -> tuple[int, int]:
    """(CIDRs, addresses) of ``blocks`` in one family, or both."""
    if isinstance(blocks, BlockList):
        counts = [blocks.tally(f) for f in ((4, 6) if family is None else (family,))]
        return sum(c for c, _ in counts), sum(a for _, a in counts)
    mine = [b for b in blocks if family is None or b.family == family]
    return len(mine), sum(b.size for b in mine)
