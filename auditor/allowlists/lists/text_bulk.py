"""The fast path of the strict text reader for big lists: numpy routes each line to a column
parser (dotted-quad IPv4, or ``inet_pton`` for IPv6), and only the lines those refuse take the
general, exact path of :mod:`auditor.allowlists.lists.text`.

Imported only for inputs big enough to pay for numpy (see ``text.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

# auditor._vector first: it sets numpy's thread default before numpy loads
from auditor import _vector
from auditor._vector import CHUNK, NDArray, np

_WIDTH = 18  # len("255.255.255.255/32")
ROWS = 8192
"""Lines per slice of the column parsers: their character matrices (up to 43 x ROWS bytes) and
the temporaries made from them stay in the core's cache, which measured faster than bigger
slices even though it takes more numpy calls."""
_COLS4 = np.arange(_WIDTH, dtype=np.int64)[:, None]


def _chunked(
    parse: Callable[[NDArray, NDArray, NDArray], tuple[NDArray, ...]],
    buf: NDArray,
    starts: NDArray,
    lengths: NDArray,
) -> tuple[NDArray, ...]:
    """Run a column parser over slices of lines, so its temporaries stay small and warm; the
    slices go to the machine's cores (numpy releases the interpreter lock in its loops)."""
    if len(starts) <= ROWS:
        return parse(buf, starts, lengths)
    slices = range(0, len(starts), ROWS)
    parts = _vector.parallel_map(
        lambda i: parse(buf, starts[i : i + ROWS], lengths[i : i + ROWS]), slices
    )
    return tuple(np.concatenate(cols) for cols in zip(*parts, strict=True))


def _down(mat: NDArray, k: int) -> NDArray:
    """Column-major matrix moved k rows down: row c holds what row c - k held, zero filled
    (for a line: the character k places to the left)."""
    out = np.zeros_like(mat)
    out[k:] = mat[:-k]
    return out


def _up(mat: NDArray, k: int) -> NDArray:
    """Row c holds what row c + k held (the character k places to the right), zero filled."""
    out = np.zeros_like(mat)
    out[:-k] = mat[k:]
    return out


def _running(mat: NDArray, dtype: type) -> NDArray:
    """Running count down the rows (np.cumsum along axis 0 walks each line with a stride;
    adding whole rows is contiguous and several times faster)."""
    out = mat.astype(dtype)
    for c in range(1, len(out)):
        out[c] += out[c - 1]
    return out


def _by_rows(
    parse: Callable[[NDArray, NDArray, NDArray], tuple[NDArray, ...]],
    buf: NDArray,
    width: int,
    starts: NDArray,
    lengths: NDArray,
) -> tuple[NDArray, ...]:
    """Run a column parser on lines given by their starts: a line's row of characters is a
    row of a sliding window over the buffer (no copy of it); the last lines, closer than
    ``width`` to its end, get their rows from a small zero-padded copy of the tail."""
    edge = len(buf) - width
    body = starts <= edge
    if edge >= 0 and body.all():
        return _chunked(parse, _window(buf, width), starts, lengths)
    cut = max(edge, 0)
    tail = np.concatenate((buf[cut:], np.zeros(width, dtype=np.uint8)))
    if not body.any():
        return _chunked(parse, _window(tail, width), starts - cut, lengths)
    outs = []
    for part, source, offset in ((body, buf, 0), (~body, tail, cut)):
        rows = _chunked(parse, _window(source, width), starts[part] - offset, lengths[part])
        outs.append((part, rows))
    n = len(starts)
    merged = []
    for k in range(len(outs[0][1])):
        column = np.empty(n, dtype=outs[0][1][k].dtype)
        for part, got in outs:
            column[part] = got[k]
        merged.append(column)
    return tuple(merged)


def _window(buf: NDArray, width: int) -> NDArray:
    return np.lib.stride_tricks.sliding_window_view(buf, width)


