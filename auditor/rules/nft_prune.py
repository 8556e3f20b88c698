"""``--prune`` for nftables: ``delete element`` lines for the scoped set's elements that hold
only extra (stale) addresses. An element that also holds expected addresses is kept and named
in a comment: deleting it would cut them off. Table and set names come from the declared
ruleset, and are written only when they are names this tool writes itself; elements are
written from their validated addresses, never from the ruleset's text."""

from __future__ import annotations

import re
from collections.abc import Sequence

from auditor import ipspace
from auditor.model import MissingBlock, RangeSet
from auditor.rules import sanitize

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")
_FAMILIES = frozenset({"ip", "ip6", "inet", "netdev", "bridge"})
FORMATS = frozenset({"nftables", "nftables-json"})


def _in_scope(group: str | None, scope: Sequence[str]) -> bool:
    return group is not None and any(group == s or group.endswith("/" + s) for s in scope)


def prune_lines(
    prune: Sequence[MissingBlock], declared: Sequence[RangeSet], scope: Sequence[str]
) -> tuple[list[str], list[str]]:
    """(``delete element`` lines, comments for the elements kept)."""
    extra = ipspace.IPSpace.from_text(b.cidr for b in prune)
    deletes: dict[str, list[str]] = {}
    kept: list[str] = []
    for rs in declared:
        if rs.info.format not in FORMATS:
            continue
        for entry in rs.scope_entries:
            if not _in_scope(entry.group, scope):
                continue
            words = (entry.origin.path or "").split()
            where = sanitize.clean(f"{entry.origin.source}:{entry.origin.line} {entry.text}")
            size = entry.last - entry.first + 1
            if extra.covered(entry.family, entry.first, entry.last) != size:
                if extra.covered(entry.family, entry.first, entry.last):
                    kept.append(f"kept {where}: it also holds expected addresses")
                continue
            if (
                len(words) != 4
                or words[0] != "set"
                or words[1] not in _FAMILIES
                or not all(_NAME.fullmatch(w) for w in words[2:])
            ):
                kept.append(f"kept {where}: its set cannot be named by this tool")
                continue
            element = ipspace.format_interval(entry.family, entry.first, entry.last)
            deletes.setdefault(" ".join(words[1:]), []).append(element)
    lines = [f"delete element {t} {{ {', '.join(elems)} }}" for t, elems in deletes.items()]
    return lines, kept
