"""The CSV report: one row per item, formula injection neutralised (CWE-1236)."""

from __future__ import annotations

import csv
import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditor.model import AuditResult
from auditor.reports import ReportContext, report_for
from auditor.reports.csv_report import HEADER, cell

from .helpers import HOSTILE_NAMES, compare, hostile_case, load, small_case

DANGEROUS = ("=", "+", "-", "@", "\t", "\r")


def parse(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


def render(result: AuditResult) -> str:
    return report_for("csv").render(result, ReportContext())


def test_header_and_crlf_line_ends() -> None:
    text = render(small_case())
    assert text.startswith(",".join(HEADER) + "\r\n")
    assert text.endswith("\r\n")
    assert "\n" not in text.replace("\r\n", "")


def test_one_row_per_item_in_a_fixed_order() -> None:
    result = small_case()
    rows = parse(render(result))
    kinds = [r["kind"] for r in rows]
    assert kinds == ["missing"] * 11 + ["partial"] * 3 + ["extra", "over-broad", "finding"]
    missing = [r for r in rows if r["kind"] == "missing"]
    assert [r["network"] for r in missing] == list(result.missing.cidrs_text())
    assert missing[7]["origin"] == "more-nodes.txt:1; nodes.txt:2"
    assert missing[-1]["addresses"] == str(2**80)
    partial = rows[11]
    assert (partial["network"], partial["covered_addresses"], partial["percent"]) == (
        "192.0.2.0/24",
        "1",
        "0.39",
    )
    finding = rows[-1]
    assert (finding["severity"], finding["finding"]) == ("warning", "host-bits")


def test_no_extra_rows_without_a_scope() -> None:
    result = compare(
        [load("nodes.txt", "expected", "192.0.2.0/24\n")],
        [load("allow.yaml", "declared", "mail: ['198.51.100.0/24']\n", "yaml")],
    )
    assert {r["kind"] for r in parse(render(result))} == {"missing"}


@pytest.mark.parametrize(
    ("raw", "safe"),
    [
        ("-all", "'-all"),
        ("+ip4:192.0.2.1", "'+ip4:192.0.2.1"),
        (
            '=HYPERLINK("http://evil.example/","click")',
            '\'=HYPERLINK("http://evil.example/","click")',
        ),
        ("@SUM(1+1)", "'@SUM(1+1)"),
        ("\t=1+1", "\\t=1+1"),
        ("\r=1+1", "\\r=1+1"),
        ("v=spf1 -all", "v=spf1 -all"),
        ("192.0.2.0/24", "192.0.2.0/24"),
        ("", ""),
    ],
)
def test_cell_neutralises_formula_starts(raw: str, safe: str) -> None:
    assert cell(raw) == safe


def test_hostile_origins_cannot_start_a_formula() -> None:
    text = render(hostile_case())
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows[0] == list(HEADER)
    for row in rows:
        assert len(row) == len(HEADER)
        for value in row:
            assert not value.startswith(DANGEROUS), value
            assert value.isprintable(), value
    origins = [r[HEADER.index("origin")] for r in rows[1:]]
    # SPF terms and spreadsheet formulas used as source names, as they come out.
    assert "'-all:2" in origins
    assert "'+ip4:192.0.2.1:2" in origins
    assert '\'=HYPERLINK("http://evil.example/","click"):2' in origins
    assert "'@SUM(1+1):2" in origins
    assert "two\\nlines.txt:2" in origins
    assert len(HOSTILE_NAMES) == sum(r[0] == "finding" for r in rows[1:])


def test_every_record_is_one_line() -> None:
    text = render(hostile_case())
    lines = text.split("\r\n")
    assert lines[-1] == ""
    assert len(lines) - 1 == len(parse(text)) + 1


_v4 = st.builds(
    lambda v, p: f"{(v >> 24) & 255}.{(v >> 16) & 255}.{(v >> 8) & 255}.{v & 255}/32",
    st.integers(0, 2**32 - 1),
    st.just(32),
)


@settings(max_examples=50, deadline=None)
@given(expected=st.lists(_v4, min_size=1, max_size=40), declared=st.lists(_v4, min_size=1))
def test_round_trip_missing(expected: list[str], declared: list[str]) -> None:
    result = compare(
        [load("e.txt", "expected", "\n".join(expected) + "\n")],
        [load("d.txt", "declared", "\n".join(declared) + "\n")],
    )
    rows = parse(render(result))
    got = [r["network"] for r in rows if r["kind"] == "missing"]
    assert got == list(result.missing.cidrs_text())