def _simple_v4(win: NDArray, starts: NDArray, lengths: NDArray) -> tuple[NDArray, ...]:
    """Parse lines that are only digits, dots and a slash, all at once.

    Returns (ok, address, prefixlen). Lines that are not strictly valid (leading zeros, octet
    over 255, missing parts, ...) get ok=False and are re-read by the exact parser, which
    also words the error. The lines are the columns of a character matrix (row c holds every
    line's character c), so each step is a comparison or an add of whole rows: a field's
    value is read at its last digit from the two characters before it, and its place from
    the number of separators before it.
    """
    inside = _COLS4 < lengths[None, :]
    mat = np.ascontiguousarray(win[starts].T) * inside  # bytes after the line are zeroed
    d = mat - np.uint8(48)  # digits 0-9; every other byte wraps to 10 or more
    dig = d < 10
    dot = mat == 46
    slash = mat == 47
    sep = dot | slash
    left, right = _down(dig, 1), _up(dig, 1)
    # separators before each character: dot, dot, dot, then a slash
    field = _running(sep, np.uint8)
    before = field - sep
    end = dig & ~right
    d16 = (d * dig).astype(np.uint16)
    value = d16 + _down(d16, 1) * np.uint16(10) + _down(d16, 2) * (left * np.uint16(100))
    octet = end & (field < 4)
    bad = inside & ~(dig | sep)  # a character that is not a digit, dot or slash
    bad |= sep & ~(left & right)  # an empty field: a separator at an end or beside another
    bad |= _down(dig, 3) & _down(dig, 2) & left & dig  # four digits in a row
    bad |= dig & ~left & (d == 0) & right  # a leading zero
    bad |= slash & (before != 3)
    bad |= dot & (before >= 3)
    bad |= octet & (value > 255)
    nsep = field[-1]
    ok = ~bad.any(axis=0) & dig[0] & ((nsep == 3) | (nsep == 4))
    shift = (np.uint8(3) - np.minimum(field, 3)).astype(np.uint32) * np.uint32(8)
    addr = ((value * octet).astype(np.uint32) << shift).sum(axis=0, dtype=np.uint32)
    prefix = (value * (end & (field == 4))).sum(axis=0, dtype=np.uint16)
    plen = np.where(nsep == 4, prefix, 32).astype(np.uint8)
    ok &= plen <= 32
    return ok, addr, plen  # uint32 and uint8: a quarter of the memory of int64 columns


_WIDTH6 = 43  # len("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128")


_U64 = np.uint64
_ONES = _U64(0xFFFFFFFFFFFFFFFF)
_SHORT6 = 24  # most written IPv6 prefixes fit (2001:db8:1234:5600::/56): half the matrix


