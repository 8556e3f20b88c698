"""The lines of a big report made in bulk (numpy): the origins of every block found by array
searches over the blocks and the sources' entries, and every line put together from fixed
character slots (:func:`auditor._vector_text.join_slots`), one slice of rows at a time.

A block inside exactly one entry (nearly every block of a big list of disjoint entries) has
one origin: its source's name and a line number. A report words such an origin the same way
for every line number of a source, so the words before and after the digits are found once per
source (by wording two line numbers and checking that only their digits differ) and only the
digits are made per row. The other blocks (several origins, a structured path) are worded one
by one by the report itself and put in their place.

IPv6 addresses are 128-bit (high, low) uint64 pairs; the searches run on their ranks, which
order as the addresses do.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from auditor import _vector, _vector_text
from auditor.intervals import Intervals
from auditor.ipspace import BITS
from auditor.model import RangeSet
from auditor.reports.rows import INDEX, Fields, Row, RowFormat, Source, origins_of


class Listing(NamedTuple):
    """What the rows of a list of blocks are found from: the sources and the groups whose
    entries count, and the heap sweep of :mod:`auditor.reports.blocks` for deep nesting."""

    sets: Sequence[RangeSet]
    groups: Collection[str] | None
    sweep: Callable[[int], Iterable[Row]]


NDArray = Any

_SENTINELS = (1111111111, 2222222222)
"""Two line numbers whose digits all differ: wording both shows where the digits go."""
_WIDEST = 512
"""Bytes of one source's words beyond which its rows are worded one by one instead."""


@dataclass(frozen=True)
class Blocks:
    """The minimal CIDRs of one family of a set: networks, prefix lengths and their text."""

    family: int
    net: tuple[NDArray, ...]
    """(networks,) as int64 for IPv4; (high, low) uint64 halves for IPv6."""
    plen: NDArray
    text: NDArray
    """The CIDRs' lines, each ending in a newline, as uint8."""
    starts: NDArray
    lens: NDArray

    @classmethod
    def of(cls, family: int, iv: Intervals) -> Blocks:
        if family == 4:
            net, plen = _vector.blocks4(iv)
            nets: tuple[NDArray, ...] = (net,)
            text = _vector_text.cidr_text(4, net, plen)
        else:
            hi, lo, plen = _vector.blocks_wide(iv)
            nets = (hi, lo)
            text = _vector_text.cidr_text(6, hi, lo, plen)
        buf = np.frombuffer(text.encode("ascii"), dtype=np.uint8)
        ends = np.flatnonzero(buf == 10)
        starts = np.zeros(len(ends), dtype=np.int64)
        starts[1:] = ends[:-1] + 1
        return cls(family, nets, np.asarray(plen, dtype=np.int64), buf, starts, ends - starts)

    def __len__(self) -> int:
        return len(self.plen)

    def texts(self) -> list[str]:
        return self.text.tobytes().decode("ascii").splitlines()  # type: ignore[no-any-return]

    def width(self) -> int:
        return int(self.lens.max()) if len(self.lens) else 0

    def prefixlens(self) -> set[int]:
        return set(np.unique(self.plen).tolist())

    def ends(self) -> tuple[NDArray, ...]:
        """The last address of each block, held as :attr:`net` is."""
        host = BITS[self.family] - self.plen
        if self.family == 4:
            return (self.net[0] + (np.int64(1) << host) - 1,)
        one = np.uint64(1)
        high = np.where(
            host >= 128, ~np.uint64(0), (one << np.clip(host - 64, 0, 63).astype(np.uint64)) - one
        )
        low = np.where(host >= 64, ~np.uint64(0), (one << np.minimum(host, 63).astype(np.uint64)))
        low = np.where(host >= 64, low, low - one)
        return (self.net[0] | high, self.net[1] | low)


@dataclass(frozen=True)
class _Found:
    ref: NDArray
    """Per block, the (source << 40 | index) of its one origin; -1 for the other blocks."""
    line: NDArray
    """That origin's line (0: none)."""
    other: dict[int, tuple[Fields, ...]]
    """The origins of the other blocks, by row."""
    sources: Sequence[Source]


