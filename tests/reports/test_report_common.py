"""What every report shares: registration, golden output, determinism, the verdict."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from auditor import audit
from auditor.errors import STATUS_CODES
from auditor.reports import REPORTS, ReportContext, report_for
from auditor.reports import view as report_view

from .helpers import (
    GOLDEN,
    META,
    ROOT,
    RULES,
    UNVERIFIED,
    UNVERIFIED_CIDRS,
    Case,
    compare,
    failed_declared_case,
    failed_expected_case,
    hostile_case,
    in_sync_case,
    load,
    partial_source_case,
    small_case,
)

FORMATS = {"text": "txt", "json": "json", "csv": "csv", "md": "md", "html": "html"}


def test_formats_are_registered() -> None:
    assert set(FORMATS) <= set(REPORTS)
    for name in FORMATS:
        assert report_for(name).name == name
        assert REPORTS[name].description


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_golden(name: str) -> None:
    """A small fixed case per format, byte for byte. AUDITOR_UPDATE_GOLDEN=1 rewrites them."""
    rendered = report_for(name).render(small_case(), ReportContext(rules=RULES, meta=META))
    path = GOLDEN / f"small.{FORMATS[name]}"
    if os.environ.get("AUDITOR_UPDATE_GOLDEN"):
        path.write_bytes(rendered.encode("utf-8"))
    assert rendered.encode("utf-8") == path.read_bytes()


@pytest.mark.parametrize("name", sorted(FORMATS))
@pytest.mark.parametrize(
    "case",
    [small_case, hostile_case, in_sync_case, partial_source_case, failed_declared_case],
)
def test_same_inputs_same_bytes(name: str, case: Case) -> None:
    report = report_for(name)
    ctx = ReportContext(rules=RULES, meta=META)
    first = report.render(case(), ctx)
    assert report.render(case(), ctx) == first


@pytest.mark.parametrize("seed", ["0", "12345"])
def test_same_bytes_whatever_the_hash_seed(seed: str) -> None:
    """Set and dict order must not leak into a report; string hashing varies per process."""
    script = (
        "import sys; sys.path.insert(0, 'tests');"
        " from reports.helpers import META, RULES, small_case;"
        "from auditor.reports import ReportContext, report_for;"
        "sys.stdout.buffer.write(b''.join(report_for(n).render(small_case(),"
        " ReportContext(rules=RULES, meta=META)).encode()"
        " for n in ('text', 'json', 'csv', 'md', 'html')))"
    )
    env = {**os.environ, "PYTHONHASHSEED": seed}
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, check=True
    ).stdout
    golden = b"".join((GOLDEN / f"small.{FORMATS[n]}").read_bytes() for n in FORMATS)
    assert out == golden


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_input_order_does_not_change_the_report(name: str) -> None:
    result = small_case()
    swapped = audit.compare(tuple(reversed(result.expected)), result.declared, result.options)
    report = report_for(name)
    assert report.render(swapped, ReportContext()) == report.render(result, ReportContext())


@pytest.mark.parametrize(
    ("case", "status", "code"),
    [
        (in_sync_case, "in-sync", 0),
        (small_case, "drift", 1),
        (partial_source_case, "incomplete", 2),
    ],
)
def test_verdict_follows_the_exit_code(case: Case, status: str, code: int) -> None:
    result = case()
    v = report_view.build(result, ReportContext())
    assert (v.verdict.status, v.verdict.exit_code) == (status, code)
    assert v.verdict.exit_code == int(STATUS_CODES[result.status])
    assert bool(v.verdict.reasons) == (code != 0)


def test_incomplete_verdict_names_the_source_and_its_reason() -> None:
    v = report_view.build(partial_source_case(), ReportContext())
    assert v.verdict.reasons[0] == (
        "declared source allow.txt is partial: 1 line(s) could not be read"
    )


def test_a_failed_declared_source_leaves_the_missing_unverified() -> None:
    """The unread source may allow what the others do not: not "missing", but not shown
    allowed, and the verdict says which source makes it unknown."""
    result = failed_declared_case()
    v = report_view.build(result, ReportContext())
    assert v.unverified == ("gone.txt",)
    assert (v.verdict.status, v.verdict.exit_code) == ("incomplete", 2)
    assert v.verdict.reasons[:2] == (
        "declared source gone.txt is failed: gone.txt: no such file",
        f"{UNVERIFIED_CIDRS} {UNVERIFIED}",
    )
    assert not any("missing" in r for r in v.verdict.reasons)
    assert len(v.missing) == 11


def test_a_failed_expected_source_leaves_the_missing_known() -> None:
    """What the sources that were read expect and nothing declared allows is missing."""
    v = report_view.build(failed_expected_case(), ReportContext())
    assert v.unverified == ()
    assert "11 missing CIDRs" in v.verdict.reasons[1]


def test_summary_counts_entries_cidrs_and_addresses() -> None:
    result = small_case()
    v = report_view.build(result, ReportContext())
    by_key = {s.key: s for s in v.summary}
    assert [s.key for s in v.summary] == ["ipv4", "ipv6", "total"]
    for fam, key in ((4, "ipv4"), (6, "ipv6"), (None, "total")):
        s = by_key[key]
        fams = (4, 6) if fam is None else (fam,)
        assert s.expected.count == sum(rs.entries.count(f) for rs in result.expected for f in fams)
        assert s.declared.count == sum(rs.entries.count(f) for rs in result.declared for f in fams)
        assert s.expected.addresses == result.expected_space.size(fam)
        assert s.declared.addresses == result.declared_space.size(fam)
        assert s.missing.count == result.missing.count_cidrs(fam)
        assert s.missing.addresses == result.missing.size(fam)
        assert result.extra is not None and s.extra is not None
        assert (s.extra.count, s.extra.addresses) == (
            result.extra.count_cidrs(fam),
            result.extra.size(fam),
        )
    assert by_key["ipv6"].missing.addresses == 2**80


def test_no_scope_means_no_extra() -> None:
    v = report_view.build(in_sync_case(), ReportContext())
    assert v.extra is None
    assert all(s.extra is None for s in v.summary)


def test_over_broad_is_not_repeated_among_findings() -> None:
    v = report_view.build(small_case(), ReportContext())
    assert [f.kind for f in v.over_broad] == ["over-broad"]
    assert "over-broad" not in {f.kind for f in v.findings}
    assert [f.kind for f in v.findings] == ["host-bits"]


@pytest.mark.parametrize(
    ("covered", "total", "text", "number"),
    [
        (1, 256, "0.39%", "0.39"),
        (64, 128, "50.00%", "50.00"),
        (2**128 - 1, 2**128, "99.99%", "99.99"),
        (1, 2**80, "<0.01%", "0.00"),
        (0, 4, "0.00%", "0.00"),
    ],
)
def test_percent_is_rounded_down(covered: int, total: int, text: str, number: str) -> None:
    assert report_view.percent_text(covered, total) == text
    assert report_view.percent_number(covered, total) == number


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("plain.txt", "plain.txt"),
        ("a\nb", "a\\nb"),
        ("a\r\nb", "a\\r\\nb"),
        ("\x1b[2J", "\\x1b[2J"),
        ("rtl\u202eexe", "rtl\\u202eexe"),
        ("line\u2028sep", "line\\u2028sep"),
        ("nul\x00", "nul\\x00"),
        ("caf\u00e9 \u4e2d", "caf\u00e9 \u4e2d"),
    ],
)
def test_clean_makes_control_characters_visible(raw: str, shown: str) -> None:
    assert report_view.clean(raw) == shown


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (0, "0"),
        (1, "1"),
        (2**32 - 1, "4294967295"),
        (2**32, "2^32"),
        (2**80, "2^80"),
        (2**80 + 1, "2^80 + 1"),
        (2**80 + 2**64, "2^80 + 2^64"),
        (2**80 + 2**64 + 5, "2^80 + 2^64 + ..."),
        (2**128, "2^128"),
    ],
)
def test_address_counts_for_people(n: int, text: str) -> None:
    assert report_view.address_count(n) == text


def mixed_case() -> audit.AuditResult:
    """Missing addresses in both families: one IPv4 /25, an IPv6 /48 and /64."""
    return compare(
        [load("nodes.txt", "expected", "192.0.2.0/24\n2001:db8:1::/48\n2001:db8:2::/64\n")],
        [load("allow.txt", "declared", "192.0.2.0/25\n")],
    )


@pytest.mark.parametrize("fmt", ["text", "rich", "md", "json"])
def test_address_counts_never_add_the_families(fmt: str) -> None:
    """A count of IPv4 plus IPv6 addresses means nothing: every count is per family."""
    result = mixed_case()
    ctx = ReportContext(color=fmt == "rich", width=200)
    out = report_for("text" if fmt == "rich" else fmt).render(result, ctx)
    v4, v6 = result.missing.size(4), result.missing.size(6)
    assert (v4, v6) == (128, 2**80 + 2**64)
    shown = out
    if fmt == "json":
        # summary.total keeps the sum that schema version 1 promised, and nothing else does
        doc = json.loads(out)
        assert doc["summary"]["total"]["missing"]["addresses"] == str(v4 + v6)
        del doc["summary"]["total"]
        shown = json.dumps(doc)
    assert str(v4 + v6) not in shown
    assert str(result.expected_space.size(4) + result.expected_space.size(6)) not in shown
    reason = "3 missing CIDRs (IPv4: 1 CIDR, 128 addresses; IPv6: 2 CIDRs, 2^80 + 2^64 addresses)"
    v = report_view.build(result, ctx)
    assert v.verdict.reasons == (reason,)
    if fmt == "json":
        doc = json.loads(out)
        assert doc["verdict"]["reasons"] == [reason]
        assert doc["summary"]["ipv4"]["missing"] == {"cidrs": 1, "addresses": "128"}
        assert doc["summary"]["ipv6"]["missing"] == {"cidrs": 2, "addresses": str(v6)}
    else:
        assert reason in out
        title = reason.replace(" missing", "")
        assert title in out  # the heading of the missing table


def test_one_family_is_named_in_the_count() -> None:
    result = compare(
        [load("nodes.txt", "expected", "2001:db8:1::/48\n")],
        [load("allow.txt", "declared", "192.0.2.0/25\n")],
    )
    reasons = report_view.build(result, ReportContext()).verdict.reasons
    assert reasons == ("1 missing IPv6 CIDR (2^80 addresses)",)