def _simple_v6(win: NDArray, starts: NDArray, lengths: NDArray) -> tuple[NDArray, ...]:
    """Parse lines of hex digits and colons with an optional /prefix, all at once.

    Returns (ok, high, low, prefixlen), the address as two uint64 halves. Same contract and
    layout as the IPv4 column parser. Groups are the runs of one to four hex digits; a
    group's place is its rank in the line, or, after a '::', its rank counted from the end
    of the address; each place is then gathered from the whole matrix at once.
    """
    n = len(starts)
    width = win.shape[1]
    cols = np.arange(width, dtype=np.int64)[:, None]
    inside = cols < lengths[None, :]
    mat = np.ascontiguousarray(win[starts].T) * inside
    slash = mat == 47
    has_prefix = slash.any(axis=0)
    cut = np.where(has_prefix, slash.argmax(axis=0), lengths)  # where the address ends
    addr = cols < cut[None, :]
    d = mat - np.uint8(48)
    digit = d < 10
    lower = (mat | np.uint8(0x20)) - np.uint8(97)
    letter = lower < 6
    ishex = (digit | letter) & addr
    hexval = (d * digit + (lower + np.uint8(10)) * letter).astype(np.uint16)
    colon = (mat == 58) & addr
    bad = addr & ~(ishex | colon)
    # the prefix: one to three ASCII digits, no leading zero, at most 128
    bad |= inside & ~addr & (cols != cut[None, :]) & ~digit
    plen_len = lengths - cut - 1
    r = np.arange(n)
    p0, p1, p2 = (mat[np.minimum(cut + k, width - 1), r].astype(np.int64) - 48 for k in (1, 2, 3))
    two = p0 * 10 + p1
    plen = np.where(plen_len == 1, p0, np.where(plen_len == 2, two, two * 10 + p2))
    plen = np.where(has_prefix, plen, 128)
    ok = ~has_prefix | ((plen_len >= 1) & (plen_len <= 3) & ((plen_len == 1) | (p0 != 0)))
    ok &= plen <= 128
    # colons: at most one '::' and no ':::'; a single colon stands between two groups
    left, right = _down(ishex, 1), _up(ishex, 1)
    colon_left, colon_right = _down(colon, 1), _up(colon, 1)
    bad |= colon & ~colon_left & ~colon_right & ~(left & right)
    double = colon & colon_right
    ndouble = double.sum(axis=0, dtype=np.uint8)
    ok &= ndouble <= 1
    gap = np.where(ndouble == 1, double.argmax(axis=0), width)
    # groups: one to four hex digits, valued at their last digit
    left2 = left & _down(ishex, 2)
    left3 = left2 & _down(ishex, 3)
    bad |= ishex & left3 & _down(ishex, 4)
    end = ishex & ~right
    value = (
        hexval
        + (_down(hexval, 1) << np.uint16(4))
        + ((_down(hexval, 2) * left2) << np.uint16(8))
        + ((_down(hexval, 3) * left3) << np.uint16(12))
    )
    rank = _running(end, np.int16)
    groups = rank[-1]
    ok &= np.where(ndouble == 1, groups <= 7, groups == 8)
    ok &= ~bad.any(axis=0)
    at, row = np.nonzero(end)  # every group's last digit
    ordinal = rank[at, row] - 1
    place = np.where(at > gap[row], ordinal + 8 - groups[row], ordinal)
    table = np.zeros((n, 8), dtype=np.uint64)
    table[row, np.clip(place, 0, 7)] = value[at, row]  # a valid line has one group a place
    high = (table[:, 0] << _U64(48)) | (table[:, 1] << _U64(32)) | (table[:, 2] << _U64(16))
    low = (table[:, 4] << _U64(48)) | (table[:, 5] << _U64(32)) | (table[:, 6] << _U64(16))
    return ok, high | table[:, 3], low | table[:, 7], plen


def _v6_columns(
    buf: NDArray, starts: NDArray, lengths: NDArray, index: NDArray
) -> tuple[NDArray, NDArray, NDArray]:
    """Parse the candidate IPv6 lines; returns (accepted line indexes, firsts, lasts), the
    values as (high, low) uint64 pairs. A line with host bits, an IPv4-mapped address or
    anything not strictly valid is left to the exact path. Short lines are parsed in a
    narrower matrix than long ones; the results are put back in line order."""
    n = len(index)
    ok = np.zeros(n, dtype=bool)
    high = np.zeros(n, dtype=np.uint64)
    low = np.zeros(n, dtype=np.uint64)
    plen = np.zeros(n, dtype=np.int64)
    short = lengths[index] <= _SHORT6
    for part, width in ((short, _SHORT6), (~short, _WIDTH6)):
        rows = index[part]
        if not len(rows):
            continue
        got = _by_rows(_simple_v6, buf, width, starts[rows], lengths[rows])
        ok[part], high[part], low[part], plen[part] = got
    bits = (128 - plen).astype(np.uint64)
    # the host part: all of low and some of high when the prefix is shorter than /64
    low_mask = np.where(bits >= 64, _ONES, (_U64(1) << np.minimum(bits, _U64(63))) - _U64(1))
    high_mask = np.where(
        bits > 64, (_U64(1) << (np.maximum(bits, _U64(64)) - _U64(64))) - _U64(1), _U64(0)
    )
    high_mask = np.where(bits == 128, _ONES, high_mask)
    ok &= ((high & high_mask) == 0) & ((low & low_mask) == 0)
    ok &= ~((high == 0) & ((low >> _U64(32)) == _U64(0xFFFF)))  # mapped: the exact path
    first = np.empty((int(ok.sum()), 2), dtype=np.uint64)
    first[:, 0] = high[ok]
    first[:, 1] = low[ok]
    last = np.empty_like(first)
    last[:, 0] = high[ok] | high_mask[ok]
    last[:, 1] = low[ok] | low_mask[ok]
    return index[ok], first, last


