"""The vectorised backend of the interval engine, for big inputs (numpy).

Imported only when a set or a file is big enough to pay for numpy's import. Works on int64
arrays, so it serves every interval list whose values fit (all of IPv4); bigger values (most
of IPv6) stay on the pure-Python path of :mod:`auditor.ipspace`.

Set operations use elementary segments: the sorted boundaries of both operands cut the line
into segments, each either inside or outside each operand; a boolean per segment and one pass
to find runs gives the result. Everything is O(n log n) in one sort.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

# Nothing here uses BLAS; OpenBLAS starting a thread per core at import costs more than a
# whole 100k-line run. Only a default: a caller's own setting wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from auditor import intervals
from auditor.intervals import Intervals, Ints

_LIMIT = 1 << 62

_T = TypeVar("_T")
_R = TypeVar("_R")
_POOL: ThreadPoolExecutor | None = None
_POOL_NAME = "auditor-bulk"


def workers() -> int:
    """Threads for the bulk routines: the cores this process may run on, at most four."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return max(1, min(4, cores))


def parallel_map(fn: Callable[[_T], _R], items: Iterable[_T]) -> list[_R]:
    """``[fn(x) for x in items]``, spread over the cores: for numpy work on big slices, which
    releases the interpreter lock in its loops. In order; the first exception is raised."""
    global _POOL
    todo = list(items)
    # inside a task of the pool itself, waiting on the pool could wait forever: run here
    nested = threading.current_thread().name.startswith(_POOL_NAME)
    if len(todo) < 2 or workers() < 2 or nested:
        return [fn(x) for x in todo]
    if _POOL is None:
        _POOL = ThreadPoolExecutor(workers(), thread_name_prefix=_POOL_NAME)
    return list(_POOL.map(fn, todo))


NDArray = Any


def fits(starts: Ints, ends: Ints) -> bool:
    """Whether the values fit the int64 path (any IPv4 set does)."""
    if isinstance(ends, np.ndarray):
        return not is_wide(ends)
    return not len(ends) or bool(max(ends) < _LIMIT)


def _arrays(iv: Intervals) -> tuple[NDArray, NDArray]:
    return np.asarray(iv.starts, dtype=np.int64), np.asarray(iv.ends, dtype=np.int64)


def normalize(starts: Ints, ends: Ints) -> Intervals:
    s = np.asarray(starts, dtype=np.int64)
    e = np.asarray(ends, dtype=np.int64)
    if not len(s):
        return Intervals(s, e)
    s, e = _sorted_by_start(s, e)
    emax = np.maximum.accumulate(e)
    brk = np.empty(len(s), dtype=bool)
    brk[0] = True
    np.greater(s[1:], emax[:-1] + 1, out=brk[1:])
    last = np.flatnonzero(np.append(brk[1:], True))
    return Intervals(s[brk], emax[last])


_M64 = (1 << 64) - 1
_LOW32 = np.uint64(0xFFFFFFFF)


def _sorted_by_start(s: NDArray, e: NDArray) -> tuple[NDArray, NDArray]:
    """The intervals sorted by start (equal starts in any order: merging does not care).

    When starts and sizes fit 32 bits (every IPv4 set), each interval is packed into one
    uint64 (start, size - 1) and sorted in place: several times faster than an argsort and
    two gathers, which also touch memory at random."""
    span = e - s
    if (
        int(s.max()) < 1 << 32
        and int(s.min()) >= 0
        and 0 <= int(span.min()) <= int(span.max()) < 1 << 32
    ):
        key = (s.astype(np.uint64) << np.uint64(32)) | span.astype(np.uint64)
        key.sort()
        s = (key >> np.uint64(32)).astype(np.int64)
        return s, s + (key & _LOW32).astype(np.int64)
    order = np.argsort(s)
    return s[order], e[order]


def order128(hi: NDArray, lo: NDArray) -> NDArray:
    """The permutation that sorts 128-bit values given as (high, low) uint64 halves: each
    half is replaced by its rank among the distinct halves, and the two ranks, packed into
    one uint64, are sorted once (about twice as fast as a two-key lexsort)."""
    _, high_rank = np.unique(hi, return_inverse=True)
    _, low_rank = np.unique(lo, return_inverse=True)
    key = (high_rank.astype(np.uint64) << np.uint64(32)) | low_rank.astype(np.uint64)
    return np.argsort(key)


