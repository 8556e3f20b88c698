"""A self-contained HTML attachment for a change request: the verdict, the changes since the last
run (when the command keeps state), the inputs with their hashes, versions and retrieval times,
a chart of how much of each expected source is allowed, what is missing and from where, partial
coverage with a bar per entry, extras, findings, the rules to apply and roll back, and the run.

One file that opens offline and prints: the style sheet is inline, the chart is inline SVG, the
bars are inline CSS; nothing refers to another file, a font, an image or the network.

Every piece of text that an input controls (source names, origins, messages, rules, the command
line) is made visible first (:func:`view.clean`: no control character, no line break, no bidi
override) and then escaped with :func:`html.escape` (``quote=True``), so ``<script>``, a quote
ending an attribute or ``</style>`` is text. The rules keep their lines and tabs, escaped alike.

The output is deterministic: the same result and context give the same bytes; only the run's
metadata (start, duration, host, command line) changes from run to run, and it sits in a section
of its own (``<section id="run">``) at the end.
"""

from __future__ import annotations

import html
from collections.abc import Iterator, Sequence

from auditor.ipspace import BITS
from auditor.model import AuditResult, Completeness, MissingBlock, RangeSet
from auditor.reports import blocks as report_blocks
from auditor.reports import view
from auditor.reports.base import Drift, Report, ReportContext
from auditor.reports.rows import Fields, RowFormat, origin_str
from auditor.reports.text import lines_to_chunks
from auditor.reports.view import (
    FAMILIES,
    FAMILY_LABELS,
    ReportView,
    address_count,
    blocks_text,
    clean,
)
from auditor.runmeta import RunMeta

# Origins shown per block; the JSON and CSV reports carry them all.
MAX_ORIGINS = 3
# Characters of a source's name written in the chart (the inputs table has them all).
CHART_NAME = 64

_CSS = """
:root { --ok: #1a7f37; --bad: #c62828; --warn: #9a6700; --line: #d0d7de; --muted: #57606a; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1f2328;
  margin: 0 auto; max-width: 72rem; padding: 1rem 1.5rem 3rem; }
h1 { font-size: 1.6rem; margin: .5rem 0; }
h2 { font-size: 1.2rem; margin: 2rem 0 .5rem; border-bottom: 1px solid var(--line);
  padding-bottom: .2rem; }
h3 { font-size: 1rem; margin: 1.2rem 0 .4rem; }
code, pre, .cidr, .hash { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
  font-size: .85rem; }
.hash { word-break: break-all; }
table { border-collapse: collapse; width: 100%; margin: .5rem 0; }
th, td { border: 1px solid var(--line); padding: .25rem .45rem; text-align: left;
  vertical-align: top; overflow-wrap: anywhere; }
th { background: #f6f8fa; }
td.num, th.num { text-align: right; white-space: nowrap; }
.status { padding: .05rem .5rem; border-radius: .3rem; color: #fff; }
.status-in-sync { background: var(--ok); }
.status-drift { background: var(--bad); }
.status-incomplete { background: var(--warn); }
.none { color: var(--muted); }
.detail { color: var(--muted); font-size: .85rem; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .15rem 1rem; }
dl.facts dt { font-weight: 600; }
dl.facts dd { margin: 0; overflow-wrap: anywhere; }
.bar { width: 10rem; height: .8rem; background: var(--bad); border: 1px solid var(--line); }
.bar > div { height: 100%; background: var(--ok); }
pre { background: #f6f8fa; border: 1px solid var(--line); padding: .6rem; overflow-x: auto;
  white-space: pre; }
svg.chart { width: 100%; height: auto; }
svg.chart text { font: 13px system-ui, sans-serif; fill: #1f2328; }
svg.chart .allowed { fill: var(--ok); }
svg.chart .missing { fill: var(--bad); }
svg.chart .unknown { fill: #d0d7de; }
nav ul { list-style: none; padding: 0; display: flex; flex-wrap: wrap; gap: .3rem 1rem; }
.bar, .bar > div, .status, svg.chart rect { -webkit-print-color-adjust: exact;
  print-color-adjust: exact; }
@media print {
  body { font-size: 10pt; max-width: none; padding: 0; }
  nav { display: none; }
  h2, h3 { break-after: avoid; }
  tr, figure { break-inside: avoid; }
  pre { white-space: pre-wrap; overflow-wrap: anywhere; overflow: visible; }
  a { color: inherit; text-decoration: none; }
}
""".strip()


