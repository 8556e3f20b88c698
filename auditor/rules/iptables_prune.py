"""``--prune`` for iptables: the ``-D`` lines that delete the scoped chain's ACCEPT rules whose
source is wholly extra (stale), as the declared iptables-save export wrote them.

A rule is deleted only when all of these hold, and named in a comment otherwise:

- it comes from an iptables-save export among the declared sources, whose file still has the
  content that was audited (same SHA-256), so that its table is known;
- it is in a chain the scope names (``INPUT`` or ``filter/INPUT``);
- its ``-s`` network holds no expected address, and is not negated (``! -s``) (a rule that
  also lets expected addresses in is kept: deleting it would cut them off);
- every word of it is one this tool could have written itself (letters, digits and
  ``._:/,=+@-``, or a double-quoted comment of those and spaces), so that nothing from the
  export but a rule iptables already holds is written back.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

from auditor import ipspace
from auditor.errors import AddressError
from auditor.model import MissingBlock, RangeSet
from auditor.rules import sanitize
from auditor.rules.base import audited_bytes

_WORD = re.compile(r"[A-Za-z0-9_.:/,=+@!-]+")
_COMMENT = re.compile(r'"[A-Za-z0-9_.:/,=+@() \[\]-]*"')


@dataclass(frozen=True)
class PruneLines:
    """Per family: (table, ``-D`` line) to write, and comments for the rules kept."""

    deletes: dict[int, list[tuple[str, str]]]
    kept: dict[int, list[str]]


def _tables(rs: RangeSet) -> dict[int, str] | None:
    """The table of every line of the export, when the file still holds what was audited."""
    data = audited_bytes(rs)
    if data is None:
        return None
    table = "filter"
    out = {}
    for number, line in enumerate(data.decode("utf-8", errors="replace").splitlines(), 1):
        if line.startswith("*"):
            table = line[1:].strip()
        out[number] = table
    return out


def _safe(line: str) -> bool:
    words = re.findall(r'"[^"]*"|\S+', line)
    return bool(words) and all(_WORD.fullmatch(w) or _COMMENT.fullmatch(w) for w in words)


def _wholly_extra(source: str, extra: ipspace.IPSpace) -> bool:
    try:
        p = ipspace.parse(source)
    except AddressError:  # a source the parser refuses is not deleted
        return False
    return extra.covered(p.family, p.first, p.last) == p.last - p.first + 1


def prune_lines(
    prune: Sequence[MissingBlock], declared: Sequence[RangeSet], scope: Sequence[str]
) -> PruneLines:
    # a scope is CHAIN (any table) or TABLE/CHAIN
    wanted = [(s.split("/")[0] if "/" in s else None, s.split("/")[-1]) for s in scope]
    chains = {c for _, c in wanted}
    sources = {rs.info.name: rs for rs in declared if rs.info.format == "iptables-save"}
    extra = ipspace.IPSpace.from_text(b.cidr for b in prune)
    tables: dict[str, dict[int, str] | None] = {}
    deletes: dict[int, list[tuple[str, str]]] = {}
    kept: dict[int, list[str]] = {}
    seen: set[tuple[str, int | None]] = set()
    for block in prune:
        for origin in block.origins:
            rs = sources.get(origin.source)
            text = origin.path or ""
            if rs is None or not text.startswith("-A ") or (origin.source, origin.line) in seen:
                continue
            seen.add((origin.source, origin.line))
            where = sanitize.clean(f"{origin.source}:{origin.line}")
            words = shlex.split(text) if _safe(text) else []
            chain = words[1] if len(words) > 1 else ""
            source = words[words.index("-s") + 1] if "-s" in words[:-1] else ""
            if origin.source not in tables:
                tables[origin.source] = _tables(rs)
            table = (tables[origin.source] or {}).get(origin.line or 0)
            why = ""
            if not words:
                why = "it holds words this tool does not write back"
            elif chain not in chains or (
                table is not None and not any(c == chain and t in (None, table) for t, c in wanted)
            ):
                continue  # another chain (or table) than the scope's: not the scope's entry
            elif any(a == "!" and b in ("-s", "--source") for a, b in pairwise(words)):
                why = "its source is negated, so it lets in what is not extra too"
            elif not source:
                why = "its source is not a -s network this tool can read"
            elif not _wholly_extra(source, extra):
                why = "it also lets expected addresses in"
            elif table is None:
                why = "the export changed since it was read; export and audit again"
            if why:
                kept.setdefault(block.family, []).append(f"kept {where}: {why}")
                continue
            deletes.setdefault(block.family, []).append((str(table), "-D" + text[2:]))
    return PruneLines(deletes, kept)
