"""Text built in bulk on numpy: the minimal CIDRs of interval sets, one per line, and rows of
text assembled from fixed character slots (the reports' rows). Every character has a slot in
a matrix whose rows are slots and whose columns are lines; the slots a line does not use are
squeezed out at the end, so no Python object is made per line.
"""

from __future__ import annotations

from collections.abc import Sequence

# auditor._vector first: it sets numpy's thread default before numpy loads
from auditor._vector import CHUNK, NDArray, _arrays, blocks4, blocks_wide, np, parallel_map
from auditor.intervals import Intervals


def cidr_lines_v4(iv: Intervals) -> str:
    """The minimal CIDRs, one per line (each ending in a newline), formatted all at once.

    Every line is octet, '.', octet, '.', octet, '.', octet, '/', prefix, newline; the digits
    of each number come from a table and are scattered to their offsets in one buffer.
    """
    net, plen = blocks4(iv)
    return "".join(
        parallel_map(
            lambda i: _v4_text(net[i : i + CHUNK], plen[i : i + CHUNK]), range(0, len(net), CHUNK)
        )
    )


def _v4_text(net: NDArray, plen: NDArray) -> str:
    """Lines of octet '.' octet '.' octet '.' octet '/' prefix: every character has a fixed
    slot (three per octet, two for the prefix), the digits come from divisions of whole
    rows, and the slots a line does not use (leading zeros) are squeezed out at the end."""
    n = len(net)
    chars = np.empty((19, n), dtype=np.uint8)
    keep = np.ones((19, n), dtype=bool)
    for k, shift in enumerate((24, 16, 8, 0)):
        octet = ((net >> shift) & 255).astype(np.uint8)
        tens = octet // np.uint8(10)
        row = 4 * k
        chars[row] = octet // np.uint8(100) + np.uint8(48)
        chars[row + 1] = tens % np.uint8(10) + np.uint8(48)
        chars[row + 2] = octet - tens * np.uint8(10) + np.uint8(48)
        chars[row + 3] = 46 if k < 3 else 47  # . . . /
        keep[row] = octet >= 100
        keep[row + 1] = octet >= 10
    p = plen.astype(np.uint8)
    chars[16] = p // np.uint8(10) + np.uint8(48)
    chars[17] = p % np.uint8(10) + np.uint8(48)
    chars[18] = 10
    keep[16] = p >= 10
    text: str = chars.T[keep.T].tobytes().decode("ascii")
    return text


def cidr_lines_v6(iv: Intervals) -> str:
    """The minimal CIDRs of 128-bit intervals, one per line, in RFC 5952 text, all at once.

    Eight groups in lowercase hex without leading zeros; the longest run of two or more zero
    groups (the first one on a tie) becomes '::' (RFC 5952 section 4.2).
    """
    hi, lo, plen = blocks_wide(iv)
    # in slices, so that the character buffers are reused warm rather than faulted in
    step = CHUNK
    return "".join(
        parallel_map(
            lambda i: _v6_text(hi[i : i + step], lo[i : i + step], plen[i : i + step]),
            range(0, len(hi), step),
        )
    )


