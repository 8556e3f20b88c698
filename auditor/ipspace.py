"""The interval engine: strict parsing of addresses, networks and ranges, and set algebra.

An address space is kept per family as sorted, disjoint, non-adjacent inclusive integer
intervals. Sets are built in bulk (sort, then one sweep), never by inserting items one by one.
Large IPv4 sets switch to a vectorised backend (:mod:`auditor._vector`, numpy), imported only
when a set is large enough to pay for the import, so small runs stay fast.

Parsing is stricter than netaddr and the standard library on purpose (see RELIABILITY.md 2.x):
no leading zeros in octets or prefixes, ASCII digits only, no zone IDs, no `a/mask` forms.

IPv4-mapped IPv6 (``::ffff:192.0.2.1``, ``::ffff:198.51.100.0/120``) is kept as IPv6, as
written: that is what the kernel, Python's ipaddress and netaddr do (an IPv4 packet never
matches a ``::ffff:`` rule). :attr:`Parsed.mapped` marks it so readers can warn that it does
not cover the IPv4 sender (:func:`mapped_note`).
"""

from __future__ import annotations

import bisect
import re
import socket
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Literal, NamedTuple

from auditor import intervals
from auditor.errors import AddressError
from auditor.intervals import Intervals, Ints

Family = Literal[4, 6]
HostBitsPolicy = Literal["fix", "reject"]

BITS: dict[int, int] = {4: 32, 6: 128}
MAX: dict[int, int] = {4: (1 << 32) - 1, 6: (1 << 128) - 1}

_MAPPED_BASE = 0xFFFF << 32  # ::ffff:0:0/96, RFC 4291 section 2.5.5.2
_DIGITS = re.compile(r"0|[1-9][0-9]{0,2}")
_V4 = re.compile(r"([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})")
_V6_CHARS = re.compile(r"[0-9A-Fa-f:.]+")

# Above this many intervals, set operations run on numpy arrays when numpy is loaded already
# (a big file was read with it); from VECTOR_ALWAYS on, even when that means importing it.
VECTOR_THRESHOLD = 20_000
VECTOR_ALWAYS = 100_000


def vectorise(n: int) -> bool:
    """Whether work on ``n`` intervals should go to numpy: its import costs as much as some
    fifty thousand intervals of work in Python."""
    return n > VECTOR_THRESHOLD and (n > VECTOR_ALWAYS or "numpy" in sys.modules)


def _show(text: object, limit: int = 60) -> str:
    """repr() of an input for a message, cut so that a garbage line cannot flood stderr."""
    shown = repr(text)
    return shown if len(shown) <= limit else shown[: limit - 4] + "...'"


class Parsed(NamedTuple):
    """One parsed address, network or range."""

    family: Family
    first: int
    last: int
    prefixlen: int | None
    """The prefix length for an address or network; None for a range that is not one CIDR."""
    host_bits: bool
    """The text had host bits set (``10.0.0.5/8``) and was normalised to its network."""
    mapped: bool
    """The text was written as IPv4-mapped IPv6 (inside ``::ffff:0:0/96``): kept as IPv6."""


def _parse_v4(text: str, original: str) -> int:
    m = _V4.fullmatch(text)
    if m is None:
        raise AddressError(f"{_show(original)} is not an IPv4 address", hint=_v4_hint(text))
    value = 0
    for octet in m.groups():
        if len(octet) > 1 and octet[0] == "0":
            raise AddressError(
                f"{_show(original)} is not an IPv4 address"
                f" (octet {_show(octet)} has a leading zero)",
                hint="leading zeros are ambiguous (octal or decimal); write the octet without them",
            )
        n = int(octet)
        if n > 255:
            raise AddressError(f"{_show(original)} is not an IPv4 address (octet {n} > 255)")
        value = (value << 8) | n
    return value


def _v4_hint(text: str) -> str | None:
    if text.count(".") != 3:
        return "an IPv4 address has four dotted decimal octets"
    if not text.isascii():
        return "only ASCII digits are allowed"
    return None


def _parse_v6(text: str, original: str) -> int:
    if "%" in text:
        raise AddressError(
            f"{_show(original)} is not a usable IPv6 address (zone IDs are not allowed)",
            hint="a zone ID only has meaning on the local host; remove the %... part",
        )
    if not _V6_CHARS.fullmatch(text):
        raise AddressError(f"{_show(original)} is not an IPv6 address (unexpected characters)")
    try:
        packed = socket.inet_pton(socket.AF_INET6, text)
    except OSError:
        raise AddressError(f"{_show(original)} is not an IPv6 address") from None
    return int.from_bytes(packed, "big")


