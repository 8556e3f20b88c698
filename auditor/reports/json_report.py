"""The machine-readable report: one versioned JSON document, described by
``data/report.schema.json``.

Compatibility rule for ``schema_version`` (an integer):

- Adding a key, or a new value of an open vocabulary (a finding ``kind``, an input ``format``),
  keeps the version. Consumers must ignore keys they do not know.
- Removing or renaming a key, changing a type or the meaning of a value, or adding a value to
  a closed enumeration (``verdict.status``, ``role``, ``completeness``, ``severity``) raises the
  version by one. Consumers must refuse a version they do not know.

Address counts are decimal strings, never numbers: an IPv6 count such as 2**96 is exact only as
an arbitrary-precision integer, and JSON parsers in JavaScript, jq and many others read every
number as a double. One type for both families keeps consumers simple. Counts of entries and
CIDRs are plain integers.

The output is deterministic: keys sorted, rows in address order, inputs by role then name,
findings by origin; ASCII only, so hostile names travel as ``\\u`` escapes. Each row of a
top-level list (a missing CIDR, a finding, ...) is one line, so that the diff of two reports
shows one line per CIDR that came or went; this is also what keeps 100k rows fast, as the
standard library's C encoder is used only without ``indent``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from auditor import ipspace
from auditor.jsonutil import REPORT_SCHEMA_VERSION
from auditor.model import AuditResult, Coverage, Finding, MissingBlock, Origin, RangeSet
from auditor.reports import blocks as report_blocks
from auditor.reports import view
from auditor.reports.base import Report, ReportContext
from auditor.reports.rows import Fields, RowFormat
from auditor.reports.view import FAMILY_KEYS, ReportView, Tally
from auditor.runmeta import RunMeta

Json = dict[str, Any]


def _origin(o: Origin | None) -> Json | None:
    if o is None:
        return None
    return {"source": o.source, "line": o.line, "path": o.path}


def source_document(rs: RangeSet) -> Json:
    info = rs.info
    return {
        "name": info.name,
        "role": info.role,
        "format": info.format,
        "sha256": info.sha256,
        "size_bytes": info.size_bytes,
        "read_at": info.read_at or None,
        "detail": info.detail,
        "url": info.url,
        "version": info.version,
        "retrieved_at": info.retrieved_at,
        "cache": info.cache,
        "companions": [{"name": n, "sha256": d} for n, d in info.companions],
        "completeness": rs.completeness.value,
        "reasons": list(rs.reasons),
        "entries": {FAMILY_KEYS[f]: rs.entries.count(f) for f in view.FAMILIES},
    }


def _tally(t: Tally, unit: str) -> Json:
    return {unit: t.count, "addresses": str(t.addresses)}


_ROW_SEP = ",\n    "


class Rows:
    """A top-level list given as its rows, each already one line of compact JSON (or pieces
    of such lines joined as :func:`chunks` joins them), written as they are made."""

    def __init__(self, count: int, rows: Iterable[str]) -> None:
        self.count = count
        self.rows = rows


def _block_rows(blocks: Sequence[MissingBlock]) -> Rows:
    """What ``_compact`` makes of each block's document (``cidr``, ``family``, ``addresses``,
    ``origins``), formatted directly, in pieces of rows: the CIDRs, families and counts are
    ASCII of our own making, and the origins' strings go through the JSON encoder once each."""
    strings: dict[str | None, str] = {None: "null"}

    def string(text: str | None) -> str:
        out = strings.get(text)
        if out is None:
            out = strings[text] = json.dumps(text)
        return out

    def origins(origins: tuple[Fields, ...]) -> str:
        return (
            ", ".join(
                f'{{"line": {"null" if line is None else line}, "path": {string(path)},'
                f' "source": {string(source)}}}'
                for source, line, path in origins
            )
            + "]}"
        )

    fmt = RowFormat(
        head=lambda fam, plen: f'{{"addresses": "{1 << (ipspace.BITS[fam] - plen)}", "cidr": "',
        mid=lambda fam, plen: f'", "family": "{FAMILY_KEYS[fam]}", "origins": [',
        origins=origins,
        sep=_ROW_SEP,
    )
    return Rows(len(blocks), report_blocks.lines(blocks, fmt))


