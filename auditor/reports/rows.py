"""The words of a report row: an origin as plain fields, the source an entry comes from, and
how a report lays out the line of each block. Shared by the row sweep
(:mod:`auditor.reports.blocks`) and its bulk twin (:mod:`auditor.reports.bulk`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from auditor.audit import MAX_ORIGINS

Fields = tuple[str, int | None, str | None]
"""An origin as (source, line, path): what :class:`auditor.model.Origin` holds, made cheaply."""

Row = tuple[str, int, int, int, tuple[Fields, ...]]
"""(cidr, family, network, prefixlen, origins) of one block."""


def origin_str(o: Fields) -> str:
    """``str(Origin(*o))``."""
    source, line, path = o
    if line is not None:
        source = f"{source}:{line}"
    return f"{source} ({path})" if path else source


@dataclass(frozen=True)
class Source:
    name: str
    lines: list[int]
    paths: list[str] | None

    def origin(self, i: int) -> Fields:
        path = self.paths[i] if self.paths is not None else None
        return (self.name, self.lines[i] or None, path or None)


INDEX = (1 << 40) - 1
"""A reference to an entry is (source << 40) | index: one int sorts as the pair."""


def origins_of(
    over: Sequence[int], start: list[int], refs: list[int], sources: list[Source]
) -> tuple[Fields, ...]:
    """The origins of the entries of rows ``over``: by source and position, repeats once."""
    picked = sorted(
        key for r in over for key in refs[start[r] : min(start[r + 1], start[r] + MAX_ORIGINS)]
    )
    found = {sources[key >> 40].origin(key & INDEX): None for key in picked[:MAX_ORIGINS]}
    return tuple(found)


@dataclass(frozen=True)
class RowFormat:
    """How a report words the line of each block: ``head + cidr + mid + origins``, the CIDR
    left-aligned in ``pad`` columns; lines are joined by ``sep``. ``origins`` words a block's
    origins; a line number in it must appear as its digits, as ``str`` gives them."""

    head: Callable[[int, int], str]
    """(family, prefix length) to what comes before the CIDR."""
    mid: Callable[[int, int], str]
    """(family, prefix length) to what comes between the CIDR and the origins."""
    origins: Callable[[tuple[Fields, ...]], str]
    sep: str
    pad: int = 0
