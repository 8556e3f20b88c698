"""What ``auditor spf DOMAIN`` prints: the include tree, the lookup counts per family, what could
not be listed, and the authorised ranges with their include chains (text or JSON).

Record text comes from DNS: it is shown escaped (control characters cannot reach the
terminal) and in JSON as data.
"""

from __future__ import annotations

from typing import Any

from auditor import ipspace
from auditor.ipspace import IPSpace
from auditor.reports.json_report import dumps
from auditor.reports.view import clean
from auditor.spf.evaluate import Piece
from auditor.spf.macros import expand
from auditor.spf.record import MAX_LOOKUPS, MAX_VOID, Record
from auditor.spf.result import Expansion, View

SCHEMA_VERSION = 1


def _pieces(expansion: Expansion, family: int, view: View) -> tuple[Piece, ...]:
    result = expansion.family(family)
    if view == "published" and result.published is not None:
        return result.published
    return result.pieces


def space(expansion: Expansion, view: View = "honoured") -> IPSpace:
    per = []
    for family in (4, 6):
        pieces = _pieces(expansion, family, view)
        per.append(ipspace.normalize([p[0] for p in pieces], [p[1] for p in pieces]))
    return IPSpace(per[0], per[1])


def complete(expansion: Expansion) -> bool:
    return not any(r.over_limit or r.error or r.unlistable for r in expansion.families)


def _tree(expansion: Expansion) -> list[str]:
    by_name = {r.domain.lower(): r for r in expansion.records}
    lines: list[str] = []

    def walk(record: Record, depth: int, seen: tuple[str, ...]) -> None:
        pad = "  " * depth
        lines.append(f"{pad}{clean(record.domain)}: {clean(record.text)}")
        children = [(t.text, t.domain) for t in record.terms if t.mechanism == "include"]
        if record.redirect and not record.has_all:
            children.append((f"redirect={record.redirect}", record.redirect))
        for label, spec in children:
            try:
                target = expand(spec or "", record.domain).lower()
            except Exception:  # noqa: BLE001 - a macro that depends on the client
                lines.append(f"{pad}  {clean(label)}: (depends on the client)")
                continue
            child = by_name.get(target)
            if target in seen:
                lines.append(f"{pad}  {clean(label)}: (loop)")
            elif child is None:
                lines.append(f"{pad}  {clean(label)}: (no record read)")
            else:
                walk(child, depth + 1, (*seen, target))

    root = by_name.get(expansion.domain.lower())
    if root is not None:
        walk(root, 1, (root.domain.lower(),))
    return lines


def render_text(expansion: Expansion, view: View = "honoured") -> str:
    out = [f"SPF of {clean(expansion.domain)}", "", "records"]
    out += _tree(expansion)
    out += ["", "lookups (RFC 7208 4.6.4: at most 10, at most 2 void)"]
    for result in expansion.families:
        line = (
            f"  IPv{result.family}: {result.lookups} of {MAX_LOOKUPS} lookups,"
            f" {result.voids} of {MAX_VOID} void"
        )
        if result.over_limit:
            line += f"; OVER THE LIMIT: {clean(result.over_limit)}"
            if result.published_lookups is not None:
                line += f" (the publisher's record needs {result.published_lookups})"
        out.append(line)
        if result.error:
            out.append(f"  IPv{result.family}: permerror: {clean(result.error)}")
        for term in result.unlistable:
            out.append(f"  IPv{result.family}: cannot be listed: {clean(term)}")
    out += [f"  {clean(n)}" for n in expansion.notes]
    shown = space(expansion, view)
    out += ["", f"authorised ({view} view): {shown.count_cidrs()} CIDRs"]
    for family in (4, 6):
        pieces = sorted(_pieces(expansion, family, view))
        for first, last, chain in pieces:
            text = ipspace.format_interval(family, first, last)
            out.append(f"  {text:<43} {clean(' > '.join(chain))}")
    out += [
        "",
        f"{expansion.queries} DNS queries in {expansion.seconds:.2f} s;"
        f" {'complete' if complete(expansion) else 'INCOMPLETE: see above'}",
    ]
    return "\n".join(out) + "\n"


def document(expansion: Expansion, view: View = "honoured") -> dict[str, Any]:
    families = {}
    for result in expansion.families:
        key = f"ipv{result.family}"
        families[key] = {
            "lookups": result.lookups,
            "void_lookups": result.voids,
            "over_limit": result.over_limit,
            "permerror": result.error,
            "unlistable": list(result.unlistable),
            "ranges": [
                {
                    "range": ipspace.format_interval(result.family, a, b),
                    "chain": list(chain),
                }
                for a, b, chain in sorted(_pieces(expansion, result.family, view))
            ],
            "published_lookups": result.published_lookups,
        }
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": "spf",
        "domain": expansion.domain,
        "view": view,
        "complete": complete(expansion),
        "records": [{"domain": r.domain, "text": r.text} for r in expansion.records],
        "families": families,
        "cidrs": list(space(expansion, view).cidrs_text()),
        "notes": list(expansion.notes),
        "queries": expansion.queries,
    }


def render_json(expansion: Expansion, view: View = "honoured") -> str:
    return dumps(document(expansion, view))
