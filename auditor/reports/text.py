"""The human report: rich tables on a terminal, plain stable text in pipes and cron mails.

The plain form is a contract of its own: no ANSI, no trailing spaces, a fixed layout and
every row, built in one linear pass so that 100k missing CIDRs still render quickly. The
terminal form caps long tables, because nobody scrolls through them; the full list is one
``--output cidr`` away.
"""

from __future__ import annotations

import io
import shutil
from collections.abc import Iterable, Iterator, Sequence
from itertools import chain, islice
from typing import TYPE_CHECKING

from auditor.ipspace import BITS
from auditor.model import AuditResult, Finding, MissingBlock, Origin
from auditor.reports import blocks as report_blocks
from auditor.reports import view
from auditor.reports.base import Report, ReportContext
from auditor.reports.rows import Fields, RowFormat, origin_str
from auditor.reports.view import (
    FamilySummary,
    ReportView,
    address_count,
    blocks_text,
    clean,
    origin_text,
    percent_text,
    plural,
    text_table,
)

if TYPE_CHECKING:
    from rich.console import RenderableType

# Origins shown per block; the JSON and CSV reports carry them all.
MAX_ORIGINS = 3
# Rows per table on a terminal.
MAX_TERMINAL_ROWS = 100
DEFAULT_WIDTH = 100
_WRAPPING = {
    "source",
    "completeness",
    "entries",
    "origin",
    "origins",
    "message",
    "entry / origin",
    "finding",
}


def _summary_rows(
    summary: Sequence[FamilySummary], missing: str = "missing"
) -> list[tuple[str, str, str, str]]:
    rows = []
    for fam in summary:
        sets = [("expected", fam.expected), ("declared", fam.declared), (missing, fam.missing)]
        if fam.extra is not None:
            sets.append(("extra", fam.extra))
        for name, tally in sets:
            # the total adds entries and CIDRs; adding IPv4 to IPv6 addresses means nothing
            addresses = "" if fam.key == "total" else address_count(tally.addresses)
            rows.append((fam.label, name, str(tally.count), addresses))
    return rows


def _origin_cell(origin: Origin | None, name_width: int | None = None) -> str:
    """An origin for a table cell; with ``name_width``, its source name is cut from the left
    to that many cells (the terminal form; the plain form keeps every name whole)."""
    if origin is None or name_width is None:
        return origin_text(origin)
    return abbreviate(clean(origin.source), name_width) + origin_text(
        Origin("", origin.line, origin.path)
    )


def _block_rows(
    blocks: Sequence[MissingBlock], name_width: int | None = None, limit: int | None = None
) -> list[tuple[str, str, str]]:
    """The rows of ``blocks`` (the first ``limit`` of them when given)."""
    # neighbouring blocks of one big entry share one origins tuple: word it once
    memo: dict[int, str] = {}
    rows = []
    for b in islice(blocks, limit):
        key = id(b.origins)
        text = memo.get(key)
        if text is None:
            shown = b.origins[:MAX_ORIGINS]
            text = ", ".join(_origin_cell(o, name_width) for o in shown)
            if len(b.origins) > MAX_ORIGINS:
                text += f" (+{len(b.origins) - MAX_ORIGINS} more)"
            memo[key] = text
        rows.append((b.cidr, address_count(b.size), text))
    return rows


def _finding_rows(
    findings: Sequence[Finding], name_width: int | None = None
) -> list[tuple[str, str, str, str]]:
    return [
        (f.severity.value, f.kind, _origin_cell(f.origin, name_width), clean(f.message))
        for f in findings
    ]


def _blocks_title(name: str, blocks: Sequence[MissingBlock]) -> str:
    return f"{name}: {blocks_text(blocks) if blocks else 'none'}"


def _missing_set(v: ReportView) -> str:
    """The missing row of the summary: ``unverified`` when a declared source failed."""
    return "unverified" if v.unverified else "missing"


def _scope_text(v: ReportView) -> str:
    return ", ".join(clean(s) for s in v.options.scope)


def render_plain(v: ReportView) -> str:
    return "".join(plain_chunks(v))


def plain_chunks(v: ReportView) -> Iterator[str]:
    """The plain report in pieces of whole lines, its tables of blocks written as they are
    read."""
    return lines_to_chunks(_plain_lines(v))


def lines_to_chunks(lines: Iterable[str], batch: int = 4096) -> Iterator[str]:
    """Lines, each ending in a newline, joined a batch at a time (a "line" may be many lines
    joined by newlines already: a piece of a table of blocks)."""
    for chunk in report_blocks.batches(lines, batch):
        yield "\n".join(chunk) + "\n"


