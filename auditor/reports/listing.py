"""What ``auditor fetch`` prints: the aggregated CIDRs, or every entry with its origin and tags
(json, csv). Built only from parsed entries; names and tags from feeds are data, escaped by
the format (JSON strings, CSV cells neutralised)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence

from auditor.ipspace import IPSpace
from auditor.model import Completeness, Entry, RangeSet
from auditor.reports.csv_report import cell
from auditor.reports.json_report import dumps, source_document

SCHEMA_VERSION = 1


def union(sets: Sequence[RangeSet], family: int | None) -> IPSpace:
    space = IPSpace()
    for rs in sets:
        if rs.completeness is not Completeness.FAILED:
            space = space | rs.space
    if family == 4:
        return IPSpace(space.family(4))
    if family == 6:
        return IPSpace(v6=space.family(6))
    return space


def _entries(sets: Sequence[RangeSet], family: int | None) -> Iterator[tuple[RangeSet, Entry]]:
    for rs in sets:
        for fam in (4, 6):
            if family in (None, fam):
                for i in range(rs.entries.count(fam)):
                    yield rs, rs.entries.entry(fam, i)


def _tags(rs: RangeSet, entry: Entry) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for key, value in rs.tags.get(entry.group or "", ()):
        out.setdefault(key, []).append(value)
    return out


def render(
    sets: Sequence[RangeSet], output: str, family: int | None, complete: bool | None = None
) -> str:
    """The listing; ``complete`` (for JSON) is the run's verdict: True exactly when it exits 0.
    Without it, every source must be complete."""
    if output == "cidr":
        return union(sets, family).cidr_lines()
    if output == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["range", "source", "line", "path", "tags"])
        for rs, entry in _entries(sets, family):
            tags = "; ".join(f"{k}={','.join(v)}" for k, v in sorted(_tags(rs, entry).items()))
            writer.writerow(
                [
                    cell(entry.text),
                    cell(entry.origin.source),
                    "" if entry.origin.line is None else str(entry.origin.line),
                    cell(entry.origin.path or ""),
                    cell(tags),
                ]
            )
        return buf.getvalue()
    if output == "json":
        space = union(sets, family)
        if complete is None:
            complete = all(rs.completeness is Completeness.COMPLETE for rs in sets)
        doc = {
            "schema_version": SCHEMA_VERSION,
            "kind": "fetch",
            "complete": complete,
            "sources": [source_document(rs) for rs in sets],
            "cidrs": list(space.cidrs_text()),
            "addresses": {"ipv4": str(space.size(4)), "ipv6": str(space.size(6))},
            "entries": [
                {
                    "range": entry.text,
                    "source": entry.origin.source,
                    "line": entry.origin.line,
                    "path": entry.origin.path,
                    "tags": _tags(rs, entry),
                }
                for rs, entry in _entries(sets, family)
            ],
        }
        return dumps(doc)
    raise ValueError(output)
