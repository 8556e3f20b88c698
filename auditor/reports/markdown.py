"""A Markdown attachment for a change request: verdict, inputs with their hashes, the summary,
what is missing and from where, then the rules to paste.

Every piece of text that an input controls (source names, origins, messages, reasons) goes
into a code span. Inside one, CommonMark and GFM render nothing: no HTML such as ``<script>``,
no links or autolinks, no emphasis, no math, and GitHub does not turn ``@name`` into a mention.
What is left to neutralise: backticks (the span's fence is made longer than any run inside),
``|`` in table cells (escaped as ``\\|``, which GFM resolves before code spans, spec example
200) and line breaks (escaped by :func:`view.clean`, so one cell stays on its row).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

from auditor.ipspace import BITS
from auditor.model import AuditResult, Finding, MissingBlock
from auditor.reports import blocks as report_blocks
from auditor.reports import view
from auditor.reports.base import Report, ReportContext
from auditor.reports.rows import Fields, RowFormat, origin_str
from auditor.reports.text import lines_to_chunks
from auditor.reports.view import ReportView, address_count, blocks_text, clean
from auditor.runmeta import RunMeta

# Origins shown per block; the JSON and CSV reports carry them all.
MAX_ORIGINS = 3

_BACKTICKS = re.compile(r"`+")


def code(text: str, *, cell: bool = True) -> str:
    """``text`` as an inline code span; ``cell`` when it sits in a table row."""
    text = clean(text)
    if not text:
        return ""
    longest = max((len(m) for m in _BACKTICKS.findall(text)), default=0)
    fence = "`" * (longest + 1)
    # CommonMark strips one space on each side when both are there, so a span that starts or
    # ends with a backtick can be padded away from its fence.
    if text[0] in "` " or text[-1] in "` ":
        text = f" {text} "
    if cell:
        text = text.replace("|", "\\|")
    return f"{fence}{text}{fence}"


def _row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _table(headers: Sequence[str], right: Sequence[int] = ()) -> list[str]:
    rule = ["---:" if i in right else "---" for i in range(len(headers))]
    return [_row(headers), "|" + "|".join(rule) + "|"]


def _origins(origins: Sequence[Fields]) -> str:
    text = ", ".join(code(origin_str(o)) for o in origins[:MAX_ORIGINS])
    if len(origins) > MAX_ORIGINS:
        text += f" (+{len(origins) - MAX_ORIGINS} more)"
    return text


def _blocks(blocks: Sequence[MissingBlock]) -> Iterator[str]:
    """The table of blocks, in pieces of rows as the blocks are read."""
    yield from _table(["CIDR", "Addresses", "Origins"], (1,))
    yield from report_blocks.lines(
        blocks,
        RowFormat(
            head=lambda fam, plen: "| ",
            mid=lambda fam, plen: f" | {address_count(1 << (BITS[fam] - plen))} | ",
            origins=lambda origins: f"{_origins(origins)} |",
            sep="\n",
        ),
    )


def _blocks_heading(blocks: Sequence[MissingBlock]) -> str:
    return blocks_text(blocks) + "."


def _blocks_section(title: str, blocks: Sequence[MissingBlock]) -> Iterator[str]:
    """A section of missing or extra blocks, or ``None.`` when there are none."""
    yield from ["", f"## {title}", ""]
    if blocks:
        yield from [_blocks_heading(blocks), ""]
        yield from _blocks(blocks)
    else:
        yield "None."


def _missing_title(v: ReportView) -> str:
    """``Missing``, or, when a declared source failed, why it is only unverified."""
    if not v.unverified:
        return "Missing"
    names = ", ".join(code(n, cell=False) for n in v.unverified)
    noun = "declared source" if len(v.unverified) == 1 else "declared sources"
    return f"Not shown allowed (unverified: {noun} {names} failed)"


def _origin(f: Finding) -> str:
    return code(str(f.origin)) if f.origin is not None else ""


def _fence(text: str) -> str:
    longest = max((len(m) for m in _BACKTICKS.findall(text)), default=0)
    return "`" * max(3, longest + 1)


def render(v: ReportView) -> str:
    return "".join(lines_to_chunks(_lines(v)))


def _lines(v: ReportView) -> Iterator[str]:
    out = [f"# Allowlist audit: {v.verdict.status}", ""]
    out.append(f"**Verdict:** {v.verdict.status} (exit code {v.verdict.exit_code})")
    out.append("")
    if v.verdict.reasons:
        out += [f"- {code(r, cell=False)}" for r in v.verdict.reasons]
        out.append("")
    out.append(f"**Service:** {code(v.options.service, cell=False)}")
    if v.options.scope:
        scope = ", ".join(code(s, cell=False) for s in v.options.scope)
        out += ["", f"**Scope:** {scope}"]

    out += ["", "## Inputs", ""]
    out += _table(
        [
            "Role",
            "Source",
            "Format",
            "Completeness",
            "Entries",
            "Size (bytes)",
            "Read at",
            "SHA-256",
        ],
        (5,),
    )
    for rs in v.inputs:
        info = rs.info
        state = rs.completeness.value
        if rs.reasons:
            state += ": " + "; ".join(code(r) for r in rs.reasons)
        out.append(
            _row(
                [
                    info.role,
                    code(info.name),
                    code(info.format),
                    state,
                    view.entries_text(rs),
                    "" if info.size_bytes is None else str(info.size_bytes),
                    code(info.read_at),
                    code(info.sha256 or ""),
                ]
            )
        )
        for name, digest in info.companions:
            cells = [
                "with",
                code(name),
                "",
                f"resolves {code(info.name)}",
                "",
                "",
                "",
                code(digest),
            ]
            out.append(_row(cells))

    out += ["", "## Summary", ""]
    headers, rows = v.summary_table()
    out += _table(headers, range(1, len(headers)))
    out += [_row(cells) for cells in rows]

    yield from out
    yield from _blocks_section(_missing_title(v), v.missing)
    out = []
    if v.layers:
        out += ["", "## Layers", "", "A connection must get through each declared source.", ""]
        for layer in v.layers:
            shown, more = layer.shown()
            out += [f"- {layer.summary(code(layer.name))}", *(f"  - {code(c)}" for c in shown)]
            if more:
                out.append(f"  - ... and {more} more")

    out += ["", "## Partial coverage", ""]
    if v.partial:
        out += _table(["Entry", "Covered", "Addresses", "Percent", "Origin"], (1, 2, 3))
        for c in v.partial:
            e = c.entry
            out.append(
                _row(
                    [
                        e.text,
                        address_count(c.covered),
                        address_count(e.size),
                        view.percent_text(c.covered, e.size),
                        code(str(e.origin)),
                    ]
                )
            )
    else:
        out.append("None.")

    if v.extra is not None:
        yield from out
        yield from _blocks_section("Extra in scope", v.extra)
        out = []

    out += ["", "## Over-broad declared entries", ""]
    if v.over_broad:
        out += _table(["Severity", "Origin", "Message"])
        out += [_row([f.severity.value, _origin(f), code(f.message)]) for f in v.over_broad]
    else:
        out.append("None.")

    out += ["", "## Findings", ""]
    if v.findings:
        out += _table(["Severity", "Kind", "Origin", "Message"])
        out += [
            _row([f.severity.value, code(f.kind), _origin(f), code(f.message)]) for f in v.findings
        ]
    else:
        out.append("None.")

    for platform, rules in v.rules:
        fence = _fence(rules)
        out += ["", f"## Rules: {code(platform, cell=False)}", "", fence]
        out += rules.rstrip("\n").split("\n")
        out.append(fence)
    if v.meta is not None:
        out += ["", "## Run", "", *_meta(v.meta)]
    yield from out


def _meta(meta: RunMeta) -> list[str]:
    """The run the report comes from (it changes from run to run: last, after the report)."""
    return [
        f"- **Tool:** {meta.tool} {code(meta.version, cell=False)}",
        f"- **Command:** {code(meta.command_line, cell=False)}",
        f"- **Host:** {code(meta.host, cell=False)}",
        f"- **Started:** {code(meta.started, cell=False)}",
        f"- **Duration:** {meta.duration_text}",
    ]


class MarkdownReport(Report):
    name = "md"
    description = "a Markdown attachment for a change request, with the rules to paste"

    def render(self, result: AuditResult, ctx: ReportContext) -> str:
        return "".join(self.stream(result, ctx))

    def stream(self, result: AuditResult, ctx: ReportContext) -> Iterator[str]:
        return lines_to_chunks(_lines(view.build(result, ctx, lazy=True)))
