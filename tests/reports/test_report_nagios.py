"""The Nagios / Icinga check line: the format of the Monitoring Plugins guidelines and the
plugin exit code of each case."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from auditor.model import AuditRun
from auditor.reports import nagios

from .monitoring import ALLOW_SCOPED, ALLOW_SOME, NODES, PARTIAL_FW, compare, failed, run_of

# Monitoring Plugins development guidelines, "Performance data":
# 'label'=value[UOM];[warn];[crit];[min];[max], space separated; a label holds neither ' nor
# =; value, min and max are [-0-9.]; UOM is none, s/ms/us, %, B/KB/MB/TB or c; warn and crit
# are ranges ([@][start:][end], ~ for minus infinity).
RANGE = r"@?(?:(?:-?[0-9.]+|~):)?(?:-?[0-9.]+)?"
PERF = (
    rf"'[^'=]+'=-?[0-9.]+(?:s|ms|us|%|B|KB|MB|TB|c)?;{RANGE};{RANGE};(?:-?[0-9.]+)?;(?:-?[0-9.]+)?"
)
STATUS_LINE = re.compile(
    rf"AUDITOR (?P<state>OK|WARNING|CRITICAL|UNKNOWN) - (?P<text>[^|\n]+) \| {PERF}(?: {PERF})*"
)


def check(runs: list[AuditRun]) -> tuple[str, str, int, dict[str, str], list[str]]:
    """(state, text, exit code, perfdata by label, long output lines), the format checked."""
    out, code = nagios.render(runs)
    assert out.endswith("\n")
    head, *details = out[:-1].split("\n")
    match = STATUS_LINE.fullmatch(head)
    assert match, head
    assert all("|" not in line for line in details)
    perf = dict(re.findall(r"'([^'=]+)'=(\S+)", head.split(" | ", 1)[1]))
    return match["state"], match["text"], code, perf, details


@pytest.fixture
def inputs(tmp_path: Path) -> Path:
    (tmp_path / "nodes.txt").write_text(NODES, encoding="utf-8")
    (tmp_path / "nodes4.txt").write_text("192.0.2.0/24\n198.51.100.0/24\n", encoding="utf-8")
    (tmp_path / "allow.txt").write_text(ALLOW_SOME, encoding="utf-8")
    (tmp_path / "all.txt").write_text(NODES, encoding="utf-8")
    (tmp_path / "allow.yaml").write_text(ALLOW_SCOPED, encoding="utf-8")
    (tmp_path / "broad.txt").write_text(NODES + "10.0.0.0/7\n", encoding="utf-8")
    (tmp_path / "fw.rules").write_text(PARTIAL_FW, encoding="utf-8")
    return tmp_path


def test_ok(inputs: Path) -> None:
    state, text, code, perf, details = check(
        [run_of("mail", compare(inputs, ["nodes.txt"], ["all.txt"]))]
    )
    assert (state, code) == ("OK", 0)
    assert text == "audit mail in sync, every source complete"
    assert perf["missing_cidrs"] == "0;;0;0;"
    assert details == ["mail: OK - in sync, every source complete"]


def test_missing_is_critical(inputs: Path) -> None:
    state, text, code, perf, details = check(
        [run_of("mail", compare(inputs, ["nodes.txt"], ["allow.txt"]))]
    )
    assert (state, code) == ("CRITICAL", 2)
    assert text == "audit mail missing 2 CIDRs"
    assert perf["missing_cidrs"] == "2;;0;0;"  # the range 0: critical above 0
    assert perf["missing_ipv4_addresses"] == "256;;;0;"
    assert perf["missing_ipv6_addresses"] == f"{2**80};;;0;"
    assert details == [
        "mail: CRITICAL - 2 missing CIDRs (IPv4: 1 CIDR, 256 addresses; IPv6: 1 CIDR, 2^80"
        " addresses)"
    ]


def test_extras_only_are_a_warning(inputs: Path) -> None:
    result = compare(inputs, ["nodes.txt"], ["allow.yaml"], scope=["mail"])
    state, text, code, perf, _ = check([run_of("mail", result)])
    assert (state, code) == ("WARNING", 1)
    assert text == "audit mail with 1 extra CIDR"
    assert perf["extra_cidrs"] == "1;0;;0;"


def test_over_broad_only_is_a_warning(inputs: Path) -> None:
    state, text, code, perf, _ = check(
        [run_of("mail", compare(inputs, ["nodes.txt"], ["broad.txt"]))]
    )
    assert (state, code) == ("WARNING", 1)
    assert text == "audit mail with 1 over-broad entry"
    assert perf["over_broad"] == "1;0;;0;"
    assert "extra_cidrs" not in perf  # no scope, no extra


def test_a_partial_source_is_unknown(inputs: Path) -> None:
    state, text, code, perf, details = check(
        [run_of("fw", compare(inputs, ["nodes4.txt"], ["fw.rules"]))]
    )
    assert (state, code) == ("UNKNOWN", 3)
    assert text == "audit fw incomplete"
    assert perf["incomplete_sources"] == "1;;;0;"
    assert "not verified" in details[0] and "fw.rules is partial" in details[0]


def test_a_failed_source_is_unknown(inputs: Path) -> None:
    state, _, code, _, details = check(
        [run_of("mail", compare(inputs, ["nodes.txt"], ["absent.txt"]))]
    )
    assert (state, code) == ("UNKNOWN", 3)
    assert "absent.txt is failed" in details[0]


def test_a_failed_audit_is_unknown() -> None:
    state, text, code, perf, details = check([failed("mail", "lock held by pid 42")])
    assert (state, code) == ("UNKNOWN", 3)
    assert text == "audit mail failed"
    assert perf["failed_audits"] == "1;;0;0;"
    assert details == ["mail: failed: lock held by pid 42"]


def test_no_audit_is_unknown() -> None:
    state, text, code, _, details = check([])
    assert (state, code, text, details) == ("UNKNOWN", 3, "no audits", [])


def test_several_audits_worst_first(inputs: Path) -> None:
    missing = run_of("b-missing", compare(inputs, ["nodes.txt"], ["allow.txt"]))
    scoped = compare(inputs, ["nodes.txt"], ["allow.yaml"], scope=["mail"])
    runs = [run_of("c-ok", compare(inputs, ["nodes.txt"], ["all.txt"])), missing]
    state, text, code, perf, details = check(runs)
    assert (state, code, text) == ("CRITICAL", 2, "1 of 2 audits missing 2 CIDRs")
    assert perf["b-missing_missing_cidrs"] == "2;;0;0;"
    assert [line.split(":")[0] for line in details] == ["b-missing", "c-ok"]
    # a missing address is not hidden by an audit that could not be read ...
    state, text, code, _, _ = check([*runs, failed("a-failed")])
    assert (state, code) == ("CRITICAL", 2)
    assert text == "1 of 3 audits missing 2 CIDRs, 1 of 3 audits failed or incomplete"
    # ... and an audit that could not be read is not hidden by extras
    state, text, code, _, _ = check([run_of("d", scoped), failed("a-failed")])
    assert (state, code) == ("UNKNOWN", 3)
    assert text == "1 of 2 audits failed or incomplete, 1 of 2 audits with 1 extra CIDR"


def test_hostile_names_keep_the_format(inputs: Path) -> None:
    result = compare(inputs, ["nodes.txt"], ["allow.txt"])
    names = ["a|b 'c'=d", "x\ny | 'z'", "plain"]
    runs = [run_of(name, result) for name in names]
    state, _, code, perf, details = check(runs)
    assert (state, code) == ("CRITICAL", 2)
    assert len(details) == 3  # a newline in a name does not make a line
    assert perf["a_b _c__d_missing_cidrs"] == "2;;0;0;"
    assert "x\\ny _ _z__missing_cidrs" in perf
    single, _ = nagios.render([run_of("a|b\n", result)])
    assert single.startswith("AUDITOR CRITICAL - audit a_b\\n missing 2 CIDRs | ")