def esc(text: str) -> str:
    """Input-controlled text as HTML: made visible on one line, then escaped."""
    return html.escape(clean(text), quote=True)


def _code(text: str) -> str:
    return f"<code>{esc(text)}</code>" if text else ""


def _pre(text: str) -> str:
    """A multi-line text (rules) as HTML: its lines and tabs kept, anything else that is not
    printable made visible, then escaped."""
    lines = []
    for line in text.rstrip("\n").split("\n"):
        if not line.isprintable():
            line = "".join(ch if ch.isprintable() or ch == "\t" else clean(ch) for ch in line)
        lines.append(html.escape(line, quote=True))
    return "\n".join(lines)


def _row(cells: Sequence[str], num: Sequence[int] = ()) -> str:
    """A table row of cells already in HTML; ``num``: the cells that hold numbers."""
    return (
        "<tr>"
        + "".join(
            f'<td class="num">{c}</td>' if i in num else f"<td>{c}</td>"
            for i, c in enumerate(cells)
        )
        + "</tr>"
    )


def _head(headers: Sequence[str], num: Sequence[int] = ()) -> str:
    cells = "".join(
        f'<th class="num">{h}</th>' if i in num else f"<th>{h}</th>" for i, h in enumerate(headers)
    )
    return f"<table><thead><tr>{cells}</tr></thead><tbody>"


_END = "</tbody></table>"
_NONE = '<p class="none">None.</p>'


def _origins(origins: Sequence[Fields]) -> str:
    text = "<br>".join(_code(origin_str(o)) for o in origins[:MAX_ORIGINS])
    if len(origins) > MAX_ORIGINS:
        text += f" (+{len(origins) - MAX_ORIGINS} more)"
    return text


def _blocks(blocks: Sequence[MissingBlock]) -> Iterator[str]:
    """The table of blocks, in pieces of rows as the blocks are read."""
    yield _head(["CIDR", "Addresses", "Origins"], (1,))
    yield from report_blocks.lines(
        blocks,
        RowFormat(
            head=lambda fam, plen: '<tr><td class="cidr">',
            mid=lambda fam, plen: (
                f'</td><td class="num">{address_count(1 << (BITS[fam] - plen))}</td><td>'
            ),
            origins=lambda origins: f"{_origins(origins)}</td></tr>",
            sep="\n",
        ),
    )
    yield _END


def _blocks_section(key: str, title: str, blocks: Sequence[MissingBlock]) -> Iterator[str]:
    yield f'<section id="{key}">\n<h2>{title}</h2>'
    if blocks:
        yield f"<p>{esc(blocks_text(blocks))}.</p>"
        yield from _blocks(blocks)
    else:
        yield _NONE
    yield "</section>"


def _missing_title(v: ReportView) -> str:
    if not v.unverified:
        return "Missing"
    names = ", ".join(_code(n) for n in v.unverified)
    noun = "declared source" if len(v.unverified) == 1 else "declared sources"
    return f"Not shown allowed (unverified: {noun} {names} failed)"


def _facts(pairs: Sequence[tuple[str, str]]) -> str:
    """A definition list of (label, HTML) pairs."""
    items = "".join(f"<dt>{label}</dt><dd>{value}</dd>" for label, value in pairs)
    return f'<dl class="facts">{items}</dl>'