def _v6_text(hi: NDArray, lo: NDArray, plen: NDArray) -> str:
    """RFC 5952 lines, every character in a fixed slot, then the unused slots squeezed out.

    Per group two slots for colons and four for hex digits (right-aligned), then '/', three
    prefix digits and a newline: 53 slots. Rows are slots and columns are lines, so every
    step works on whole contiguous rows.
    """
    n = len(hi)
    groups = np.empty((8, n), dtype=np.uint16)
    for k in range(4):
        shift = np.uint64(48 - 16 * k)
        groups[k] = (hi >> shift) & np.uint64(0xFFFF)
        groups[4 + k] = (lo >> shift) & np.uint64(0xFFFF)
    # the longest run of zero groups (the first one on a tie), if two or more long
    run = np.zeros(n, dtype=np.uint8)
    best = np.zeros(n, dtype=np.uint8)
    end = np.zeros(n, dtype=np.uint8)
    for k in range(8):
        run = (run + np.uint8(1)) * (groups[k] == 0)
        longer = run > best
        best = np.where(longer, run, best)
        end = np.where(longer, np.uint8(k), end)
    has_run = best >= 2
    start = np.where(has_run, end + np.uint8(1) - best, np.uint8(99))
    end = np.where(has_run, end, np.uint8(99))
    chars = np.empty((53, n), dtype=np.uint8)
    keep = np.empty((53, n), dtype=bool)
    for k in range(8):
        base = 6 * k
        g = groups[k]
        at_start = start == k
        in_run = has_run & (start <= k) & (k <= end)
        chars[base] = 58
        chars[base + 1] = 58
        if k == 0:
            keep[base] = at_start
        else:
            # one colon before a group, two where the run begins, none inside it or just after
            keep[base] = at_start | ~(in_run | (end + np.uint8(1) == k))
        keep[base + 1] = at_start
        shown = ~in_run
        for j in range(4):
            nibble = ((g >> np.uint16(12 - 4 * j)) & np.uint16(0xF)).astype(np.uint8)
            chars[base + 2 + j] = nibble + np.uint8(48) + (nibble > 9) * np.uint8(39)
            if j < 3:
                keep[base + 2 + j] = shown & (g >= np.uint16(1 << (4 * (3 - j))))
            else:
                keep[base + 2 + j] = shown
    p = plen.astype(np.uint8)
    tens = p // np.uint8(10)
    chars[48] = 47
    keep[48] = True
    chars[49] = p // np.uint8(100) + np.uint8(48)
    chars[50] = tens % np.uint8(10) + np.uint8(48)
    chars[51] = p - tens * np.uint8(10) + np.uint8(48)
    keep[49] = p >= 100
    keep[50] = p >= 10
    keep[51] = True
    chars[52] = 10
    keep[52] = True
    text: str = chars.T[keep.T].tobytes().decode("ascii")
    return text


def cidr_lines(family: int, iv: Intervals) -> str:
    if family == 4:
        if not isinstance(iv.starts, np.ndarray):
            iv = Intervals(*_arrays(iv))
        return cidr_lines_v4(iv)
    return cidr_lines_v6(iv)


# --- rows of text built in bulk ---------------------------------------------------------------


def byte_table(strings: Sequence[bytes]) -> tuple[NDArray, NDArray]:
    """Byte strings as a (count, width) uint8 matrix, each left-aligned and padded with zero
    bytes to the longest, and their lengths."""
    lens = np.fromiter(map(len, strings), dtype=np.int64, count=len(strings))
    width = int(lens.max()) if len(strings) else 0
    buf = np.frombuffer(b"".join(s.ljust(width, b"\0") for s in strings), dtype=np.uint8)
    return buf.reshape(len(strings), width), lens


def slots(lens: NDArray, width: int) -> NDArray:
    """Which of ``width`` slots each row uses: the first ``lens`` of them."""
    return np.arange(width, dtype=np.int64) < lens[:, None]


def digit_slots(values: NDArray) -> tuple[NDArray, NDArray]:
    """Decimal digits of non-negative values, right-aligned in (count, width) uint8 rows, and
    the slots each value uses (at least one: 0 is ``0``)."""
    rest = np.asarray(values, dtype=np.int64)
    width = len(str(int(rest.max()))) if len(rest) else 1
    chars = np.empty((width, len(rest)), dtype=np.uint8)
    keep = np.empty((width, len(rest)), dtype=bool)
    for j in range(width - 1, -1, -1):
        chars[j] = rest % 10 + 48
        keep[j] = rest > 0
        rest = rest // 10
    keep[width - 1] = True
    return chars.T, keep.T


def join_slots(columns: Sequence[tuple[NDArray, NDArray]]) -> tuple[NDArray, NDArray]:
    """Rows made of columns of (chars, keep) matrices, one row each: the kept bytes of every
    row, row after row, and where each row ends in them."""
    chars = np.concatenate([c for c, _ in columns], axis=1)
    keep = np.concatenate([k for _, k in columns], axis=1)
    return chars[keep], np.cumsum(keep.sum(axis=1))


def cidr_text(family: int, *columns: NDArray) -> str:
    """:func:`cidr_lines` of blocks already made: (network, prefixlen) for IPv4, (network high,
    network low, prefixlen) for IPv6, as :func:`blocks4` and :func:`blocks_wide` give them."""
    text = _v4_text if family == 4 else _v6_text
    step = CHUNK
    return "".join(
        parallel_map(
            lambda i: text(*(c[i : i + step] for c in columns)), range(0, len(columns[0]), step)
        )
    )
