"""The interval value shared by the interval engine (:mod:`auditor.ipspace`) and its numpy
backend (:mod:`auditor._vector`); it sits below both so that neither imports the other's
module at load time."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple

# A column of integers: a list, or an int64 numpy array for big IPv4 sets (see _vector).
Ints = Any


class Intervals(NamedTuple):
    """Sorted, disjoint, non-adjacent inclusive intervals of one family."""

    starts: Ints
    ends: Ints

    def __len__(self) -> int:
        return len(self.starts)


def cidr_blocks(bits: int, first: int, last: int) -> Iterator[tuple[int, int]]:
    """The minimal list of (network, prefixlen) covering [first, last] exactly, in an
    address space of ``bits`` bits."""
    while first <= last:
        size = (first & -first) if first else 1 << bits
        span = last - first + 1
        while size > span:
            size >>= 1
        yield first, bits - (size.bit_length() - 1)
        first += size
