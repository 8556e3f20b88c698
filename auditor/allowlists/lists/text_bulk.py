"""The fast path of the strict text reader for big lists: numpy routes each line to a column
parser (dotted-quad IPv4, or ``inet_pton`` for IPv6), and only the lines those refuse take the
general, exact path of :mod:`auditor.allowlists.lists.text`.

Imported only for inputs big enough to pay for numpy (see ``text.py``).
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass

# auditor._vector first: it sets numpy's thread default before numpy loads
from auditor._vector import CHUNK, NDArray, np

_WIDTH = 18  # len("255.255.255.255/32")


def _chunked(
    parse: Callable[[NDArray, NDArray, NDArray], tuple[NDArray, ...]],
    buf: NDArray,
    starts: NDArray,
    lengths: NDArray,
) -> tuple[NDArray, ...]:
    """Run a column parser over slices of lines, so its temporaries stay small and warm."""
    if len(starts) <= CHUNK:
        return parse(buf, starts, lengths)
    parts = [
        parse(buf, starts[i : i + CHUNK], lengths[i : i + CHUNK])
        for i in range(0, len(starts), CHUNK)
    ]
    return tuple(np.concatenate(cols) for cols in zip(*parts, strict=True))


def _simple_v4(buf: NDArray, starts: NDArray, lengths: NDArray) -> tuple[NDArray, ...]:
    """Parse lines that are only digits, dots and a slash, all at once.

    Returns (ok, address, prefixlen). Lines that are not strictly valid (leading zeros, octet
    over 255, missing parts, ...) get ok=False and are re-read by the exact parser, which
    also words the error. The separators of a valid line are exactly three dots and at most
    one slash after them, so their columns give every field's start and length.
    """
    n = len(starts)
    cols = np.arange(_WIDTH, dtype=np.int64)
    idx = starts[:, None] + cols
    np.minimum(idx, len(buf) - 1, out=idx)
    mat = buf[idx]
    pad = cols[None, :] >= lengths[:, None]
    mat[pad] = 0
    dot = mat == 46
    slash = mat == 47
    digit = (mat >= 48) & (mat <= 57)
    ok = (digit | dot | slash | pad).all(axis=1)
    ndot = dot.sum(axis=1)
    nslash = slash.sum(axis=1)
    ok &= (ndot == 3) & (nslash <= 1)
    has_prefix = nslash == 1
    # Separator columns in order, four per line: lines without a slash get one at their end.
    sep = dot | slash
    sep[np.arange(n), np.minimum(lengths, _WIDTH - 1)] |= ~has_prefix
    ok &= sep.sum(axis=1) == 4  # e.g. a line ending in '.' exactly at the width
    sep &= ok[:, None]
    rows, where = np.nonzero(sep)
    good = np.flatnonzero(ok)
    pos = where.reshape(-1, 4)
    # the slash, when present, must come after the last dot
    last_is_slash = mat[good, pos[:, 3]] == 47
    okg = last_is_slash | ~has_prefix[good]
    begin = np.concatenate((np.zeros((len(good), 1), dtype=np.int64), pos + 1), axis=1)
    end = np.concatenate((pos, lengths[good, None]), axis=1)
    width = end - begin  # five fields: four octets and the prefix (0 wide when absent)
    okg &= ((width[:, :4] >= 1) & (width[:, :4] <= 3)).all(axis=1)
    okg &= np.where(has_prefix[good], (width[:, 4] >= 1) & (width[:, 4] <= 2), True)
    digits = mat[good].astype(np.int64) - 48
    r = np.arange(len(good))[:, None]

    def at(k: NDArray) -> NDArray:
        return digits[r, np.minimum(k, _WIDTH - 1)]

    d0, d1, d2 = at(begin), at(begin + 1), at(begin + 2)
    value = np.where(width == 1, d0, np.where(width == 2, d0 * 10 + d1, d0 * 100 + d1 * 10 + d2))
    okg &= ~((width > 1) & (d0 == 0)).any(axis=1)  # leading zeros are refused
    okg &= (value[:, :4] <= 255).all(axis=1)
    plen = np.where(has_prefix[good], value[:, 4], 32)
    okg &= plen <= 32
    addr_g = (value[:, 0] << 24) | (value[:, 1] << 16) | (value[:, 2] << 8) | value[:, 3]
    ok[good] = okg
    addr = np.zeros(n, dtype=np.int64)
    prefix = np.full(n, 32, dtype=np.int64)
    addr[good] = addr_g
    prefix[good] = plen
    return ok, addr, prefix


_C_COLON, _C_OTHER, _C_HEX, _C_DOT = (np.uint8(x) for x in (1, 2, 4, 8))
_CLASS = np.full(256, _C_OTHER, dtype=np.uint8)
_CLASS[list(b"0123456789/\r\n")] = 0
_CLASS[list(b"abcdefABCDEF")] = _C_HEX
_CLASS[ord(".")] = _C_DOT
_CLASS[ord(":")] = _C_COLON
_WIDTH6 = 43  # len("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128")


def _v6_columns(
    text: str, starts: NDArray, ends: NDArray, index: NDArray
) -> tuple[list[int], list[int], list[int]]:
    """Parse the candidate IPv6 lines; returns (accepted line indexes, firsts, lasts).

    A tight loop over inet_pton beats a column parser here: IPv6 lines are long (up to 43
    characters) and few. Same contract as the IPv4 column parser: a line with host bits, an
    IPv4-mapped address or anything not strictly valid is left to the exact path.
    """
    pton, af, from_bytes = socket.inet_pton, socket.AF_INET6, int.from_bytes
    ok: list[int] = []
    first: list[int] = []
    last: list[int] = []
    rows = zip(index.tolist(), starts[index].tolist(), ends[index].tolist(), strict=True)
    for i, s, e in rows:
        addr, slash, prefix = text[s:e].partition("/")
        try:
            value = from_bytes(pton(af, addr), "big")
        except OSError:
            continue
        if slash:
            # ASCII digits only on this path; no sign, no leading zero (RELIABILITY 2.3)
            if not prefix.isdigit() or len(prefix) > 3 or (prefix[:1] == "0" and prefix != "0"):
                continue
            plen = int(prefix)
            if plen > 128:
                continue
        else:
            plen = 128
        mask = (1 << (128 - plen)) - 1
        if value & mask or value >> 32 == 0xFFFF:
            continue
        ok.append(i)
        first.append(value)
        last.append(value | mask)
    return ok, first, last


@dataclass
class Bulk:
    """What the column parsers read, and the lines they left for the exact path."""

    first4: NDArray
    last4: NDArray
    line4: NDArray
    first6: list[int]
    last6: list[int]
    line6: list[int]
    text: str
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
                yield i + 1, self.text[start:end]


def columns(data: bytes) -> Bulk | None:
    """The column parse of a big strict list; None when the input needs the general path."""
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
    # One class byte per character, OR-ed over each line: which parser may take the line.
    # The column parsers re-check every byte, so this only routes lines.
    flags = np.bitwise_or.reduceat(_CLASS[buf], starts) if len(buf) else starts * 0
    flags = np.asarray(flags, dtype=np.uint8)
    flags[lengths == 0] = 0
    plain = ((flags & (_C_COLON | _C_OTHER | _C_HEX)) == 0) & (lengths >= 7) & (lengths <= _WIDTH)
    plain6 = (flags & (_C_OTHER | _C_DOT) == 0) & (flags & _C_COLON > 0) & (lengths <= _WIDTH6)
    text = data_view.decode("ascii")
    good6, first6, last6 = _v6_columns(text, starts, ends, np.flatnonzero(plain6))
    fast_idx = np.flatnonzero(plain)
    ok, addr, plen = _chunked(_simple_v4, buf, starts[fast_idx], lengths[fast_idx])
    hostmask = (np.int64(1) << (32 - plen)) - 1
    ok &= (addr & hostmask) == 0  # host bits set: the exact path reports them
    good = fast_idx[ok]

    slow = np.ones(len(starts), dtype=bool)
    slow[good] = False
    slow[good6] = False
    slow &= lengths > 0
    return Bulk(
        first4=addr[ok],
        last4=addr[ok] | hostmask[ok],
        line4=good + 1,
        first6=first6,
        last6=last6,
        line6=[i + 1 for i in good6],
        text=text,
        slow_index=np.flatnonzero(slow),
        starts=starts,
        ends=ends,
    )