def _split(values: Sequence[int]) -> tuple[NDArray, NDArray]:
    hi = np.array([v >> 64 for v in values], dtype=np.uint64)
    lo = np.array([v & _M64 for v in values], dtype=np.uint64)
    return hi, lo


def _gt(ahi: NDArray, alo: NDArray, bhi: NDArray, blo: NDArray) -> NDArray:
    return (ahi > bhi) | ((ahi == bhi) & (alo > blo))


def is_wide(x: Any) -> bool:
    return isinstance(x, np.ndarray) and x.ndim == 2


def _wide(values: Ints) -> tuple[NDArray, NDArray]:
    """(high, low) uint64 halves of any column: a wide array, an int64 array or a list."""
    if is_wide(values):
        return values[:, 0], values[:, 1]
    if isinstance(values, np.ndarray):
        return np.zeros(len(values), dtype=np.uint64), values.astype(np.uint64)
    return _split(values)


def _pack(hi: NDArray, lo: NDArray) -> NDArray:
    out = np.empty((len(hi), 2), dtype=np.uint64)
    out[:, 0] = hi
    out[:, 1] = lo
    return out


def wide_concat(wide: NDArray, more: Ints) -> NDArray:
    """A wide column followed by more values (a list of ints, or another wide column)."""
    if not len(more):
        return wide
    hi, lo = _wide(more)
    return np.concatenate((wide, _pack(hi, lo)))


def at(values: Ints, index: int) -> int:
    """One value of a column as an int, whatever holds the column."""
    if is_wide(values):
        h, x = values[index].tolist()
        return (h << 64) | x  # type: ignore[no-any-return]
    return int(values[index])


def to_list(values: Ints) -> list[int]:
    if is_wide(values):
        return [(h << 64) | x for h, x in values.tolist()]
    if isinstance(values, np.ndarray):
        return values.tolist()  # type: ignore[no-any-return]
    return list(values)


def normalize_wide(starts: Ints, ends: Ints) -> Intervals:
    """normalize() for values up to 128 bits, as (high, low) uint64 pairs ("wide" arrays).

    The running maximum of the ends is taken over their ranks (int64), which stand in for
    the 128-bit values.
    """
    shi, slo = _wide(starts)
    ehi, elo = _wide(ends)
    order = order128(shi, slo)  # equal starts in any order: the running maximum does not care
    shi, slo, ehi, elo = shi[order], slo[order], ehi[order], elo[order]
    by_end = order128(ehi, elo)
    rank = np.empty(len(by_end), dtype=np.int64)
    rank[by_end] = np.arange(len(by_end))
    top = by_end[np.maximum.accumulate(rank)]  # index of the largest end so far
    mhi, mlo = ehi[top], elo[top]
    # a new interval starts where start - 1 > the largest end so far (start > end + 1)
    borrow = (slo == 0).astype(np.uint64)
    brk = np.ones(len(shi), dtype=bool)
    brk[1:] = ((shi[1:] | slo[1:]) != 0) & _gt(
        shi[1:] - borrow[1:], slo[1:] - np.uint64(1), mhi[:-1], mlo[:-1]
    )
    last = np.flatnonzero(np.append(brk[1:], True))
    return Intervals(_pack(shi[brk], slo[brk]), _pack(mhi[last], mlo[last]))


def combine_wide(a: Intervals, b: Intervals, op: str) -> Intervals:
    """combine() for 128-bit values: boundaries are ranked, combined as int64, mapped back.

    A boundary is a start or an end + 1; an end at the top of the space has no end + 1 and
    gets the rank after every real boundary. Every boundary's rank comes out of the one sort
    that makes them unique.
    """
    parts_hi, parts_lo, tops = [], [], []
    sizes = []
    for iv in (a, b):
        shi, slo = _wide(iv.starts)
        ehi, elo = _wide(iv.ends)
        top = (ehi == np.uint64(_M64)) & (elo == np.uint64(_M64))
        nlo = elo + np.uint64(1)
        nhi = ehi + (nlo == 0).astype(np.uint64)
        parts_hi += [shi, nhi]
        parts_lo += [slo, nlo]
        tops.append(top)
        sizes.append(len(shi))
    hi = np.concatenate(parts_hi)
    lo = np.concatenate(parts_lo)
    # the wrapped end + 1 of a top interval is (0, 0): sort it last by a third key
    last_key = np.concatenate(
        [np.zeros(sizes[0], bool), tops[0], np.zeros(sizes[1], bool), tops[1]]
    )
    order = np.lexsort((lo, hi, last_key))
    shi_, slo_, top_ = hi[order], lo[order], last_key[order]
    new = np.ones(len(order), dtype=bool)
    new[1:] = (shi_[1:] != shi_[:-1]) | (slo_[1:] != slo_[:-1]) | (top_[1:] != top_[:-1])
    group = np.cumsum(new) - 1
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = group
    uhi, ulo, utop = shi_[new], slo_[new], top_[new]
    ranked = []
    offset = 0
    for n in sizes:
        rs = rank[offset : offset + n]
        rn = rank[offset + n : offset + 2 * n]
        ranked.append(Intervals(rs, rn - 1))
        offset += 2 * n
    res = combine(ranked[0], ranked[1], op)
    rs = np.asarray(res.starts, dtype=np.int64)
    rn = np.asarray(res.ends, dtype=np.int64) + 1  # the rank of end + 1
    ehi, elo = uhi[rn], ulo[rn]
    borrow = (elo == 0).astype(np.uint64)
    ehi = np.where(utop[rn], np.uint64(_M64), ehi - borrow)
    elo = np.where(utop[rn], np.uint64(_M64), elo - np.uint64(1))
    return Intervals(_pack(uhi[rs], ulo[rs]), _pack(ehi, elo))