@dataclass
class Bulk:
    """What the column parsers read, and the lines they left for the exact path."""

    first4: NDArray
    last4: NDArray
    line4: NDArray
    first6: NDArray
    """(high, low) uint64 halves, one row per entry."""
    last6: NDArray
    line6: NDArray
    data: bytes
    """The file's bytes (ASCII), without a byte order mark."""
    slow_index: NDArray
    """Indexes of the lines the column parsers did not take (empty lines excluded)."""
    starts: NDArray
    ends: NDArray

    def slow(self) -> Iterator[tuple[int, str]]:
        """(line number, line text) of every non-empty line the column parsers did not take;
        made one at a time, so that a file of garbage is not held twice."""
        for k in range(0, len(self.slow_index), CHUNK):
            index = self.slow_index[k : k + CHUNK]
            starts = self.starts[index].tolist()
            ends = self.ends[index].tolist()
            for i, start, end in zip(index.tolist(), starts, ends, strict=True):
                yield i + 1, self.data[start:end].decode("ascii")


def columns(data: bytes) -> Bulk | None:
    """The column parse of a big strict list; None when the input needs the general path."""
    data_view = data[3:] if data.startswith(b"\xef\xbb\xbf") else data
    buf = np.frombuffer(data_view, dtype=np.uint8)
    if len(buf) and (buf.max() >= 0x80 or buf.min() == 0):
        return None  # non-ASCII or binary: the general path gives the exact message
    # line bounds as int32 (the reader refuses files anywhere near 2 GiB): half the memory
    nl = np.flatnonzero(buf == 10).astype(np.int32)
    starts = np.empty(len(nl) + 1, dtype=np.int32)
    starts[0] = 0
    starts[1:] = nl + 1
    ends = np.append(nl, np.int32(len(buf)))
    del nl
    if ends[-1] == starts[-1]:
        starts, ends = starts[:-1], ends[:-1]
    ends -= (ends > starts) & (buf[np.maximum(ends - 1, 0)] == 13)  # a CR before the LF
    lengths = ends - starts
    # every line as a row of a character matrix; each column parser checks every character,
    # so a line is simply offered to the IPv4 parser when it is short enough, then to the
    # IPv6 parser, then left to the exact path
    fast_idx = np.flatnonzero((lengths >= 7) & (lengths <= _WIDTH))
    ok, addr, plen = _by_rows(_simple_v4, buf, _WIDTH, starts[fast_idx], lengths[fast_idx])
    hostmask = (np.uint64(1) << (np.uint8(32) - plen).astype(np.uint64)) - np.uint64(1)
    ok &= (addr & hostmask) == 0  # host bits set: the exact path reports them
    good = fast_idx[ok]
    del fast_idx
    first4 = addr[ok].astype(np.int64)
    last4 = first4 | hostmask[ok].astype(np.int64)
    del addr, hostmask, plen
    rest = np.ones(len(starts), dtype=bool)
    rest[good] = False
    rest &= (lengths >= 2) & (lengths <= _WIDTH6)
    good6, first6, last6 = _v6_columns(buf, starts, lengths, np.flatnonzero(rest))

    slow = np.ones(len(starts), dtype=bool)
    slow[good] = False
    slow[good6] = False
    slow &= lengths > 0
    return Bulk(
        first4=first4,
        last4=last4,
        line4=(good + 1).astype(np.int32),
        first6=first6,
        last6=last6,
        line6=(good6 + 1).astype(np.int32),
        data=data_view,
        slow_index=np.flatnonzero(slow),
        starts=starts,
        ends=ends,
    )