def _header(v: ReportView) -> Iterator[str]:
    status = esc(v.verdict.status)
    yield "<!DOCTYPE html>"
    yield '<html lang="en">'
    yield "<head>"
    yield '<meta charset="utf-8">'
    yield '<meta name="viewport" content="width=device-width, initial-scale=1">'
    yield f"<title>Allowlist audit: {status}</title>"
    yield f"<style>\n{_CSS}\n</style>"
    yield "</head>"
    yield "<body>"
    yield "<header>"
    yield f'<h1>Allowlist audit: <span class="status status-{status}">{status}</span></h1>'
    yield f"<p><strong>Verdict:</strong> {status} (exit code {v.verdict.exit_code})</p>"
    if v.verdict.reasons:
        yield "<ul>" + "".join(f"<li>{esc(r)}</li>" for r in v.verdict.reasons) + "</ul>"
    facts = [("Service", _code(v.options.service))]
    if v.options.scope:
        facts.append(("Scope", ", ".join(_code(s) for s in v.options.scope)))
    yield _facts(facts)
    yield "</header>"


def _nav(v: ReportView) -> str:
    links = [("inputs", "Inputs"), ("summary", "Summary"), ("coverage", "Coverage")]
    if v.drift is not None:
        links.insert(0, ("drift", "Changes since the last run"))
    links.append(("missing", "Missing"))
    if v.layers:
        links.append(("layers", "Layers"))
    links.append(("partial", "Partial coverage"))
    if v.extra is not None:
        links.append(("extra", "Extra in scope"))
    links += [("over-broad", "Over-broad"), ("findings", "Findings")]
    if v.rules:
        links.append(("rules", "Rules"))
    if v.meta is not None:
        links.append(("run", "Run"))
    items = "".join(f'<li><a href="#{key}">{label}</a></li>' for key, label in links)
    return f"<nav><ul>{items}</ul></nav>"


def _drift(drift: Drift) -> Iterator[str]:
    yield '<section id="drift">\n<h2>Changes since the last run</h2>'
    if not drift.since:
        yield '<p class="none">The first run: nothing to compare with.</p>'
    else:
        yield f"<p>Compared with the run started at {_code(drift.since)}.</p>"
        if not drift.changes:
            yield '<p class="none">No change.</p>'
        else:
            yield _head(["Change", "CIDR or entry", "Source", "First seen"])
            for c in drift.changes:
                yield _row([esc(c.change), _code(c.item), _code(c.source), _code(c.first_seen)])
            yield _END
    yield "</section>"


def _inputs(v: ReportView) -> Iterator[str]:
    yield '<section id="inputs">\n<h2>Inputs</h2>'
    headers = [
        "Role",
        "Source",
        "Format",
        "Completeness",
        "Entries",
        "Size (bytes)",
        "Read at",
        "Version",
        "Retrieved at",
        "SHA-256",
    ]
    yield _head(headers, (5,))
    for rs in v.inputs:
        info = rs.info
        state = esc(rs.completeness.value)
        if rs.reasons:
            state += ": " + "; ".join(esc(r) for r in rs.reasons)
        source = _code(info.name)
        details = [
            f"{label}: {_code(value)}"
            for label, value in view.fetch_details(rs)
            if label in ("url", "obtained")
        ]
        if details:
            source += '<br><span class="detail">' + "<br>".join(details) + "</span>"
        cells = [
            esc(info.role),
            source,
            _code(info.format),
            state,
            esc(view.entries_text(rs)),
            "" if info.size_bytes is None else str(info.size_bytes),
            _code(info.read_at),
            _code(info.version or ""),
            _code(info.retrieved_at or ""),
            f'<span class="hash">{esc(info.sha256 or "")}</span>',
        ]
        yield _row(cells, (5,))
        for name, digest in info.companions:
            cells = ["with", _code(name), "", f"resolves {_code(info.name)}"]
            cells += ["", "", "", "", "", f'<span class="hash">{esc(digest)}</span>']
            yield _row(cells, (5,))
    yield _END
    yield "</section>"