def _bounds(s: NDArray, e: NDArray) -> NDArray:
    """Start and end+1 of each interval, interleaved: already sorted for a normalised set."""
    out = np.empty(2 * len(s), dtype=np.int64)
    out[0::2] = s
    out[1::2] = e + 1
    return out


def _segments(a: Intervals, b: Intervals) -> tuple[NDArray, NDArray, NDArray]:
    sa, ea = _arrays(a)
    sb, eb = _arrays(b)
    pts = np.concatenate((_bounds(sa, ea), _bounds(sb, eb)))
    pts.sort(kind="stable")  # two sorted runs: timsort merges them in linear time
    if len(pts) > 1:
        pts = pts[np.concatenate(([True], pts[1:] != pts[:-1]))]

    def inside(s: NDArray, e: NDArray) -> NDArray:
        d = np.zeros(len(pts) + 1, dtype=np.int8)
        # Starts are distinct and so are ends; a normalised set never has a start equal to
        # an end + 1 (adjacent intervals are merged), so plain fancy assignment is exact.
        d[np.searchsorted(pts, s)] += 1
        d[np.searchsorted(pts, e + 1)] -= 1
        return np.cumsum(d[:-1], dtype=np.int8) > 0

    return pts, inside(sa, ea), inside(sb, eb)


def combine_any(a: Intervals, b: Intervals, op: str) -> Intervals:
    """combine() on int64 when both operands fit, else on 128-bit pairs."""
    narrow = not is_wide(a.starts) and not is_wide(b.starts)
    if narrow and fits(a.starts, a.ends) and fits(b.starts, b.ends):
        return combine(a, b, op)
    return combine_wide(a, b, op)


def difference(a: Intervals, b: Intervals) -> Intervals:
    """a - b for normalised int64 intervals, without merging their bounds into one sorted
    array: two bisections per interval of a find the intervals of b inside it, and the gaps
    between those are the pieces that are left (made all at once, a slice of a at a time so
    that the temporaries stay small)."""
    sa, ea = _arrays(a)
    sb, eb = _arrays(b)
    if not len(sa) or not len(sb):
        return Intervals(sa, ea)
    parts = [
        _minus(sa[i : i + _SLICE], ea[i : i + _SLICE], sb, eb) for i in range(0, len(sa), _SLICE)
    ]
    if len(parts) == 1:
        return Intervals(*parts[0])
    return Intervals(np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))


_SLICE = 1 << 17


def _minus(sa: NDArray, ea: NDArray, sb: NDArray, eb: NDArray) -> tuple[NDArray, NDArray]:
    lo: NDArray = np.searchsorted(eb, sa, "left")  # the first of b that ends at or after s
    cnt: NDArray = np.searchsorted(sb, ea, "right") - lo  # of b from lo on, those before e
    size = cnt + 1  # pieces: before the first of b, between them, after the last
    offsets = np.cumsum(size) - size
    rep = np.repeat(np.arange(len(sa)), size)
    k = np.arange(int(size.sum())) - offsets[rep]
    j = lo[rep] + k
    top = len(sb) - 1
    start = np.where(k == 0, sa[rep], eb[np.clip(j - 1, 0, top)] + 1)
    end = np.where(k == cnt[rep], ea[rep], sb[np.clip(j, 0, top)] - 1)
    keep = start <= end
    return start[keep], end[keep]