def parse_address(text: str) -> tuple[Family, int, bool]:
    """Parse one address; returns (family, value, mapped). IPv4-mapped IPv6 stays IPv6."""
    if not isinstance(text, str):
        raise AddressError(f"{_show(text)} is not a string")
    if ":" in text:
        value = _parse_v6(text, text)
        return 6, value, value >> 32 == 0xFFFF
    return 4, _parse_v4(text, text), False


def _parse_prefix(text: str, family: int, original: str) -> int:
    if not _DIGITS.fullmatch(text):
        raise AddressError(
            f"{_show(original)} has an invalid prefix length {_show(text)}",
            hint="a prefix length is plain ASCII digits with no sign, space or leading zero",
        )
    n = int(text)
    if n > BITS[family]:
        raise AddressError(
            f"{_show(original)} has an invalid prefix length /{n} (IPv{family} allows 0 to"
            f" {BITS[family]})"
        )
    return n


def parse(text: str, host_bits: HostBitsPolicy = "fix") -> Parsed:
    """Parse an address, a CIDR network or an ``a-b`` range, strictly.

    Raises AddressError with a message that names the text and what was wrong.
    """
    if not isinstance(text, str):
        raise AddressError(f"{_show(text)} is not a string")
    if "-" in text:
        return _parse_range(text)
    addr, slash, plen = text.partition("/")
    if not addr:
        raise AddressError("empty address")
    if addr != addr.strip():
        raise AddressError(f"{_show(text)} has whitespace inside")
    if ":" in addr:
        value = _parse_v6(addr, text)
        family: Family = 6
    else:
        value = _parse_v4(addr, text)
        family = 4
    prefixlen = _parse_prefix(plen, family, text) if slash else BITS[family]
    mapped = family == 6 and prefixlen >= 96 and (value >> 32) == 0xFFFF
    hostmask = (1 << (BITS[family] - prefixlen)) - 1
    fixed = bool(value & hostmask)
    if fixed and host_bits == "reject":
        net = format_address(family, value & ~hostmask)
        raise AddressError(
            f"{_show(text)} has host bits set",
            hint=f"the network is {net}/{prefixlen}; write that, or use --host-bits fix",
        )
    first = value & ~hostmask & MAX[family]
    return Parsed(family, first, first | hostmask, prefixlen, fixed, mapped)


def _parse_range(text: str) -> Parsed:
    left, _, right = text.partition("-")
    left, right = left.strip(), right.strip()
    if not left or not right or "/" in left or "/" in right:
        raise AddressError(
            f"{_show(text)} is not a range",
            hint="a range is two full addresses: 192.0.2.10-192.0.2.20",
        )
    fa, a, ma = parse_address(left)
    try:
        fb, b, mb = parse_address(right)
    except AddressError as e:
        if ":" not in right and right.isdigit():
            raise AddressError(
                f"{_show(text)} is not a range (the end is not a full address)",
                hint="write both ends in full: 192.0.2.4-192.0.2.9",
            ) from e
        raise
    if fa != fb:
        raise AddressError(f"{_show(text)} mixes IPv{fa} and IPv{fb}")
    if a > b:
        raise AddressError(f"{_show(text)} is reversed (start after end)", hint="swap the two ends")
    size = b - a + 1
    plen = None
    if size & (size - 1) == 0 and a & (size - 1) == 0:
        plen = BITS[fa] - (size.bit_length() - 1)
    return Parsed(fa, a, b, plen, False, ma or mb)


def mapped_note(text: str, parsed: Parsed) -> str:
    """The warning for an entry written as IPv4-mapped IPv6 (``parsed.mapped``): it is kept
    as IPv6 and does not cover the IPv4 sender it names."""
    first, last = max(parsed.first, _MAPPED_BASE), min(parsed.last, _MAPPED_BASE | MAX[4])
    v4 = format_interval(4, first & MAX[4], last & MAX[4])
    return (
        f"{_show(text)} is IPv4-mapped IPv6: kept as IPv6, as written, so it does not cover"
        f" the IPv4 sender {v4}; write {v4} if IPv4 is meant"
    )