def _partial(c: Coverage) -> Json:
    return {
        "entry": c.entry.text,
        "family": FAMILY_KEYS[c.entry.family],
        "addresses": str(c.entry.size),
        "covered_addresses": str(c.covered),
        "percent": view.percent_value(c.covered, c.entry.size),
        "origin": _origin(c.entry.origin),
    }


def _finding(f: Finding) -> Json:
    return {
        "kind": f.kind,
        "severity": f.severity.value,
        "message": f.message,
        "origin": _origin(f.origin),
    }


def _layers(v: ReportView) -> Json:
    """``layers``, only with ``--layered``: what each declared source does not let in."""
    if not v.options.layered:
        return {}
    return {
        "layers": [
            {
                "source": layer.name,
                "families": [f"ipv{f}" for f in layer.families],
                "missing": list(layer.cidrs),
                "missing_addresses": {f"ipv{f}": str(n) for f, n in layer.addresses},
            }
            for layer in v.layers
        ]
    }


def meta_document(meta: RunMeta | None) -> Json | None:
    """The run the report comes from; None for a report made outside a command."""
    if meta is None:
        return None
    return {
        "tool": meta.tool,
        "version": meta.version,
        "command": list(meta.command),
        "host": meta.host,
        "started_at": meta.started,
        "duration_s": meta.duration_s,
    }


def document(v: ReportView) -> Json:
    """The report as JSON-ready values, its lists of blocks as :class:`Rows`."""
    opts = v.options
    return _layers(v) | {
        "schema_version": REPORT_SCHEMA_VERSION,
        "meta": meta_document(v.meta),
        "verdict": {
            "status": v.verdict.status,
            "exit_code": v.verdict.exit_code,
            "reasons": list(v.verdict.reasons),
        },
        "options": {
            "service": opts.service,
            "scope": list(opts.scope),
            "over_broad_v4": opts.over_broad_v4,
            "over_broad_v6": opts.over_broad_v6,
            "fail_on_extra": opts.fail_on_extra,
            **({"layered": True} if opts.layered else {}),
        },
        "inputs": [source_document(rs) for rs in v.inputs],
        "summary": {
            s.key: {
                "expected": _tally(s.expected, "entries"),
                "declared": _tally(s.declared, "entries"),
                "missing": _tally(s.missing, "cidrs"),
                "extra": None if s.extra is None else _tally(s.extra, "cidrs"),
            }
            for s in v.summary
        },
        "missing": _block_rows(v.missing),
        "missing_verified": not v.unverified,
        "unverified_because": list(v.unverified),
        "partial": [_partial(c) for c in v.partial],
        "extra": None if v.extra is None else _block_rows(v.extra),
        "over_broad": [_finding(f) for f in v.over_broad],
        "findings": [_finding(f) for f in v.findings],
        "rules": [{"platform": p, "text": t} for p, t in v.rules],
    }


class JsonReport(Report):
    name = "json"
    description = f"a versioned JSON document (schema_version {REPORT_SCHEMA_VERSION})"

    def render(self, result: AuditResult, ctx: ReportContext) -> str:
        return "".join(self.stream(result, ctx))

    def stream(self, result: AuditResult, ctx: ReportContext) -> Iterator[str]:
        return chunks(document(view.build(result, ctx, lazy=True)))


def _compact(value: object) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=True, separators=(", ", ": "))


def dumps(doc: Json) -> str:
    """The document with top-level keys on their own lines and one line per list row."""
    return "".join(chunks(doc))


def chunks(doc: Json, batch: int = 4096) -> Iterator[str]:
    """:func:`dumps` in pieces, the rows of a :class:`Rows` written a batch at a time."""
    sep = "{\n"
    for key, value in sorted(doc.items()):
        head = f"{sep}  {json.dumps(key)}: "
        sep = ",\n"
        if isinstance(value, list) and value:
            value = Rows(len(value), map(_compact, value))
        if isinstance(value, Rows):
            if not value.count:
                yield head + "[]"
                continue
            lead = head + "[\n    "
            for part in report_blocks.batches(value.rows, batch):
                yield lead + _ROW_SEP.join(part)
                lead = _ROW_SEP
            yield "\n  ]"
            continue
        text = json.dumps(value, sort_keys=True, ensure_ascii=True, indent=2)
        yield head + text.replace("\n", "\n  ")
    yield "\n}\n"