def combine(a: Intervals, b: Intervals, op: str) -> Intervals:
    if op == "difference":
        return difference(a, b)
    pts, ina, inb = _segments(a, b)
    if op == "union":
        keep = ina | inb
    elif op == "intersection":
        keep = ina & inb
    else:  # pragma: no cover - a programming error
        raise ValueError(op)
    # keep[k] describes [pts[k], pts[k+1]); the last segment is never kept (all ends are in pts).
    prev = np.concatenate(([False], keep[:-1]))
    nxt = np.concatenate((keep[1:], [False]))
    first_idx = np.flatnonzero(keep & ~prev)
    last_idx = np.flatnonzero(keep & ~nxt)
    return Intervals(pts[first_idx], pts[last_idx + 1] - 1)


def covered(iv: Intervals, first: int, last: int) -> int:
    if is_wide(iv.starts):
        return _covered_wide(iv, first, last)
    s, e = _arrays(iv)
    i = int(np.searchsorted(e, first, side="left"))
    j = int(np.searchsorted(s, last, side="right"))
    if i >= j:
        return 0
    lo = np.maximum(s[i:j], first)
    hi = np.minimum(e[i:j], last)
    return int((hi - lo + 1).sum())


def _covered_wide(iv: Intervals, first: int, last: int) -> int:
    # Intervals are sorted and disjoint: the ones that can overlap [first, last] are those
    # whose start high half is within [first >> 64, last >> 64], found by bisection.
    shi = iv.starts[:, 0]
    i = int(np.searchsorted(shi, np.uint64(first >> 64), side="left"))
    j = int(np.searchsorted(shi, np.uint64(last >> 64), side="right"))
    i = max(i - 1, 0)
    starts = to_list(iv.starts[i:j])
    ends = to_list(iv.ends[i:j])
    return sum(
        min(e, last) - max(s, first) + 1
        for s, e in zip(starts, ends, strict=True)
        if s <= last and e >= first
    )


def coverage_many(iv: Intervals, firsts: Ints, lasts: Ints) -> NDArray:
    """For each [first, last], how many of its addresses the intervals hold, all at once.

    F(x), the number of held addresses below x, is a prefix sum of interval sizes plus the
    part of the interval that x falls in; the coverage of [a, b] is F(b + 1) - F(a).
    """
    s, e = _arrays(iv)
    prefix = np.concatenate(([0], np.cumsum(e - s + 1)))

    def below(x: NDArray) -> NDArray:
        k = np.searchsorted(s, x, side="left") - 1  # last interval starting before x
        kk = np.maximum(k, 0)
        inside = np.minimum(x, e[kk] + 1) - s[kk]
        return np.where(k >= 0, prefix[kk] + inside, 0)

    a = np.asarray(firsts, dtype=np.int64)
    b = np.asarray(lasts, dtype=np.int64)
    if not len(s):
        return np.zeros(len(a), dtype=np.int64)
    return below(b + 1) - below(a)


def size(iv: Intervals) -> int:
    if is_wide(iv.starts):
        return wide_size(iv)
    s, e = _arrays(iv)
    return int((e - s + 1).sum())


def wide_intervals(iv: Intervals, min_size: int) -> list[tuple[int, int]]:
    if is_wide(iv.starts):
        shi, ehi = iv.starts[:, 0], iv.ends[:, 0]
        # a span of at least min_size needs high halves at least (min_size >> 64) - 1 apart
        need = np.uint64(max((min_size >> 64) - 1, 0))
        pick = np.flatnonzero(ehi - shi >= need)
        pairs = zip(to_list(iv.starts[pick]), to_list(iv.ends[pick]), strict=True)
        return [(a, b) for a, b in pairs if b - a + 1 >= min_size]
    s, e = _arrays(iv)
    if min_size >= _LIMIT:
        return []
    pick = np.flatnonzero(e - s + 1 >= min_size)
    return list(zip(s[pick].tolist(), e[pick].tolist(), strict=True))