def _summary(v: ReportView) -> Iterator[str]:
    yield '<section id="summary">\n<h2>Summary</h2>'
    headers, rows = v.summary_table()
    num = range(1, len(headers))
    yield _head(headers, num)
    for cells in rows:
        yield _row([esc(c) for c in cells], num)
    yield _END
    yield "</section>"


# The coverage chart: one row per expected source and family, in SVG user units.
_CHART_WIDTH = 760
_BAR_WIDTH = 560
_ROW = 42


def _coverage_rows(result: AuditResult, v: ReportView) -> list[tuple[RangeSet, int, int, int]]:
    """(source, family, addresses, of which not allowed) for each expected source and family
    it has addresses of, in the order of the inputs."""
    rows = []
    for rs in v.inputs:
        if rs.info.role != "expected" or rs.completeness is Completeness.FAILED:
            continue
        space = rs.space
        lacking = space & result.missing
        for fam in FAMILIES:
            size = space.size(fam)
            if size:
                rows.append((rs, fam, size, lacking.size(fam)))
    return rows


def _chart(result: AuditResult, v: ReportView) -> Iterator[str]:
    yield '<section id="coverage">\n<h2>Coverage by expected source</h2>'
    rows = _coverage_rows(result, v)
    if not rows:
        yield '<p class="none">No expected source was read.</p>\n</section>'
        return
    lacking_word = "not shown allowed" if v.unverified else "missing"
    height = _ROW * len(rows) + 8
    yield (
        f'<figure><svg class="chart" role="img"'
        f' viewBox="0 0 {_CHART_WIDTH} {height}" width="{_CHART_WIDTH}" height="{height}"'
        ' aria-labelledby="coverage-caption">'
    )
    for i, (rs, fam, size, lacking) in enumerate(rows):
        allowed = size - lacking
        y = i * _ROW + 4
        name = clean(rs.info.name)
        shown = name if len(name) <= CHART_NAME else name[: CHART_NAME - 1] + "\u2026"
        label = f"{shown} ({FAMILY_LABELS[fam]})"
        said = (
            f"{view.percent_text(allowed, size)} allowed; {address_count(lacking)} of"
            f" {address_count(size)} addresses {lacking_word}"
        )
        full = f"{name} ({FAMILY_LABELS[fam]}): {said}"
        width = allowed * _BAR_WIDTH // size
        fill = "unknown" if v.unverified else "missing"
        yield f"<g><title>{html.escape(full, quote=True)}</title>"
        yield f'<text x="0" y="{y + 13}">{html.escape(label, quote=True)}</text>'
        yield (
            f'<rect class="{fill}" x="0" y="{y + 18}" width="{_BAR_WIDTH}" height="14"></rect>'
            f'<rect class="allowed" x="0" y="{y + 18}" width="{width}" height="14"></rect>'
        )
        percent = html.escape(view.percent_text(allowed, size), quote=True)
        yield f'<text x="{_BAR_WIDTH + 8}" y="{y + 30}">{percent} allowed</text></g>'
    yield "</svg>"
    yield (
        '<figcaption id="coverage-caption">The share of each expected source\'s addresses the'
        f" declared side allows (green) and {lacking_word} (the rest), per family.</figcaption>"
    )
    yield "</figure>\n</section>"


def _layers(v: ReportView) -> Iterator[str]:
    if not v.layers:
        return
    yield '<section id="layers">\n<h2>Layers</h2>'
    yield "<p>A connection must get through each declared source.</p><ul>"
    for layer in v.layers:
        shown, more = layer.shown()
        inner = "".join(f"<li>{_code(c)}</li>" for c in shown)
        if more:
            inner += f"<li>... and {more} more</li>"
        yield f"<li>{esc(layer.summary())}" + (f"<ul>{inner}</ul>" if inner else "") + "</li>"
    yield "</ul>\n</section>"


