"""The interval value shared by the interval engine (:mod:`auditor.ipspace`) and its numpy
backend (:mod:`auditor._vector`); it sits below both so that neither imports the other's
module at load time."""

from __future__ import annotations

from typing import Any, NamedTuple

# A column of integers: a list, or an int64 numpy array for big IPv4 sets (see _vector).
Ints = Any


class Intervals(NamedTuple):
    """Sorted, disjoint, non-adjacent inclusive intervals of one family."""

    starts: Ints
    ends: Ints

    def __len__(self) -> int:
        return len(self.starts)
