"""The vectorised backend of the interval engine, for big inputs (numpy).

Imported only when a set or a file is big enough to pay for numpy's import. Works on int64
arrays, so it serves every interval list whose values fit (all of IPv4); bigger values (most
of IPv6) stay on the pure-Python path of :mod:`auditor.ipspace`.

Set operations use elementary segments: the sorted boundaries of both operands cut the line
into segments, each either inside or outside each operand; a boolean per segment and one pass
to find runs gives the result. Everything is O(n log n) in one sort.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from auditor import ipspace
from auditor.ipspace import Intervals

if TYPE_CHECKING:
    from auditor.allowlists.base import ReadContext
    from auditor.model import RangeSet

_LIMIT = 1 << 62
NDArray = Any


def fits(starts: Sequence[int], ends: Sequence[int]) -> bool:
    if isinstance(ends, np.ndarray):
        return True
    return not len(ends) or max(ends) < _LIMIT


def _arrays(iv: Intervals) -> tuple[NDArray, NDArray]:
    return np.asarray(iv.starts, dtype=np.int64), np.asarray(iv.ends, dtype=np.int64)


def normalize(starts: Sequence[int], ends: Sequence[int]) -> Intervals:
    s = np.asarray(starts, dtype=np.int64)
    e = np.asarray(ends, dtype=np.int64)
    if not len(s):
        return Intervals(s, e)
    order = np.argsort(s, kind="stable")
    s = s[order]
    e = e[order]
    emax = np.maximum.accumulate(e)
    brk = np.empty(len(s), dtype=bool)
    brk[0] = True
    np.greater(s[1:], emax[:-1] + 1, out=brk[1:])
    last = np.flatnonzero(np.append(brk[1:], True))
    return Intervals(s[brk], emax[last])


def _segments(a: Intervals, b: Intervals) -> tuple[NDArray, NDArray, NDArray]:
    sa, ea = _arrays(a)
    sb, eb = _arrays(b)
    pts = np.unique(np.concatenate((sa, ea + 1, sb, eb + 1)))

    def inside(s: NDArray, e: NDArray) -> NDArray:
        d = np.zeros(len(pts) + 1, dtype=np.int8)
        # Starts are distinct and so are ends; a normalised set never has a start equal to
        # an end + 1 (adjacent intervals are merged), so plain fancy assignment is exact.
        d[np.searchsorted(pts, s)] += 1
        d[np.searchsorted(pts, e + 1)] -= 1
        return np.cumsum(d[:-1], dtype=np.int8) > 0

    return pts, inside(sa, ea), inside(sb, eb)


def combine(a: Intervals, b: Intervals, op: str) -> Intervals:
    pts, ina, inb = _segments(a, b)
    if op == "union":
        keep = ina | inb
    elif op == "intersection":
        keep = ina & inb
    elif op == "difference":
        keep = ina & ~inb
    else:  # pragma: no cover - a programming error
        raise ValueError(op)
    # keep[k] describes [pts[k], pts[k+1]); the last segment is never kept (all ends are in pts).
    prev = np.concatenate(([False], keep[:-1]))
    nxt = np.concatenate((keep[1:], [False]))
    first_idx = np.flatnonzero(keep & ~prev)
    last_idx = np.flatnonzero(keep & ~nxt)
    return Intervals(pts[first_idx], pts[last_idx + 1] - 1)


def covered(iv: Intervals, first: int, last: int) -> int:
    s, e = _arrays(iv)
    i = int(np.searchsorted(e, first, side="left"))
    j = int(np.searchsorted(s, last, side="right"))
    if i >= j:
        return 0
    lo = np.maximum(s[i:j], first)
    hi = np.minimum(e[i:j], last)
    return int((hi - lo + 1).sum())


def size(iv: Intervals) -> int:
    s, e = _arrays(iv)
    return int((e - s + 1).sum())


def wider_than(first: Sequence[int], last: Sequence[int], limit: int) -> list[int]:
    f = np.asarray(first, dtype=np.int64)
    last_ = np.asarray(last, dtype=np.int64)
    return [int(i) for i in np.flatnonzero(last_ - f >= limit)]


def _blocks(iv: Intervals, bits: int = 32) -> tuple[NDArray, NDArray]:
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


def cidr_blocks(iv: Intervals) -> Iterator[tuple[int, int]]:
    net, plen = _blocks(iv)
    return zip(net.tolist(), plen.tolist(), strict=True)


def cidr_text_v4(iv: Intervals) -> list[str]:
    net, plen = _blocks(iv)
    a = (net >> 24).tolist()
    b = ((net >> 16) & 255).tolist()
    c = ((net >> 8) & 255).tolist()
    d = (net & 255).tolist()
    return [
        f"{w}.{x}.{y}.{z}/{p}" for w, x, y, z, p in zip(a, b, c, d, plen.tolist(), strict=True)
    ]


# --- bulk parsing of text lists ------------------------------------------------------------

_WIDTH = 18  # len("255.255.255.255/32")


def _simple_v4(buf: NDArray, starts: NDArray, lengths: NDArray) -> tuple[NDArray, ...]:
    """Parse lines that are only digits, dots and a slash, all at once.

    Returns (ok, address, prefixlen). Lines that are not strictly valid (leading zeros, octet
    over 255, missing parts, ...) get ok=False and are re-read by the exact parser, which
    also words the error.
    """
    n = len(starts)
    cols = np.arange(_WIDTH)
    idx = starts[:, None] + cols
    np.minimum(idx, len(buf) - 1, out=idx)
    mat = buf[idx].astype(np.int16)
    mat[cols[None, :] >= lengths[:, None]] = 0
    ok = np.ones(n, dtype=bool)
    field = np.zeros(n, dtype=np.int8)
    val = np.zeros(n, dtype=np.int64)
    ndig = np.zeros(n, dtype=np.int8)
    lead0 = np.zeros(n, dtype=bool)
    addr = np.zeros(n, dtype=np.int64)
    for j in range(_WIDTH):
        c = mat[:, j]
        digit = (c >= 48) & (c <= 57)
        sep = (c == 46) | (c == 47)
        # a digit after a leading '0' in the same field is a leading zero: refused
        ok &= ~(digit & lead0)
        lead0 |= digit & (ndig == 0) & (c == 48)
        val = np.where(digit, val * 10 + (c - 48), val)
        ndig = np.where(digit, ndig + 1, ndig)
        # a separator closes an octet: it must have digits and be at most 255
        dot = c == 46
        slash = c == 47
        ok &= ~(sep & ((ndig == 0) | (val > 255)))
        ok &= ~(dot & (field >= 3))
        ok &= ~(slash & (field != 3))
        addr = np.where(sep, (addr << 8) | val, addr)
        field = np.where(sep, field + 1, field)
        val = np.where(sep, 0, val)
        ndig = np.where(sep, 0, ndig)
        lead0 &= ~sep
    ok &= ndig > 0
    ok &= ndig <= 3
    no_prefix = field == 3
    ok &= no_prefix | (field == 4)
    ok &= np.where(no_prefix, val <= 255, val <= 32)
    addr = np.where(no_prefix, (addr << 8) | val, addr)
    plen = np.where(no_prefix, 32, val)
    return ok, addr, plen


def parse_text(data: bytes, ctx: ReadContext) -> RangeSet | None:
    """The strict text reader for big files; None when the input needs the general path."""
    from auditor.allowlists.base import Collector, columns_result
    from auditor.allowlists.text import strip_comment
    from auditor.model import Columns

    data_view = data[3:] if data.startswith(b"\xef\xbb\xbf") else data
    buf = np.frombuffer(data_view, dtype=np.uint8)
    if (buf >= 0x80).any() or (buf == 0).any():
        return None  # non-ASCII or binary: the general path gives the exact message
    nl = np.flatnonzero(buf == 10)
    starts = np.concatenate(([0], nl + 1))
    ends = np.concatenate((nl, [len(buf)]))
    if ends[-1] == starts[-1]:
        starts, ends = starts[:-1], ends[:-1]
    cr = (ends > starts) & (buf[np.maximum(ends - 1, 0)] == 13)
    ends = ends - cr
    lengths = ends - starts
    allowed = np.zeros(256, dtype=bool)
    allowed[list(b"0123456789./")] = True
    bad = np.concatenate(([0], np.cumsum(~allowed[buf], dtype=np.int64)))
    plain = (bad[ends] - bad[starts] == 0) & (lengths >= 7) & (lengths <= _WIDTH)
    fast_idx = np.flatnonzero(plain)
    ok, addr, plen = _simple_v4(buf, starts[fast_idx], lengths[fast_idx])
    hostmask = (np.int64(1) << (32 - plen)) - 1
    ok &= (addr & hostmask) == 0  # host bits set: the exact path reports them
    good = fast_idx[ok]
    first4 = addr[ok]
    last4 = first4 | hostmask[ok]
    line4 = good + 1

    slow = np.ones(len(starts), dtype=bool)
    slow[good] = False
    slow &= lengths > 0
    out = Collector(ctx, "text")
    text = data_view.decode("ascii")
    for i in np.flatnonzero(slow).tolist():
        s = int(starts[i])
        item = strip_comment(text[s : int(ends[i])])
        if item:
            out.add_text(item, out.origin(i + 1))
    if not len(first4) and not out.entries:
        return None  # the general path words the error
    rest = out.result(data, explicit_empty=True)
    v4_extra = rest.entries.v4
    v4 = Columns(
        first=np.concatenate((first4, np.asarray(v4_extra.first, dtype=np.int64))),
        last=np.concatenate((last4, np.asarray(v4_extra.last, dtype=np.int64))),
        line=np.concatenate((line4, np.asarray(v4_extra.line, dtype=np.int64))),
    )
    return columns_result(data, ctx, "text", v4, rest.entries.v6, rest.findings, rest.reasons)