def _entries(bl: Listing, fam: int) -> tuple[list[NDArray], list[Any], list[Any], list[Source]]:
    """Per source, the wanted entries: (key, line, has a path) columns, firsts, lasts."""
    columns: list[NDArray] = []
    firsts: list[Any] = []
    lasts: list[Any] = []
    sources = []
    for k, rs in enumerate(bl.sets):
        col = rs.entries.family(fam)
        n = len(col.first)
        line = np.asarray(col.line, dtype=np.int64) if len(col.line) else np.zeros(n, np.int64)
        paths = list(col.path) if col.path else None
        sources.append(Source(rs.entries.source, line.tolist(), paths))
        index = np.arange(n, dtype=np.int64)
        if bl.groups is not None:
            groups = rs.entries.groups
            wanted = [groups.index(g) for g in bl.groups if g in groups]
            gid = np.full(n, -1, np.int64) if col.group is None else np.asarray(col.group)
            index = index[np.isin(gid, wanted)]
        pathful = np.zeros(n, dtype=bool)
        if paths is not None:
            pathful = np.fromiter(map(bool, paths), dtype=bool, count=n)
        columns.append(np.stack((np.int64(k << 40) | index, line[index], pathful[index])))
        if fam == 4:
            firsts.append(np.asarray(col.first, dtype=np.int64)[index])
            lasts.append(np.asarray(col.last, dtype=np.int64)[index])
        else:
            for values, out in ((col.first, firsts), (col.last, lasts)):
                hi, lo = _vector._wide(values)
                out.append((hi[index], lo[index]))
    return columns, firsts, lasts, sources


def _find(bl: Listing, blocks: Blocks) -> _Found | None:
    """The origins of every block, as the row sweep of :mod:`auditor.reports.blocks` finds
    them, by the same two searches a block, on arrays; None when entries nest so deep that
    the heap sweep is due."""
    columns, firsts, lasts, sources = _entries(bl, blocks.family)
    n = len(blocks)
    if not sum(len(c[0]) for c in columns):  # no entry: no origins
        return _Found(np.full(n, -1), np.zeros(n, np.int64), dict.fromkeys(range(n), ()), sources)
    if blocks.family == 4:
        first, last = np.concatenate(firsts), np.concatenate(lasts)
        net, end = blocks.net[0], blocks.ends()[0]
    else:

        def joined(pairs: list[Any]) -> tuple[NDArray, NDArray]:
            return np.concatenate([h for h, _ in pairs]), np.concatenate([x for _, x in pairs])

        net_end = [(blocks.net[0], blocks.net[1]), blocks.ends()]
        first, last, net, end = _vector.ranks128([joined(firsts), joined(lasts), *net_end])
    key, line, pathful = np.concatenate(columns, axis=1)
    order = np.lexsort((last, first))  # stable: ties keep source, then index, order
    first, last, key, line, pathful = (x[order] for x in (first, last, key, line, pathful))
    new = np.ones(len(first), dtype=bool)
    new[1:] = (first[1:] != first[:-1]) | (last[1:] != last[:-1])
    start = np.append(np.flatnonzero(new), len(first))
    rf, rl = first[new], last[new]
    hi: NDArray = np.searchsorted(rf, end, "right")
    lo: NDArray = np.searchsorted(np.maximum.accumulate(rl), net, "left")
    if int((hi - lo).sum()) > 4 * n + 1000:
        return None
    single = hi - lo == 1
    row = np.where(single, lo, 0)
    pos = start[row]
    single &= (start[row + 1] - pos == 1) & (pathful[pos] == 0)
    ref = np.where(single, key[pos], -1)
    other: dict[int, tuple[Fields, ...]] = {}
    rest = np.flatnonzero(~single)
    if len(rest):
        refs, starts, reach = key.tolist(), start.tolist(), rl.tolist()
        bounds = (lo[rest].tolist(), hi[rest].tolist(), net[rest].tolist())
        for r, a, b, at in zip(rest.tolist(), *bounds, strict=True):
            over = [j for j in range(a, b) if reach[j] >= at]
            other[r] = origins_of(over, starts, refs, sources)
    return _Found(ref, np.where(single, line[pos], 0), other, sources)


def _split(fmt: RowFormat, name: str, has_line: bool) -> tuple[bytes, bytes] | None:
    """What ``fmt`` words before and after the line number of a single origin of source
    ``name`` (no path), the same for every line number; None when it is not so or too long."""
    if not has_line:
        before, after = fmt.origins(((name, None, None),)), ""
    else:
        one, two = (fmt.origins(((name, n, None),)) for n in _SENTINELS)
        cut = len(os.path.commonprefix([one, two]))
        digits = [str(n) for n in _SENTINELS]
        before, after = one[:cut], one[cut + len(digits[0]) :]
        if one != before + digits[0] + after or two != before + digits[1] + after:
            return None
    words = before.encode("utf-8"), after.encode("utf-8")
    return words if len(words[0]) + len(words[1]) <= _WIDEST else None