def format_address(family: int, value: int) -> str:
    if family == 4:
        return socket.inet_ntop(socket.AF_INET, value.to_bytes(4, "big"))
    if value >> 32 == 0:
        return format_low_v6(value)
    if value >> 32 == 0xFFFF:  # as the vector path and ipaddress print it
        return f"::ffff:{(value >> 16) & 0xFFFF:x}:{value & 0xFFFF:x}"
    return socket.inet_ntop(socket.AF_INET6, value.to_bytes(16, "big"))


def format_low_v6(value: int) -> str:
    """RFC 5952 text of an IPv6 address below 2**32: inet_ntop would print the deprecated
    IPv4-compatible form ``::192.0.2.1`` (RFC 4291 section 2.5.5.1)."""
    high, low = value >> 16, value & 0xFFFF
    if high:
        return f"::{high:x}:{low:x}"
    return f"::{low:x}" if low else "::"


def cidr_blocks(family: int, first: int, last: int) -> Iterator[tuple[int, int]]:
    """The minimal list of (network, prefixlen) covering [first, last] exactly."""
    return intervals.cidr_blocks(BITS[family], first, last)


_OCTETS = [str(i) for i in range(256)]


def _v4_cidrs_text(iv: Intervals) -> Iterator[str]:
    """The minimal IPv4 CIDRs of intervals held in lists, as text, each octet's text taken
    from a table (several times faster than formatting each address)."""
    o = _OCTETS
    for first, last in zip(iv.starts, iv.ends, strict=True):
        for n, p in intervals.cidr_blocks(32, first, last):
            yield f"{o[n >> 24]}.{o[(n >> 16) & 255]}.{o[(n >> 8) & 255]}.{o[n & 255]}/{p}"


def format_cidr(family: int, network: int, prefixlen: int) -> str:
    return f"{format_address(family, network)}/{prefixlen}"


def format_interval(family: int, first: int, last: int) -> str:
    """A CIDR when the interval is exactly one, else ``first-last``."""
    size = last - first + 1
    if size & (size - 1) == 0 and first & (size - 1) == 0:
        return format_cidr(family, first, BITS[family] - (size.bit_length() - 1))
    return f"{format_address(family, first)}-{format_address(family, last)}"


# --- interval lists ----------------------------------------------------------------------------


EMPTY = Intervals((), ())


def is_vector(x: Any) -> bool:
    """Whether a column is held by the numpy backend (checked without importing numpy)."""
    return type(x).__module__ == "numpy"


def normalize(starts: Ints, ends: Ints) -> Intervals:
    """Sort and merge overlapping or adjacent intervals (sort + one sweep)."""
    if not len(starts):
        return EMPTY
    if is_vector(starts) or vectorise(len(starts)):
        from auditor import _vector

        if _vector.fits(starts, ends):
            return _vector.normalize(starts, ends)
        return _vector.normalize_wide(starts, ends)  # 128-bit values: (high, low) pairs
    pairs = sorted(zip(starts, ends, strict=True))
    out_s: list[int] = []
    out_e: list[int] = []
    cur_s = cur_e = -2
    for s, e in pairs:
        if s > cur_e + 1:
            if cur_e >= -1:
                out_s.append(cur_s)
                out_e.append(cur_e)
            cur_s, cur_e = s, e
        elif e > cur_e:
            cur_e = e
    if cur_e >= -1:
        out_s.append(cur_s)
        out_e.append(cur_e)
    return Intervals(out_s, out_e)


def value_at(column: Ints, index: int) -> int:
    """One value of a column (a list, an int64 array or a wide (high, low) array) as an int."""
    if is_vector(column):
        from auditor import _vector

        return _vector.at(column, index)
    return int(column[index])


def as_list(column: Ints) -> list[int]:
    """A column's values as ints, whatever holds it."""
    if is_vector(column):
        from auditor import _vector

        return _vector.to_list(column)
    return list(column)


def as_lists(iv: Intervals) -> tuple[list[int], list[int]]:
    if is_vector(iv.starts):
        from auditor import _vector

        return _vector.to_list(iv.starts), _vector.to_list(iv.ends)
    return list(iv.starts), list(iv.ends)


Sweep = Callable[[list[int], list[int], list[int], list[int]], Intervals]
"""A set operation over plain lists: (starts, ends) of a, then of b."""