def _partial(v: ReportView) -> Iterator[str]:
    yield '<section id="partial">\n<h2>Partial coverage</h2>'
    if not v.partial:
        yield _NONE
    else:
        yield _head(["Entry", "Coverage", "Covered", "Addresses", "Percent", "Origin"], (2, 3, 4))
        for c in v.partial:
            e = c.entry
            width = view.percent_number(c.covered, e.size)
            percent = esc(view.percent_text(c.covered, e.size))
            bar = (
                f'<div class="bar" role="img" aria-label="{percent} covered">'
                f'<div style="width: {width}%"></div></div>'
            )
            cells = [
                f'<span class="cidr">{esc(e.text)}</span>',
                bar,
                esc(address_count(c.covered)),
                esc(address_count(e.size)),
                percent,
                _code(str(e.origin)),
            ]
            yield _row(cells, (2, 3, 4))
        yield _END
    yield "</section>"


def _findings(v: ReportView) -> Iterator[str]:
    yield '<section id="over-broad">\n<h2>Over-broad declared entries</h2>'
    if v.over_broad:
        yield _head(["Severity", "Origin", "Message"])
        for f in v.over_broad:
            origin = _code(str(f.origin)) if f.origin is not None else ""
            yield _row([esc(f.severity.value), origin, esc(f.message)])
        yield _END
    else:
        yield _NONE
    yield "</section>"
    yield '<section id="findings">\n<h2>Findings</h2>'
    if v.findings:
        yield _head(["Severity", "Kind", "Origin", "Message"])
        for f in v.findings:
            origin = _code(str(f.origin)) if f.origin is not None else ""
            yield _row([esc(f.severity.value), _code(f.kind), origin, esc(f.message)])
        yield _END
    else:
        yield _NONE
    yield "</section>"


def _rules(v: ReportView) -> Iterator[str]:
    if not v.rules:
        return
    yield '<section id="rules">\n<h2>Rules</h2>'
    yield (
        "<p>The rules as <code>--rules</code> made them: each part under a"
        " <code>=====</code> line that names it (apply, rollback, prune, as the platform"
        " has them).</p>"
    )
    for platform, rules in v.rules:
        yield f"<h3>Rules: {_code(platform)}</h3>"
        yield f"<pre><code>{_pre(rules)}</code></pre>"
    yield "</section>"


def _meta(meta: RunMeta) -> Iterator[str]:
    yield '<section id="run">\n<h2>Run</h2>'
    yield _facts(
        [
            ("Tool", f"{esc(meta.tool)} {_code(meta.version)}"),
            ("Command", _code(meta.command_line)),
            ("Host", _code(meta.host)),
            ("Started", f'<time datetime="{esc(meta.started)}">{esc(meta.started)}</time>'),
            ("Duration", esc(meta.duration_text)),
        ]
    )
    yield "</section>"


def _lines(result: AuditResult, v: ReportView) -> Iterator[str]:
    yield from _header(v)
    yield _nav(v)
    yield "<main>"
    if v.drift is not None:
        yield from _drift(v.drift)
    yield from _inputs(v)
    yield from _summary(v)
    yield from _chart(result, v)
    yield from _blocks_section("missing", _missing_title(v), v.missing)
    yield from _layers(v)
    yield from _partial(v)
    if v.extra is not None:
        yield from _blocks_section("extra", "Extra in scope", v.extra)
    yield from _findings(v)
    yield from _rules(v)
    if v.meta is not None:
        yield from _meta(v.meta)
    yield "</main>"
    yield "</body>"
    yield "</html>"


class HtmlReport(Report):
    name = "html"
    description = (
        "a self-contained HTML attachment for a change request (inline style and charts;"
        " opens offline, prints)"
    )

    def render(self, result: AuditResult, ctx: ReportContext) -> str:
        return "".join(self.stream(result, ctx))

    def stream(self, result: AuditResult, ctx: ReportContext) -> Iterator[str]:
        return lines_to_chunks(_lines(result, view.build(result, ctx, lazy=True)))