def wider_than(first: Ints, last: Ints, limit: int) -> list[int]:
    """Indexes where last - first >= limit (limit below 2**128)."""
    if is_wide(first) or is_wide(last):
        fhi, flo = _wide(first)
        lhi, llo = _wide(last)
        dlo = llo - flo
        dhi = lhi - fhi - (llo < flo).astype(np.uint64)
        khi, klo = np.uint64(limit >> 64), np.uint64(limit & _M64)
        return np.flatnonzero((dhi > khi) | ((dhi == khi) & (dlo >= klo))).tolist()  # type: ignore[no-any-return]
    f = np.asarray(first, dtype=np.int64)
    last_ = np.asarray(last, dtype=np.int64)
    return [int(i) for i in np.flatnonzero(last_ - f >= limit)]


def blocks4(iv: Intervals, bits: int = 32) -> tuple[NDArray, NDArray]:
    """Minimal CIDR decomposition of every interval at once; (networks, prefixlens) sorted."""
    cur, end = _arrays(iv)
    nets = []
    plens = []
    while len(cur):
        span = end - cur + 1
        low = cur & -cur
        low[cur == 0] = np.int64(1) << bits
        # floor(log2(span)) through frexp: exact for integers below 2**53.
        _, exp = np.frexp(span.astype(np.float64))
        top = np.left_shift(np.int64(1), (exp - 1).astype(np.int64))
        step = np.minimum(low, top)
        _, sexp = np.frexp(step.astype(np.float64))
        nets.append(cur)
        plens.append(bits - (sexp - 1))
        cur = cur + step
        more = cur <= end
        cur = cur[more]
        end = end[more]
    if not nets:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty
    net = np.concatenate(nets)
    plen = np.concatenate(plens).astype(np.int64)
    order = np.argsort(net, kind="stable")
    return net[order], plen[order]


def cidr_blocks(family: int, iv: Intervals) -> Iterator[tuple[int, int]]:
    """(network, prefixlen) of the minimal CIDRs; an IPv6 set may be held as int64 when all
    its values are small, so the family, not the array, decides the prefix arithmetic."""
    if family == 6:
        hi, lo, plen6 = blocks_wide(iv)
        return zip(to_list(_pack(hi, lo)), plen6.tolist(), strict=True)
    net, plen = blocks4(iv)
    return zip(net.tolist(), plen.tolist(), strict=True)


CHUNK = 1 << 15
"""Rows per slice of the bulk text routines: big enough to amortise numpy, small enough that
their buffers stay in cache."""


def _bitlen64(x: NDArray) -> NDArray:
    """Exact bit length of uint64 values (float64 is exact only below 2**53: use halves)."""
    high = (x >> np.uint64(32)).astype(np.float64)
    low = (x & np.uint64(0xFFFFFFFF)).astype(np.float64)
    _, eh = np.frexp(high)
    _, el = np.frexp(low)
    return np.where(high > 0, 32 + eh, el).astype(np.int64)


_FEW = 64