def _binary(a: Intervals, b: Intervals, op: str, sweep: Sweep) -> Intervals:
    """``op`` of two non-empty interval sets: by the numpy backend when either is held by it
    or the pair is large, else by ``sweep`` over plain lists."""
    if _vectorize(a, b):
        from auditor import _vector

        return _vector.combine_any(a, b, op)
    sa, ea = as_lists(a)
    sb, eb = as_lists(b)
    return sweep(sa, ea, sb, eb)


def union(a: Intervals, b: Intervals) -> Intervals:
    if not len(b):
        return a
    if not len(a):
        return b
    return _binary(a, b, "union", _union_lists)


def _union_lists(sa: list[int], ea: list[int], sb: list[int], eb: list[int]) -> Intervals:
    # Concatenating two sorted runs: the sort in normalize() is linear on them.
    return normalize(sa + sb, ea + eb)


def _vectorize(a: Intervals, b: Intervals) -> bool:
    return is_vector(a.starts) or is_vector(b.starts) or vectorise(len(a) + len(b))


def intersection(a: Intervals, b: Intervals) -> Intervals:
    if not len(a) or not len(b):
        return EMPTY
    return _binary(a, b, "intersection", _intersection_lists)


def _intersection_lists(sa: list[int], ea: list[int], sb: list[int], eb: list[int]) -> Intervals:
    out_s: list[int] = []
    out_e: list[int] = []
    i = j = 0
    while i < len(sa) and j < len(sb):
        lo = max(sa[i], sb[j])
        hi = min(ea[i], eb[j])
        if lo <= hi:
            out_s.append(lo)
            out_e.append(hi)
        if ea[i] < eb[j]:
            i += 1
        else:
            j += 1
    return Intervals(out_s, out_e)


def difference(a: Intervals, b: Intervals) -> Intervals:
    if not len(a) or not len(b):
        return a
    return _binary(a, b, "difference", _difference_lists)


def _difference_lists(sa: list[int], ea: list[int], sb: list[int], eb: list[int]) -> Intervals:
    out_s: list[int] = []
    out_e: list[int] = []
    j = 0
    nb = len(sb)
    for s, e in zip(sa, ea, strict=True):
        while j < nb and eb[j] < s:
            j += 1
        k = j
        cur = s
        while k < nb and sb[k] <= e:
            if sb[k] > cur:
                out_s.append(cur)
                out_e.append(sb[k] - 1)
            cur = max(cur, eb[k] + 1)
            k += 1
        if cur <= e:
            out_s.append(cur)
            out_e.append(e)
    return Intervals(out_s, out_e)


def covered(iv: Intervals, first: int, last: int) -> int:
    """How many addresses of [first, last] lie in the intervals."""
    starts, ends = iv
    if is_vector(starts):
        from auditor import _vector

        return _vector.covered(iv, first, last)
    i = bisect.bisect_right(ends, first - 1)  # first interval that ends at or after first
    total = 0
    while i < len(starts) and starts[i] <= last:
        total += min(ends[i], last) - max(starts[i], first) + 1
        i += 1
    return total


def wide_intervals(iv: Intervals, min_size: int) -> list[tuple[int, int]]:
    """The intervals holding at least ``min_size`` addresses."""
    if is_vector(iv.starts):
        from auditor import _vector

        return _vector.wide_intervals(iv, min_size)
    return [(s, e) for s, e in zip(iv.starts, iv.ends, strict=True) if e - s + 1 >= min_size]


def is_whole(iv: Intervals, family: int) -> bool:
    """Whether merged intervals hold every address of the family: one interval, 0 to MAX."""
    if len(iv.starts) != 1:
        return False
    starts, ends = as_lists(iv)
    return starts[0] == 0 and ends[0] == MAX[family]


def size(iv: Intervals) -> int:
    if is_vector(iv.starts):
        from auditor import _vector

        return _vector.size(iv)
    return sum(e - s + 1 for s, e in zip(iv.starts, iv.ends, strict=True))


# --- the public set type -----------------------------------------------------------------------


