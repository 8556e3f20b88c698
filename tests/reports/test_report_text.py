"""The text report: plain and stable for pipes and mail, rich tables on a terminal."""

from __future__ import annotations

import re
import time

import pytest

from auditor.model import AuditResult
from auditor.reports import ReportContext, report_for
from auditor.reports.text import MAX_TERMINAL_ROWS

from .helpers import HOSTILE_NAMES, RULES, compare, hostile_case, load, small_case

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
OUR_LINE_STARTS = (
    "  ",
    "allowlist-auditor",
    "verdict",
    "service",
    "inputs",
    "summary",
    "missing",
    "partial",
    "over-broad",
    "findings",
)


def plain(result: AuditResult, rules: tuple[tuple[str, str], ...] = ()) -> str:
    return report_for("text").render(result, ReportContext(rules=rules))


def rich(result: AuditResult, width: int = 200) -> str:
    return report_for("text").render(result, ReportContext(rules=RULES, color=True, width=width))


def many_missing(n: int) -> AuditResult:
    """n expected /32s, none adjacent, so that n minimal CIDRs are missing."""
    lines = [f"10.{(v >> 16) & 255}.{(v >> 8) & 255}.{v & 255}" for v in range(0, 2 * n, 2)]
    return compare(
        [load("big.txt", "expected", "\n".join(lines) + "\n")],
        [load("allow.txt", "declared", "192.0.2.0/24\n")],
    )


def test_plain_text_is_stable_text() -> None:
    text = plain(small_case(), RULES)
    assert "\x1b" not in text
    assert text.endswith("\n") and not text.endswith("\n\n")
    for line in text.split("\n"):
        assert line == line.rstrip(), repr(line)
        assert line.isprintable(), repr(line)


def test_plain_text_sections() -> None:
    text = plain(small_case(), RULES)
    assert text.startswith("allowlist-auditor report\n\nverdict: drift (exit 1)\n")
    for heading in (
        "\ninputs\n",
        "\nsummary\n",
        "\nmissing: 11 CIDRs (IPv4: 10 CIDRs, 321 addresses; IPv6: 1 CIDR, 2^80 addresses)\n",
        "\npartial: 3 entries\n",
        "\nextra in scope mail: 1 IPv4 CIDR (256 addresses)\n",
        "\nover-broad: 1\n",
        "\nfindings: 1\n",
        "\nrules: iptables\n-A INPUT -s 192.0.2.0/26",
    ):
        assert heading in text
    assert "  192.0.2.128/25          128  more-nodes.txt:1, nodes.txt:2\n" in text
    assert "  203.0.113.0/25         64        128   50.00%  nodes.txt:4\n" in text


def test_plain_text_lists_every_missing_cidr() -> None:
    result = small_case()
    text = plain(result)
    section = text.split("\nmissing: ")[1].split("\n\n")[0].split("\n")[2:]
    assert [line.split()[0] for line in section] == list(result.missing.cidrs_text())


def test_hostile_names_cannot_forge_lines() -> None:
    text = plain(hostile_case())
    assert "\x1b" not in text and "\u202e" not in text and "\r" not in text
    for line in text.split("\n"):
        assert line.isprintable(), repr(line)
        # Every line is ours: a heading, an indented row or the banner.
        assert not line or line.startswith(OUR_LINE_STARTS), repr(line)
    assert "two\\nlines.txt:1" in text
    assert "\\x1b[31mred.txt:2" in text
    assert "rtl\\u202etxt.exe" in text


def test_rich_output_is_coloured_and_bounded() -> None:
    out = rich(small_case(), width=100)
    assert "\x1b[" in out
    visible = _ANSI.sub("", out)
    rules_at = visible.index("rules: iptables")
    for line in visible[:rules_at].split("\n"):
        assert len(line) <= 100, line
    assert "2001:db8:10::/48" in visible
    assert "-A INPUT -s 192.0.2.0/26 -p tcp -m tcp --dport 25 -j ACCEPT" in visible


def test_rich_output_escapes_hostile_names() -> None:
    out = rich(hostile_case())
    visible = _ANSI.sub("", out)
    # The only escape sequences are rich's own colours, never the one in a file name.
    assert "\x1b[31mred" not in out
    assert "\\x1b[31mred.txt" in visible
    assert "\u202e" not in out
    # Names that look like rich markup are shown, not interpreted.
    assert "[bold red]rich markup[/]" in visible
    assert "[link](http://evil.example/) *bold* @admin" in visible
    assert len(HOSTILE_NAMES) == visible.count("no address in '-all'")


def test_rich_tables_are_capped_on_a_terminal() -> None:
    n = MAX_TERMINAL_ROWS + 150
    result = many_missing(n)
    visible = _ANSI.sub("", rich(result))
    shown = re.findall(r"^ *(10\.0\.[0-9.]+/32) ", visible, re.MULTILINE)
    assert len(shown) == MAX_TERMINAL_ROWS
    assert "... 150 more, use --output cidr (or json, csv) for the full list" in visible
    assert f"missing: {n} IPv4 CIDRs ({n} addresses)" in visible


def test_rich_never_wraps_rules() -> None:
    line = "-A INPUT -s 192.0.2.0/26 -p tcp -m multiport --dports 25,465,587 -m comment " + "x" * 60
    ctx = ReportContext(rules=(("iptables", line + "\n" + line + "\n"),), color=True, width=40)
    visible = _ANSI.sub("", report_for("text").render(small_case(), ctx))
    assert visible.endswith(f"\n{line}\n{line}\n")


def test_rich_and_plain_agree_on_the_verdict() -> None:
    result = small_case()
    assert "verdict: drift (exit 1)" in _ANSI.sub("", rich(result))
    assert "verdict: drift (exit 1)" in plain(result)


@pytest.mark.timeout(120)
def test_100k_missing_cidrs() -> None:
    n = 100_000
    result = many_missing(n)
    started = time.perf_counter()
    text = plain(result)
    elapsed = time.perf_counter() - started
    lines = text.split("\n")
    rows = [line for line in lines if line.startswith("  10.")]
    assert len(rows) == n
    assert rows[0].split()[0] == "10.0.0.0/32" and rows[-1].split()[0] == "10.3.13.62/32"
    # Generous: it takes about a second; a quadratic layout would take minutes.
    assert elapsed < 30, elapsed
    capped = rich(result)
    assert len(capped) < 40_000
    assert f"... {n - MAX_TERMINAL_ROWS} more" in capped