def _block_table(blocks: Sequence[MissingBlock]) -> Iterator[str]:
    """``text_table(["cidr", "addresses", "origins"], _block_rows(blocks), (1,))``, in pieces
    of lines: the widths of the first two columns come from the longest CIDR and the sizes
    present; the last column is never padded, as a line ends without trailing spaces."""
    counts = {size: address_count(size) for size in report_blocks.sizes(blocks)}
    cidr_width = max(len("cidr"), report_blocks.cidr_width(blocks))
    count_width = max(len("addresses"), *(len(c) for c in counts.values()))
    yield f"  {'cidr':<{cidr_width}}  {'addresses':>{count_width}}  origins"

    def origins(origins: tuple[Fields, ...]) -> str:
        text = ", ".join(clean(origin_str(o)) for o in origins[:MAX_ORIGINS])
        if len(origins) > MAX_ORIGINS:
            text += f" (+{len(origins) - MAX_ORIGINS} more)"
        return f"  {text}".rstrip()  # the count before it never ends in a space

    yield from report_blocks.lines(
        blocks,
        RowFormat(
            head=lambda fam, plen: "  ",
            mid=lambda fam, plen: f"  {counts[1 << (BITS[fam] - plen)]:>{count_width}}",
            origins=origins,
            sep="\n",
            pad=cidr_width,
        ),
    )


def layer_lines(v: ReportView) -> list[str]:
    """With ``--layered``: what each declared source does not let in, a few CIDRs each."""
    if not v.layers:
        return []
    out = ["", "layers: a connection must get through each declared source"]
    for layer in v.layers:
        shown, more = layer.shown()
        out += [f"  {layer.summary()}", *(f"    {cidr}" for cidr in shown)]
        if more:
            out.append(f"    ... and {more} more (-o json lists all)")
    return out


def _plain_lines(v: ReportView) -> Iterator[str]:
    out: list[str] = ["allowlist-auditor report", ""]
    out.append(f"verdict: {v.verdict.status} (exit {v.verdict.exit_code})")
    out.extend(f"  - {clean(r)}" for r in v.verdict.reasons)
    out.append(f"service: {clean(v.options.service)}")
    if v.options.scope:
        out.append(f"scope: {_scope_text(v)}")

    out += ["", "inputs"]
    for rs in v.inputs:
        info = rs.info
        out.append(f"  {info.role} {clean(info.name)}")
        out.append(f"    format: {clean(info.format)}")
        if info.size_bytes is not None:
            out.append(f"    size: {plural(info.size_bytes, 'byte')}")
        if info.sha256:
            out.append(f"    sha256: {info.sha256}")
        if info.read_at:
            out.append(f"    read at: {clean(info.read_at)}")
        out.extend(f"    {label}: {clean(value)}" for label, value in view.fetch_details(rs))
        out.append(f"    completeness: {rs.completeness.value}")
        out.extend(f"    reason: {clean(r)}" for r in rs.reasons)
        out.append(f"    entries: {view.entries_text(rs)}")
        if info.detail:
            out.append(f"    detail: {clean(info.detail)}")

    out += ["", "summary"]
    missing = _missing_set(v)
    summary = _summary_rows(v.summary, missing)
    out += text_table(["family", "set", "count", "addresses"], summary, (2, 3))
    out.append(f"  (count: entries for expected and declared; minimal CIDRs for {missing}, extra)")
    out.append("  (addresses: per family; an IPv4 and an IPv6 address count never add up)")

    out += ["", _blocks_title(clean(v.missing_title), v.missing)]
    if v.missing:
        yield from out
        yield from _block_table(v.missing)
        out = []
    out += layer_lines(v)

    if v.partial:
        out += ["", f"partial: {plural(len(v.partial), 'entry', 'entries')}"]
        rows = _partial_rows(v)
        out += text_table(["entry", "covered", "addresses", "percent", "origin"], rows, (1, 2, 3))
    else:
        out += ["", "partial: none"]

    if v.extra is not None:
        out += ["", _blocks_title(f"extra in scope {_scope_text(v)}", v.extra)]
        if v.extra:
            yield from out
            yield from _block_table(v.extra)
            out = []

    out += ["", f"over-broad: {len(v.over_broad) or 'none'}"]
    if v.over_broad:
        out += text_table(
            ["severity", "origin", "message"],
            [(f.severity.value, origin_text(f.origin), clean(f.message)) for f in v.over_broad],
        )

    out += ["", f"findings: {len(v.findings) or 'none'}"]
    if v.findings:
        out += text_table(["severity", "kind", "origin", "message"], _finding_rows(v.findings))

    for platform, rules in v.rules:
        out += ["", f"rules: {clean(platform)}"]
        out += rules.rstrip("\n").split("\n")
    yield from out