class IPSpace:
    """An immutable set of IPv4 and IPv6 addresses."""

    __slots__ = ("_v4", "_v6")

    def __init__(self, v4: Intervals = EMPTY, v6: Intervals = EMPTY) -> None:
        self._v4 = v4
        self._v6 = v6

    @classmethod
    def from_intervals(cls, items: Iterable[tuple[int, int, int]]) -> IPSpace:
        """Build from (family, first, last) triples in any order, overlapping or not."""
        cols: dict[int, tuple[list[int], list[int]]] = {4: ([], []), 6: ([], [])}
        for family, first, last in items:
            cols[family][0].append(first)
            cols[family][1].append(last)
        return cls(normalize(*cols[4]), normalize(*cols[6]))

    @classmethod
    def from_text(cls, items: Iterable[str]) -> IPSpace:
        parsed = (parse(t) for t in items)
        return cls.from_intervals((p.family, p.first, p.last) for p in parsed)

    def family(self, family: int) -> Intervals:
        return self._v4 if family == 4 else self._v6

    def __or__(self, other: IPSpace) -> IPSpace:
        return self._each(union, other)

    def __and__(self, other: IPSpace) -> IPSpace:
        return self._each(intersection, other)

    def __sub__(self, other: IPSpace) -> IPSpace:
        return self._each(difference, other)

    def _each(self, op: Callable[[Intervals, Intervals], Intervals], other: IPSpace) -> IPSpace:
        """``op`` per family; on two cores at once when both families are numpy arrays."""
        pairs = ((self._v4, other._v4), (self._v6, other._v6))
        if all(is_vector(a.starts) or is_vector(b.starts) for a, b in pairs):
            from auditor import _vector

            v4, v6 = _vector.parallel_map(lambda pair: op(*pair), pairs)
            return IPSpace(v4, v6)
        return IPSpace(op(*pairs[0]), op(*pairs[1]))

    def __bool__(self) -> bool:
        return bool(len(self._v4) or len(self._v6))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, IPSpace):
            return NotImplemented
        return self.intervals() == other.intervals()

    def __hash__(self) -> int:
        return hash(tuple(self.intervals()))

    def __repr__(self) -> str:
        shown = [str(c) for c, _ in zip(self.cidrs_text(), range(4), strict=False)]
        more = ", ..." if self.count_cidrs() > 4 else ""
        return f"IPSpace([{', '.join(shown)}{more}])"

    def __contains__(self, address: object) -> bool:
        if isinstance(address, str):
            family, value, _ = parse_address(address)
        elif isinstance(address, tuple):
            family, value = address
        else:
            return False
        return covered(self.family(family), value, value) == 1

    def intervals(self) -> list[tuple[int, int, int]]:
        """(family, first, last) for every interval, IPv4 first, then IPv6, numeric."""
        out: list[tuple[int, int, int]] = []
        for fam in (4, 6):
            s, e = as_lists(self.family(fam))
            out.extend((fam, a, b) for a, b in zip(s, e, strict=True))
        return out

    def covered(self, family: int, first: int, last: int) -> int:
        return covered(self.family(family), first, last)

    def size(self, family: int | None = None) -> int:
        fams = (4, 6) if family is None else (family,)
        return sum(size(self.family(f)) for f in fams)

    def cidrs(self, family: int | None = None) -> Iterator[tuple[int, int, int]]:
        """Minimal CIDR blocks as (family, network, prefixlen), deterministic order."""
        for fam in (4, 6) if family is None else (family,):
            iv = self.family(fam)
            if is_vector(iv.starts):
                from auditor import _vector

                for net, plen in _vector.cidr_blocks(fam, iv):
                    yield fam, net, plen
                continue
            for s, e in zip(iv.starts, iv.ends, strict=True):
                for net, plen in cidr_blocks(fam, s, e):
                    yield fam, net, plen

    def cidrs_text(self, family: int | None = None) -> Iterator[str]:
        for fam in (4, 6) if family is None else (family,):
            iv = self.family(fam)
            if is_vector(iv.starts) or vectorise(len(iv)):
                from auditor import _vector_text

                yield from _vector_text.cidr_lines(fam, iv).splitlines()
                continue
            if fam == 4:
                yield from _v4_cidrs_text(iv)
                continue
            for _, net, plen in self.cidrs(fam):
                yield format_cidr(fam, net, plen)

    def cidr_lines(self) -> str:
        """Every minimal CIDR on its own line, each ending in a newline (the cidr report)."""
        parts = []
        for fam in (4, 6):
            iv = self.family(fam)
            if is_vector(iv.starts) or vectorise(len(iv)):
                from auditor import _vector_text

                parts.append(_vector_text.cidr_lines(fam, iv))
            else:
                parts.extend(f"{c}\n" for c in self.cidrs_text(fam))
        return "".join(parts)

    def count_cidrs(self, family: int | None = None) -> int:
        return sum(1 for _ in self.cidrs(family))
