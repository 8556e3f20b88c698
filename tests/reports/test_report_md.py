"""The Markdown report, rendered by a real CommonMark + GFM-tables parser."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from auditor.model import AuditResult
from auditor.reports import ReportContext, report_for
from auditor.reports.markdown import code

from .helpers import (
    HOSTILE_NAMES,
    RULES,
    UNVERIFIED,
    UNVERIFIED_CIDRS,
    failed_declared_case,
    hostile_case,
    in_sync_case,
    small_case,
)

markdown_it = pytest.importorskip("markdown_it")

OUR_TAGS = set("h1 h2 p strong ul li code pre table thead tbody tr th td".split())


class _Tables(HTMLParser):
    """Cells per row of every table, and the text of every <code> element."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.rows: list[list[str]] = []
        self.codes: list[str] = []
        self.tags: set[str] = set()
        self._cell: list[str] | None = None
        self._code: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "code":
            self._code = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append("".join(self._cell))
            self._cell = None
        elif tag == "code" and self._code is not None:
            self.codes.append("".join(self._code))
            self._code = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        if self._code is not None:
            self._code.append(data)


def to_html(md: str) -> str:
    out = markdown_it.MarkdownIt("commonmark").enable("table").render(md)
    assert isinstance(out, str)
    return out


def parsed(md: str) -> _Tables:
    p = _Tables()
    p.feed(to_html(md))
    return p


def render(result: AuditResult, rules: tuple[tuple[str, str], ...] = ()) -> str:
    return report_for("md").render(result, ReportContext(rules=rules))


def test_sections_in_order() -> None:
    md = render(small_case(), RULES)
    headings = [line for line in md.splitlines() if line.startswith("#")]
    assert headings == [
        "# Allowlist audit: drift",
        "## Inputs",
        "## Summary",
        "## Missing",
        "## Partial coverage",
        "## Extra in scope",
        "## Over-broad declared entries",
        "## Findings",
        "## Rules: `iptables`",
    ]
    assert "**Verdict:** drift (exit code 1)" in md
    assert md.endswith("```\n")


def test_a_failed_declared_source_leaves_the_missing_unverified() -> None:
    md = render(failed_declared_case())
    lines = md.split("\n")
    assert "## Not shown allowed (unverified: declared source `gone.txt` failed)" in lines
    assert f"- `{UNVERIFIED_CIDRS} {UNVERIFIED}`" in lines
    assert "## Missing" not in lines
    header = next(row for row in parsed(md).rows if row[0] == "Family")
    assert header[-2:] == ["Unverified CIDRs", "Unverified addresses"]
    assert "192.0.2.128/25" in md


def test_tables_render_with_the_right_cells() -> None:
    p = parsed(render(small_case(), RULES))
    missing = [r for r in p.rows if r and r[0].startswith(("192.0.2.", "203.0.113.6", "2001:"))]
    assert ["192.0.2.128/25", "128", "more-nodes.txt:1, nodes.txt:2"] in missing
    assert ["2001:db8:10::/48", "2^80", "nodes.txt:6"] in missing
    assert "-A INPUT -s 192.0.2.0/26 -p tcp -m tcp --dport 25 -j ACCEPT" in p.codes[-1]


def test_nothing_to_report_says_none() -> None:
    md = render(in_sync_case())
    assert md.count("None.") == 4  # missing, partial, over-broad, findings
    assert "## Extra in scope" not in md


def test_hostile_names_stay_inert_and_in_their_cells() -> None:
    md = render(hostile_case(), RULES)
    for line in md.split("\n"):
        assert line.isprintable(), line
    assert "<script" not in to_html(md)
    p = parsed(md)
    # Only our own markup: no links, images, emphasis or raw HTML from the names.
    assert p.tags <= OUR_TAGS
    for name in HOSTILE_NAMES:
        shown = name.replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")
        shown = shown.replace("\x1b", "\\x1b").replace("\u202e", "\\u202e")
        assert f"{shown}:2" in p.codes, shown


def test_every_table_row_has_as_many_cells_as_its_header() -> None:
    p = parsed(render(hostile_case(), RULES))
    headers = {"Role": 8, "Family": 7, "CIDR": 3, "Entry": 5, "Severity": 4}
    width = 0
    for row in p.rows:
        width = headers.get(row[0], width)
        assert len(row) == width, row


@pytest.mark.parametrize(
    ("text", "cell", "span", "shown"),
    [
        ("a|b", True, "`a\\|b`", "a|b"),
        ("a|b", False, "`a|b`", "a|b"),
        ("x`y", True, "``x`y``", "x`y"),
        ("`lead", True, "`` `lead ``", "`lead"),
        ("a``b", True, "```a``b```", "a``b"),
        ("<script>", True, "`<script>`", "<script>"),
        ("two\nlines", True, "`two\\nlines`", "two\\nlines"),
        ("", True, "", ""),
    ],
)
def test_code_span(text: str, cell: bool, span: str, shown: str) -> None:
    assert code(text, cell=cell) == span
    if not span:
        return
    md = f"| h |\n|---|\n| {span} |\n" if cell else f"{span}\n"
    assert parsed(md).codes == [shown]


def test_rules_fence_outgrows_backticks_inside() -> None:
    rules = (("example", "a\n```\nb ````\n"),)
    md = render(in_sync_case(), rules)
    assert "\n`````\na\n```\nb ````\n`````\n" in md
    assert parsed(md).codes[-1] == "a\n```\nb ````\n"