def _table(strings: Sequence[bytes]) -> tuple[NDArray, NDArray]:
    return _vector_text.byte_table(strings)


def lines(bulk: dict[int, Blocks], bl: Listing, fmt: RowFormat) -> Iterator[str]:
    """:func:`auditor.reports.blocks.lines` for a big list of blocks."""
    for blocks in bulk.values():  # IPv4, then IPv6
        if len(blocks):
            yield from _family_lines(bl, blocks, fmt)


def _family_lines(bl: Listing, blocks: Blocks, fmt: RowFormat) -> Iterator[str]:
    n = len(blocks)
    fam = blocks.family
    found = _find(bl, blocks)
    if found is None:  # entries nested deep: the heap sweep's origins, row by row
        rows = bl.sweep(fam)
        other = {i: origins for i, (*_, origins) in enumerate(rows)}
        found = _Found(np.full(n, -1), np.zeros(n, np.int64), other, [])
    heads, mids = [b""] * (BITS[fam] + 1), [b""] * (BITS[fam] + 1)
    for p in blocks.prefixlens():
        heads[p], mids[p] = fmt.head(fam, p).encode(), fmt.mid(fam, p).encode()
    words = [_split(fmt, s.name, has) for s in found.sources for has in (False, True)]
    worded = np.array([w is not None for w in words] + [False])
    before = _table([w[0] if w else b"" for w in words] + [b""])
    after = _table([w[1] if w else b"" for w in words] + [b""])
    # a single origin's words: 2 * source + has a line; the last (empty) words for the others
    word = np.where(found.ref >= 0, 2 * (found.ref >> 40) + (found.line != 0), len(words))
    simple = worded[word]
    word = np.where(simple, word, len(words))
    other = dict(found.other)
    for r, ref in zip(np.flatnonzero(~simple).tolist(), found.ref[~simple].tolist(), strict=True):
        if ref >= 0:  # one origin whose source's words have no slot
            other[r] = (found.sources[ref >> 40].origin(ref & INDEX),)
    spliced = np.array(sorted(other), dtype=np.int64)
    said: dict[tuple[Fields, ...], bytes] = {}
    head, mid = _table(heads), _table(mids)
    width = max(fmt.pad, blocks.width())
    text = np.concatenate((blocks.text, np.zeros(width, dtype=np.uint8)))
    sep = fmt.sep.encode()
    sep_row = np.frombuffer(sep, dtype=np.uint8)
    for c in range(0, n, _vector.CHUNK):
        part = slice(c, c + _vector.CHUNK)
        plen, w, lens = blocks.plen[part], word[part], blocks.lens[part]
        m = len(plen)
        cidr = text[blocks.starts[part, None] + np.arange(width)]
        if fmt.pad:
            cidr = np.where(_vector_text.slots(lens, width), cidr, np.uint8(32))
            lens = np.maximum(lens, fmt.pad)
        digits, shown = _vector_text.digit_slots(found.line[part])
        shown = shown & (simple[part] & (found.line[part] != 0))[:, None]
        columns = [
            (head[0][plen], _vector_text.slots(head[1][plen], head[0].shape[1])),
            (cidr, _vector_text.slots(lens, width)),
            (mid[0][plen], _vector_text.slots(mid[1][plen], mid[0].shape[1])),
            (before[0][w], _vector_text.slots(before[1][w], before[0].shape[1])),
            (digits, shown),
            (after[0][w], _vector_text.slots(after[1][w], after[0].shape[1])),
            (np.broadcast_to(sep_row, (m, len(sep))), np.ones((m, len(sep)), dtype=bool)),
        ]
        data, ends = _vector_text.join_slots(columns)
        here = spliced[np.searchsorted(spliced, c) : np.searchsorted(spliced, c + m)].tolist()
        pieces = []
        at = 0
        for r in here:  # the other rows' origins, worded by the report, before their sep
            cut = int(ends[r - c]) - len(sep)
            pieces.append(data[at:cut].tobytes())
            origins = other[r]
            words_r = said.get(origins)
            if words_r is None:
                words_r = said[origins] = fmt.origins(origins).encode("utf-8")
            pieces.append(words_r)
            at = cut
        pieces.append(data[at : len(data) - len(sep)].tobytes())
        yield b"".join(pieces).decode("utf-8")
