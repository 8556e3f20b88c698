"""The text report: plain and stable for pipes and mail, rich tables on a terminal."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from auditor.model import AuditResult
from auditor.reports import ReportContext, report_for
from auditor.reports.text import MAX_TERMINAL_ROWS, abbreviate

from .helpers import (
    ALLOW,
    HOSTILE_NAMES,
    MORE_NODES,
    NODES,
    ROOT,
    RULES,
    UNVERIFIED,
    UNVERIFIED_CIDRS,
    compare,
    failed_declared_case,
    hostile_case,
    load,
    small_case,
)

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


def test_plain_text_says_missing_is_unverified_when_a_declared_source_failed() -> None:
    text = plain(failed_declared_case())
    lines = text.split("\n")
    assert f"  - {UNVERIFIED_CIDRS} {UNVERIFIED}" in lines
    assert f"{UNVERIFIED}: {UNVERIFIED_CIDRS}" in lines
    assert "  IPv4    unverified     10        321" in lines
    assert not any(line.startswith("missing") for line in lines)
    assert not any("missing" in line for line in lines[: lines.index("inputs")])
    assert "192.0.2.128/25" in text


def test_rich_says_missing_is_unverified_when_a_declared_source_failed() -> None:
    visible = _ANSI.sub("", rich(failed_declared_case()))
    assert f"{UNVERIFIED}: {UNVERIFIED_CIDRS}" in visible
    assert "\nmissing:" not in visible


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


LONG_EXPECTED = "/srv/provider-feeds/mail/2024/nodes-primary-datacenter.txt"
LONG_DECLARED = "/etc/firewall/exports/host-a.example.org/allow.yaml"


def _cut(name: str, width: int) -> str:
    """How the terminal report shows a source name in an origin at this width."""
    return abbreviate(name, max(16, width // 3))


def long_names_case() -> AuditResult:
    """Long paths, a partial source with a reason, findings: what squeezed an 80-column
    terminal into two-character columns."""
    return compare(
        [load(LONG_EXPECTED, "expected", NODES), load("more-nodes.txt", "expected", MORE_NODES)],
        [
            load(LONG_DECLARED, "declared", ALLOW, "yaml"),
            load("allow.txt", "declared", "192.0.2.0/24\nnot-an-address\n"),
        ],
        scope=("mail",),
    )


def _table(visible: str, title: str) -> list[str]:
    """One rich table: its header line, then its rows up to the next section."""
    lines = visible.split("\n")
    start = next(i for i, line in enumerate(lines) if line.startswith(title))
    rule = next(i for i in range(start, len(lines)) if lines[i].startswith("─"))
    end = next((i for i in range(rule + 1, len(lines)) if not lines[i].startswith(" ")), None)
    return [lines[rule - 1], *lines[rule + 1 : end]]


def _columns(table: list[str], headers: list[str]) -> dict[str, str]:
    """The text of each left-aligned column of a rich table, its lines joined by spaces."""
    starts = [table[0].index(h) for h in headers]
    out = {}
    for i, h in enumerate(headers):
        end = starts[i + 1] if i + 1 < len(headers) else None
        cells = [line[starts[i] : end].strip() for line in table[1:]]
        out[h] = " ".join(c for c in cells if c)
    return out


@pytest.mark.parametrize("width", [60, 80, 120])
def test_rich_fits_the_terminal_and_keeps_every_column(width: int) -> None:
    result = long_names_case()
    visible = _ANSI.sub("", rich(result, width=width))
    before_rules = visible[: visible.index("rules: iptables")]
    for line in before_rules.split("\n"):
        assert len(line) <= width, (width, line)

    inputs = _table(visible, "inputs")
    header = inputs[0].split()
    assert header == ["role", "source", "completeness", "entries"]
    text = "\n".join(inputs)
    cols = _columns(inputs, header)
    words = cols["source"] + " " + cols["entries"]
    for rs in result.sources:
        info = rs.info
        # a name is one unbroken line, cut from the left when it is too long
        name = info.name
        shown = re.search(r"(?:^| )(…?[^ …]*?" + re.escape(name[-8:]) + r")(?: |$)", text, re.M)
        assert shown is not None, (width, name)
        assert shown.group(1) == name or (
            shown.group(1).startswith("…") and name.endswith(shown.group(1)[1:])
        )
        assert info.role in text and info.format in text
        assert f"{info.size_bytes} bytes" in words
        assert info.read_at in words
        assert info.sha256 is not None and info.sha256[:12] in text
        for fam in (4, 6):
            assert f"{rs.entries.count(fam)} IPv{fam}" in words
    assert cols["role"].split() == ["expected", "expected", "declared", "declared"]
    assert cols["completeness"].count("complete") == 3
    assert "partial: 1 line(s) could not be read" in cols["completeness"]
    # names are cut where they are too long, and only then
    assert (LONG_EXPECTED in text) == (width >= 120)
    if width < 120:
        assert "…" in text

    # the other tables keep their content too, and an origin is never folded into strips
    missing = _table(visible, "missing")
    origins = " ".join(line[missing[0].index("origins") :].strip() for line in missing[1:])
    assert origins.split() == [_cut(LONG_EXPECTED, width) + f":{n}" for n in (4, 5, 6)], width
    for cidr in result.missing.cidrs_text():
        assert cidr in visible
    findings = _columns(_table(visible, "findings"), ["finding", "origin", "message"])
    assert findings["finding"].split() == ["warning", "host-bits", "error", "bad-entry"]
    assert findings["origin"].startswith(_cut(LONG_DECLARED, width) + ":10 (other[3])")
    assert "has host bits set; read as 100.64.0.0/24 'not' is not" in findings["message"]


def test_names_are_cut_from_the_left() -> None:
    assert abbreviate("/etc/firewall/exports/host-a/fw.rules", 80) == (
        "/etc/firewall/exports/host-a/fw.rules"
    )
    assert abbreviate("/etc/firewall/exports/host-a/fw.rules", 20) == "…/host-a/fw.rules"
    assert abbreviate("/etc/firewall/exports/host-a/fw.rules", 12) == "…/fw.rules"
    assert abbreviate("a-very-long-file-name.rules", 12) == "…-name.rules"
    assert abbreviate("/一二三四五六七八/九十.txt", 12) == "…/九十.txt"


def test_piped_output_is_plain_text_with_whole_names(tmp_path: Path) -> None:
    """No terminal: the stable plain form, whatever COLUMNS says, with every name whole."""
    deep = tmp_path / "provider-feeds" / "mail" / "2024" / "nodes-primary-datacenter.txt"
    deep.parent.mkdir(parents=True)
    deep.write_text(NODES)
    allow = tmp_path / "firewall" / "exports" / "host-a.example.org" / "allow.yaml"
    allow.parent.mkdir(parents=True)
    allow.write_text(ALLOW)
    env = {**os.environ, "COLUMNS": "80", "PYTHONPATH": str(ROOT)}
    env.pop("NO_COLOR", None)
    run = subprocess.run(
        [sys.executable, "-m", "auditor", "diff", "-e", str(deep), "-d", str(allow)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        cwd=tmp_path,
    )
    assert run.returncode == 1, run.stderr
    assert "\x1b" not in run.stdout and "…" not in run.stdout
    assert f"\n  expected {deep}\n    format: text\n" in run.stdout
    assert f"\n  declared {allow}\n    format: yaml\n" in run.stdout
