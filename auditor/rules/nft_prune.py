"""``--prune`` for nftables: ``delete element`` lines for the scoped set's elements that hold
only extra (stale) addresses. An element that also holds expected addresses is kept and named
in a comment: deleting it would cut them off. Table and set names come from the declared
ruleset, and are written only when they are names this tool writes itself; elements are
written from their validated addresses, never from the ruleset's text.

A set's elements are pruned only when every rule that uses it, in the ruleset's text as
``nft list ruleset`` wrote it (and unchanged since it was audited), matches it as a source
and accepts (``ip saddr @set ... accept``): in a set used as ``saddr != @set`` or by a drop,
an element is an address kept out, and deleting it would let it in."""

from __future__ import annotations

import re
from collections.abc import Sequence

from auditor import ipspace
from auditor.model import MissingBlock, RangeSet
from auditor.rules import sanitize
from auditor.rules.base import audited_bytes

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")
_FAMILIES = frozenset({"ip", "ip6", "inet", "netdev", "bridge"})
FORMATS = frozenset({"nftables", "nftables-json"})


def _in_scope(group: str | None, scope: Sequence[str]) -> bool:
    return group is not None and any(group == s or group.endswith("/" + s) for s in scope)


def allow_only_sets(rs: RangeSet) -> set[str] | None:
    """The names of the sets that every rule using them matches as an accepted source, from
    the ruleset's text; None when that text cannot be read as it was audited."""
    data = audited_bytes(rs) if rs.info.format == "nftables" else None
    if data is None:
        return None
    good: set[str] = set()
    bad: set[str] = set()
    for line in data.decode("utf-8", errors="replace").splitlines():
        for m in re.finditer(r"(\S+)\s+(!=\s*)?@([A-Za-z0-9_.-]+)", line):
            positive = m.group(2) is None and m.group(1) == "saddr"
            words = line.split()
            accepts = "accept" in words and not {"drop", "reject"} & set(words)
            (good if positive and accepts else bad).add(m.group(3))
    return good - bad


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
        allowing = allow_only_sets(rs)
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
            if allowing is None or words[3] not in allowing:
                why = (
                    "the ruleset's text changed since it was read, or is not nft list ruleset"
                    if allowing is None
                    else "its set is not used only as an accepted source (saddr @set accept)"
                )
                kept.append(f"kept {where}: {why}")
                continue
            element = ipspace.format_interval(entry.family, entry.first, entry.last)
            deletes.setdefault(" ".join(words[1:]), []).append(element)
    lines = [f"delete element {t} {{ {', '.join(elems)} }}" for t, elems in deletes.items()]
    return lines, kept