def blocks_wide(iv: Intervals) -> tuple[NDArray, NDArray, NDArray]:
    """Minimal CIDR decomposition for 128-bit intervals as (high, low) uint64 halves.

    Same loop as :func:`blocks4`, with sizes kept as exponents: each step takes the largest
    block that is aligned at the current start and fits before the end.
    Returns (network high, network low, prefixlen), sorted.
    """
    chi, clo = _wide(iv.starts)
    ehi, elo = _wide(iv.ends)
    one = np.uint64(1)
    out_hi, out_lo, out_plen = [], [], []
    while len(chi):
        # span - 1 = end - start, as (high, low) with borrow; its bit length bounds the block
        dlo = elo - clo
        dhi = ehi - chi - (elo < clo).astype(np.uint64)
        span_bits = np.where(dhi > 0, 64 + _bitlen64(dhi), _bitlen64(dlo))
        # bit length of (end - start + 1) is that of (end - start) unless it is all ones
        all_ones_lo = dlo == np.uint64(0xFFFFFFFFFFFFFFFF)
        carry_to_hi = all_ones_lo & (dhi == 0)
        d1_hi = dhi + all_ones_lo.astype(np.uint64)
        d1_lo = dlo + one
        span_bits = np.where(
            carry_to_hi, 65, np.where(d1_hi > 0, 64 + _bitlen64(d1_hi), _bitlen64(d1_lo))
        )
        k_span = span_bits - 1
        whole = (dhi == np.uint64(_M64)) & all_ones_lo  # the span is all of 2**128
        k_span = np.where(whole, 128, k_span)
        tz_lo = _bitlen64(clo & (~clo + one)) - 1
        tz_hi = _bitlen64(chi & (~chi + one)) - 1
        k_low = np.where(clo != 0, tz_lo, np.where(chi != 0, 64 + tz_hi, 128))
        k = np.minimum(k_low, k_span)
        out_hi.append(chi)
        out_lo.append(clo)
        out_plen.append(128 - k)
        # advance by 2**k
        small = k < 64
        add_lo = np.where(small, one << np.minimum(k, 63).astype(np.uint64), np.uint64(0))
        nlo = clo + add_lo
        carry = (nlo < clo).astype(np.uint64)
        add_hi = np.where(small, np.uint64(0), one << np.clip(k - 64, 0, 63).astype(np.uint64))
        nhi = chi + add_hi + carry
        wrapped = (nhi < chi) | ((nhi == chi) & (add_hi > 0))  # passed the top of the space
        more = ~wrapped & (k < 128) & ((nhi < ehi) | ((nhi == ehi) & (nlo <= elo)))
        chi, clo, ehi, elo = nhi[more], nlo[more], ehi[more], elo[more]
        if 0 < len(chi) <= _FEW:
            # a few long intervals left (wide IPv6 gaps take up to 2 x 128 blocks): each
            # numpy step would cost more than finishing them one by one
            nets: list[int] = []
            plens: list[int] = []
            starts, ends = to_list(_pack(chi, clo)), to_list(_pack(ehi, elo))
            for first, last in zip(starts, ends, strict=True):
                for block, length in intervals.cidr_blocks(128, first, last):
                    nets.append(block)
                    plens.append(length)
            out_hi.append(np.array([n >> 64 for n in nets], dtype=np.uint64))
            out_lo.append(np.array([n & _M64 for n in nets], dtype=np.uint64))
            out_plen.append(np.array(plens, dtype=np.int64))
            break
    if not out_hi:
        empty = np.empty(0, dtype=np.uint64)
        return empty, empty, np.empty(0, dtype=np.int64)
    hi = np.concatenate(out_hi)
    lo = np.concatenate(out_lo)
    plen = np.concatenate(out_plen)
    order = np.lexsort((lo, hi))
    return hi[order], lo[order], plen[order]


def ranks128(pairs: Sequence[tuple[NDArray, NDArray]]) -> list[NDArray]:
    """For columns of 128-bit values as (high, low) uint64 halves, each value's rank among
    all the distinct values of all the columns (int64): the ranks order as the values do."""
    sizes = [len(hi) for hi, _ in pairs]
    hi = np.concatenate([h for h, _ in pairs]) if pairs else np.empty(0, np.uint64)
    lo = np.concatenate([x for _, x in pairs]) if pairs else np.empty(0, np.uint64)
    rank = np.empty(len(hi), dtype=np.int64)
    if len(hi):
        order = np.lexsort((lo, hi))
        h, x = hi[order], lo[order]
        new = np.ones(len(order), dtype=bool)
        new[1:] = (h[1:] != h[:-1]) | (x[1:] != x[:-1])
        rank[order] = np.cumsum(new) - 1
    return np.split(rank, np.cumsum(sizes)[:-1]) if pairs else []


def wide_size(iv: Intervals) -> int:
    """:func:`size` of 128-bit intervals: the differences end - start as (high, low) halves,
    summed a 32-bit quarter at a time (exact below 2**32 intervals), plus one per interval."""
    shi, slo = _wide(iv.starts)
    ehi, elo = _wide(iv.ends)
    dlo = elo - slo
    dhi = ehi - shi - (elo < slo).astype(np.uint64)
    total = len(shi)
    for half, shift in ((dlo, 0), (dhi, 64)):
        total += int((half & _LOW32).sum(dtype=np.uint64)) << shift
        total += int((half >> np.uint64(32)).sum(dtype=np.uint64)) << (shift + 32)
    return total


def partly_held(iv: Intervals, firsts: Ints, lasts: Ints) -> NDArray:
    """Indexes of the ranges [first, last] of which the normalised intervals hold some
    addresses but not all, for values up to 128 bits: found on ranks, without sizes."""
    if not len(iv.starts):
        return np.empty(0, dtype=np.int64)
    s, e, a, b = ranks128([_wide(iv.starts), _wide(iv.ends), _wide(firsts), _wide(lasts)])
    k = np.searchsorted(s, a, "right") - 1  # the last interval that starts at or before a
    end = np.where(k >= 0, e[np.maximum(k, 0)], -1)
    starts_inside = np.searchsorted(s, b, "right") - 1 > k  # one starts in (a, b]
    return np.flatnonzero(((end >= a) | starts_inside) & (end < b))