def abbreviate(text: str, width: int) -> str:
    """``text`` in at most ``width`` cells, cut from the left where a path is least telling:
    ``.../exports/fw.rules`` becomes ``…/exports/fw.rules``, at a ``/`` when one fits."""
    if view.display_width(text) <= width:
        return text
    room = max(width - 1, 1)
    tail = text[-room:]
    while view.display_width(tail) > room:
        tail = tail[1:]
    cut = tail.find("/")
    if 0 < cut < len(tail) - 1:
        tail = tail[cut:]
    return "\u2026" + tail


# The inputs table stacks what describes a source into one cell, so that four columns fit
# where eight did not: on 80 columns rich squeezed every column and wrapped names into
# two-character strips. Cells that cannot wrap meaningfully (a name, a time) get their width.
_ROLE_WIDTH = len("expected")
_STATE_MIN = 12
_SOURCE_MIN = 16


def _inputs_table(v: ReportView, width: int) -> RenderableType:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    entries = [view.entries_text(rs).replace(", ", "\n") for rs in v.inputs]
    states = []
    for rs in v.inputs:
        state = rs.completeness.value
        if rs.reasons:
            state += ": " + "; ".join(clean(r) for r in rs.reasons)
        states.append(state)
    sources = []
    for rs in v.inputs:
        info = rs.info
        fmt = clean(info.format) + (f" ({clean(info.version)})" if info.version else "")
        lines = [
            clean(info.name),
            fmt if info.size_bytes is None else f"{fmt}, {info.size_bytes} bytes",
        ]
        if info.read_at:
            lines.append(f"read {clean(info.read_at)}")
        if info.sha256:
            lines.append(f"sha256 {info.sha256[:12]}")
        sources.append(lines)

    # four columns, each padded by one cell on both sides, three dividers between them
    entries_width = max((len(line) for e in entries for line in e.split("\n")), default=0)
    room = width - 11 - _ROLE_WIDTH - max(entries_width, len("entries"))
    longest_state = max((view.display_width(s) for s in states), default=0)
    state_width = max(min(longest_state, max(_STATE_MIN, room * 2 // 5)), len("completeness"))
    longest_source = max((view.display_width(x) for x in chain(*sources)), default=0)
    source_width = max(_SOURCE_MIN, min(room - state_width, longest_source))
    # what the source does not need goes to the reasons of an incomplete source
    state_width = max(state_width, min(longest_state, room - source_width))

    t = Table(title="inputs", title_justify="left", box=box.SIMPLE_HEAD, show_edge=False)
    t.add_column("role", no_wrap=True)
    t.add_column("source", overflow="fold", width=source_width)
    t.add_column("completeness", overflow="fold", width=state_width)
    t.add_column("entries", no_wrap=True)
    for rs, lines, state, count in zip(v.inputs, sources, states, entries, strict=True):
        # the name is cut from the left to one line; the details below it may wrap
        cell = Text(abbreviate(lines[0], source_width))
        for line in lines[1:]:
            cell.append("\n" + line, style="dim")
        t.add_row(
            Text(rs.info.role),
            cell,
            Text(state, style="green" if state == "complete" else "red"),
            Text(count),
        )
    return t


def render_rich(v: ReportView, width: int) -> str:
    # Imported here: rich costs import time that plain output and other reports never need.
    from rich import box
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    buf = io.StringIO()
    console = Console(
        file=buf,
        force_terminal=True,
        width=width,
        highlight=False,
        emoji=False,
        markup=False,
        soft_wrap=False,
    )

    def table(title: str, headers: Sequence[str], right: Sequence[int] = ()) -> Table:
        t = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, show_edge=False)
        for i, h in enumerate(headers):
            # Only free text wraps; a CIDR, a count or a time broken over two lines misleads.
            t.add_column(
                h,
                justify="right" if i in right else "left",
                overflow="fold",
                no_wrap=h not in _WRAPPING,
            )
        return t

    def capped(
        t: Table,
        rows: Sequence[Sequence[str]],
        styles: Sequence[str] = (),
        total: int | None = None,
    ) -> None:
        """The first rows of a table; ``total`` counts the rows when only those were made."""
        total = len(rows) if total is None else total
        # Text() keeps rich from reading input-controlled cells as console markup.
        for row in rows[:MAX_TERMINAL_ROWS]:
            t.add_row(
                *(
                    Text(cell, style=styles[i] if i < len(styles) else "")
                    for i, cell in enumerate(row)
                )
            )
        console.print(t)
        if total > MAX_TERMINAL_ROWS:
            console.print(
                Text(
                    f"... {total - MAX_TERMINAL_ROWS} more, use --output cidr "
                    "(or json, csv) for the full list",
                    style="dim",
                )
            )

    colour = {"in-sync": "bold green", "drift": "bold yellow", "incomplete": "bold red"}
    head = Text()
    head.append("verdict: ")
    head.append(v.verdict.status, style=colour[v.verdict.status])
    head.append(f" (exit {v.verdict.exit_code})   service: {clean(v.options.service)}")
    if v.options.scope:
        head.append(f"   scope: {_scope_text(v)}")
    console.print(head)
    for reason in v.verdict.reasons:
        console.print(Text(f"  - {clean(reason)}"))
    console.print()

    console.print(_inputs_table(v, width))

    capped(
        table("summary", ["family", "set", "count", "addresses"], (2, 3)),
        _summary_rows(v.summary, _missing_set(v)),
    )

    console.print(
        Text(
            _blocks_title(clean(v.missing_title), v.missing),
            style="bold yellow" if v.missing else "green",
        )
    )
    # Source names in origins are cut from the left, as in the inputs table, and cells that
    # describe one item are stacked, so that no table needs more than four columns.
    names = max(_SOURCE_MIN, width // 3)
    if v.missing:
        capped(
            table("", ["cidr", "addresses", "origins"], (1,)),
            _block_rows(v.missing, names, MAX_TERMINAL_ROWS),
            ("yellow",),
            len(v.missing),
        )
    for line in layer_lines(v)[1:]:
        console.print(Text(line, style="bold" if not line.startswith(" ") else ""))
    if v.partial:
        rows = [
            (f"{entry}\n{origin}", *numbers) for entry, *numbers, origin in _partial_rows(v, names)
        ]
        capped(
            table(
                f"partial: {plural(len(v.partial), 'entry', 'entries')}",
                ["entry / origin", "covered", "addresses", "percent"],
                (1, 2, 3),
            ),
            rows,
        )
    if v.extra is not None:
        console.print(Text(_blocks_title(f"extra in scope {_scope_text(v)}", v.extra)))
        if v.extra:
            capped(
                table("", ["cidr", "addresses", "origins"], (1,)),
                _block_rows(v.extra, names, MAX_TERMINAL_ROWS),
                total=len(v.extra),
            )
    if v.over_broad:
        capped(
            table(f"over-broad: {len(v.over_broad)}", ["severity", "origin", "message"]),
            [
                (f.severity.value, _origin_cell(f.origin, names), clean(f.message))
                for f in v.over_broad
            ],
            ("red",),
        )
    if v.findings:
        capped(
            table(f"findings: {len(v.findings)}", ["finding", "origin", "message"]),
            [
                (f"{severity}\n{kind}", origin, message)
                for severity, kind, origin, message in _finding_rows(v.findings, names)
            ],
        )
    for platform, rules in v.rules:
        console.print()
        console.print(Text(f"rules: {clean(platform)}", style="bold"))
        # Verbatim (they are built from validated networks) and never wrapped by rich: a
        # wrapped line pastes as two commands. soft_wrap leaves long lines to the terminal.
        console.print(Text(rules.rstrip("\n")), soft_wrap=True)
    return buf.getvalue()


class TextReport(Report):
    name = "text"
    description = "a readable report: tables on a terminal, plain stable text otherwise"

    def render(self, result: AuditResult, ctx: ReportContext) -> str:
        return "".join(self.stream(result, ctx))

    def stream(self, result: AuditResult, ctx: ReportContext) -> Iterator[str]:
        if ctx.color:
            width = ctx.width or shutil.get_terminal_size((DEFAULT_WIDTH, 24)).columns
            # only the rows shown are made: the view's blocks are read as they come
            yield render_rich(view.build(result, ctx, lazy=True), width)
            return
        yield from plain_chunks(view.build(result, ctx, lazy=True))


def _partial_rows(v: ReportView, name_width: int | None = None) -> list[tuple[str, ...]]:
    return [
        (
            clean(c.entry.text),
            address_count(c.covered),
            address_count(c.entry.size),
            percent_text(c.covered, c.entry.size),
            _origin_cell(c.entry.origin, name_width),
        )
        for c in v.partial
    ]
