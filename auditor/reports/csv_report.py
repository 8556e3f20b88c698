"""One row per reported item, for spreadsheets and ticket imports.

Rows: ``missing``, ``partial``, ``extra`` (only with a scope), ``over-broad`` and ``finding``,
each in address or origin order under one fixed header. Inputs, the summary and the verdict are
not items; they are in the text, md and json reports.

Lines end in CRLF, as RFC 4180 specifies and spreadsheet importers expect; a cell that holds a
line break is quoted by the csv module, but input-controlled text has its control characters
escaped first, so in practice every record is one line.

Spreadsheets run a cell that starts with ``=``, ``+``, ``-`` or ``@`` (or TAB or CR) as a
formula (CWE-1236, OWASP "CSV Injection"), and SPF terms such as ``-all`` and
``+ip4:192.0.2.1`` start that way on their own; such cells get a leading ``'``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import chain

from auditor.ipspace import BITS
from auditor.model import AuditResult, Finding, MissingBlock
from auditor.reports import blocks as report_blocks
from auditor.reports import view
from auditor.reports.base import Report, ReportContext
from auditor.reports.rows import Fields, RowFormat, origin_str
from auditor.reports.view import FAMILY_KEYS, ReportView, clean

HEADER = (
    "kind",
    "family",
    "network",
    "addresses",
    "covered_addresses",
    "percent",
    "severity",
    "finding",
    "origin",
    "message",
)

_CRLF = "\r\n"
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def cell(text: str) -> str:
    text = clean(text)
    return "'" + text if text.startswith(_FORMULA_START) else text


def _blocks(kind: str, blocks: Sequence[MissingBlock]) -> Iterator[tuple[str, ...]]:
    for b in blocks:
        origins = "; ".join(str(o) for o in b.origins)
        yield (kind, FAMILY_KEYS[b.family], b.cidr, str(b.size), "", "", "", "", origins, "")


def _findings(kind: str, findings: Sequence[Finding]) -> Iterator[tuple[str, ...]]:
    for f in findings:
        origin = "" if f.origin is None else str(f.origin)
        yield (kind, "", "", "", "", "", f.severity.value, f.kind, origin, f.message)


def rows(v: ReportView) -> Iterator[tuple[str, ...]]:
    """Raw rows, before neutralising; the order of :data:`HEADER`."""
    yield from _blocks("missing", v.missing)
    yield from _partial_rows(v)
    if v.extra is not None:
        yield from _blocks("extra", v.extra)
    yield from _findings("over-broad", v.over_broad)
    yield from _findings("finding", v.findings)


def _partial_rows(v: ReportView) -> Iterator[tuple[str, ...]]:
    for c in v.partial:
        e = c.entry
        yield (
            "partial",
            FAMILY_KEYS[e.family],
            e.text,
            str(e.size),
            str(c.covered),
            view.percent_number(c.covered, e.size),
            "",
            "",
            str(e.origin),
            "",
        )


class CsvReport(Report):
    name = "csv"
    description = "one row per missing, partial, extra, over-broad and finding item"

    def render(self, result: AuditResult, ctx: ReportContext) -> str:
        return "".join(self.stream(result, ctx))

    def stream(self, result: AuditResult, ctx: ReportContext) -> Iterator[str]:
        """The rows of :func:`rows`, the blocks' written as they are read."""
        v = view.build(result, ctx, lazy=True)
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)

        def written(items: Iterable[tuple[str, ...]]) -> str:
            buf.seek(0)
            buf.truncate()
            writer.writerows([cell(c) for c in row] for row in items)
            return buf.getvalue()

        yield written([HEADER])
        yield from _block_lines("missing", v.missing, written)
        yield written(_partial_rows(v))
        if v.extra is not None:
            yield from _block_lines("extra", v.extra, written)
        yield written(
            chain(_findings("over-broad", v.over_broad), _findings("finding", v.findings))
        )


def _block_lines(
    kind: str, blocks: Sequence[MissingBlock], written: Callable[[Iterable[tuple[str, ...]]], str]
) -> Iterator[str]:
    """What :func:`_blocks` gives the csv writer, formatted directly in pieces of lines: only
    the origins cell may need neutralising or quoting, and it is shared by runs of blocks."""

    def origins(origins: tuple[Fields, ...]) -> str:
        # the origins cell as the writer quotes it, then the empty message cell
        return written([("; ".join(origin_str(o) for o in origins), "")])[: -len(_CRLF)]

    fmt = RowFormat(
        head=lambda fam, plen: f"{kind},{FAMILY_KEYS[fam]},",
        mid=lambda fam, plen: f",{1 << (BITS[fam] - plen)},,,,,",
        origins=origins,
        sep=_CRLF,
    )
    for piece in report_blocks.lines(blocks, fmt):
        yield piece + _CRLF
