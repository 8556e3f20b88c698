"""``auditor diff --output nagios`` and ``--prometheus FILE`` through the real command line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import RunCli, WriteFile
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parents[1]

NODES = "192.0.2.0/24\n198.51.100.0/24\n"
SCOPED = "mail:\n  - 192.0.2.0/24\n  - 198.51.100.0/24\n  - 203.0.113.0/24\n"
PARTIAL_FW = (
    "*filter\n:INPUT DROP [0:0]\n-A INPUT -s 192.0.2.0/24 -j ACCEPT\n"
    "-A INPUT -m set --match-set relays src -j ACCEPT\nCOMMIT\n"
)


@pytest.fixture(autouse=True)
def inputs(write: WriteFile) -> None:
    write("nodes.txt", NODES)
    write("all.txt", NODES)
    write("some.txt", "192.0.2.0/24\n")
    write("allow.yaml", SCOPED)
    write("fw.rules", PARTIAL_FW)


def samples(path: Path) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = path.read_text(encoding="utf-8")
    assert text.endswith("\n")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


@pytest.mark.parametrize(
    ("args", "code", "state"),
    [
        (["-d", "all.txt"], 0, "OK"),
        (["-d", "some.txt"], 2, "CRITICAL"),
        (["-d", "allow.yaml", "--scope", "mail"], 1, "WARNING"),
        (["-d", "allow.yaml", "--scope", "mail", "--fail-on-extra"], 1, "WARNING"),
        (["-d", "fw.rules"], 3, "UNKNOWN"),
        (["-d", "absent.txt"], 3, "UNKNOWN"),
    ],
)
def test_diff_output_nagios_exit_codes(
    run_cli: RunCli, args: list[str], code: int, state: str
) -> None:
    got, out, _ = run_cli("diff", "-e", "nodes.txt", *args, "-o", "nagios")
    assert got == code
    head, *details = out.splitlines()
    assert head.startswith(f"AUDITOR {state} - ")
    assert " | 'missing_cidrs'=" in head
    assert details and details[0].startswith(f"diff: {state} - ")


def test_an_error_before_the_comparison_is_unknown(run_cli: RunCli) -> None:
    code, out, err = run_cli("diff", "-e", "aws:bogus=1", "-d", "all.txt", "-o", "nagios")
    assert code == 3
    assert out.startswith("AUDITOR UNKNOWN - audit diff failed | ")
    assert "aws has no filter 'bogus'" in out.splitlines()[1]
    assert "error: aws:bogus=1: aws has no filter 'bogus'" in err


def test_quiet_nagios_prints_nothing_and_keeps_the_code(run_cli: RunCli) -> None:
    assert run_cli("diff", "-e", "nodes.txt", "-d", "some.txt", "-o", "nagios", "-q")[:2] == (
        2,
        "",
    )


@pytest.mark.parametrize(("declared", "code"), [("all.txt", 0), ("some.txt", 2), ("fw.rules", 3)])
def test_the_plain_command_line_gives_the_same_codes(
    tmp_path: Path, declared: str, code: int
) -> None:
    """``diff -e X -d Y -o nagios`` is the plain form read without Typer."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    args = ["-e", "nodes.txt", "-d", declared, "-o", "nagios"]
    proc = subprocess.run(
        [sys.executable, "-m", "auditor", "diff", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == code, proc.stderr
    assert proc.stdout.startswith("AUDITOR ")


def test_prometheus_textfile_of_one_diff(run_cli: RunCli, tmp_path: Path) -> None:
    prom = tmp_path / "textfile" / "auditor.prom"
    prom.parent.mkdir()
    args = ("-e", "nodes.txt", "-d", "some.txt", "--prometheus", str(prom))
    code, out, _ = run_cli("diff", *args, "--audit-name", "mail relay", "-o", "json")
    assert code == 1 and out.startswith("{")  # the report as usual
    got = samples(prom)
    audit = (("audit", "mail relay"),)
    assert got[("auditor_audit_exit_code", audit)] == 1
    assert got[("auditor_audit_complete", audit)] == 1
    assert got[("auditor_missing_cidrs", audit)] == 1
    assert got[("auditor_missing_addresses", (*audit, ("family", "ipv4")))] == 256
    source = (*audit, ("role", "declared"), ("source", "some.txt"))
    assert got[("auditor_source_complete", source)] == 1
    assert os.listdir(prom.parent) == ["auditor.prom"]
    # the default audit label is diff
    assert run_cli("diff", "-e", "nodes.txt", "-d", "all.txt", "--prometheus", str(prom))[0] == 0
    assert samples(prom)[("auditor_audit_exit_code", (("audit", "diff"),))] == 0


def test_a_failed_run_still_writes_the_textfile(run_cli: RunCli, tmp_path: Path) -> None:
    """Unlike --output-file, the textfile says the run failed: complete 0, exit code 2."""
    prom, report = tmp_path / "auditor.prom", tmp_path / "report.json"
    report.write_text("good\n", encoding="utf-8")
    args = ("-e", "nodes.txt", "-d", "fw.rules", "--prometheus", str(prom), "-o", "json")
    code, _, err = run_cli("diff", *args, "--output-file", str(report))
    assert code == 2
    assert report.read_text(encoding="utf-8") == "good\n"
    got = samples(prom)
    assert got[("auditor_audit_complete", (("audit", "diff"),))] == 0
    assert got[("auditor_audit_exit_code", (("audit", "diff"),))] == 2
    source = (("audit", "diff"), ("role", "declared"), ("source", "fw.rules"))
    assert got[("auditor_source_complete", source)] == 0
    # an error before the comparison: still a textfile, and the error ends the run as usual
    code, _, err = run_cli("diff", "-e", "aws:bogus=1", "-d", "all.txt", "--prometheus", str(prom))
    assert code == 2 and "aws has no filter 'bogus'" in err
    assert samples(prom) == {
        ("auditor_audit_exit_code", (("audit", "diff"),)): 2,
        ("auditor_audit_complete", (("audit", "diff"),)): 0,
        ("auditor_audit_duration_seconds", (("audit", "diff"),)): pytest.approx(0, abs=60),
        ("auditor_last_run_timestamp_seconds", ()): pytest.approx(0, abs=1e10),
    }


def test_an_unwritable_textfile_is_trouble(run_cli: RunCli, tmp_path: Path) -> None:
    prom = tmp_path / "no-such-dir" / "auditor.prom"
    code, _, err = run_cli("diff", "-e", "nodes.txt", "-d", "all.txt", "--prometheus", str(prom))
    assert code == 2
    assert "cannot write the textfile" in err and "no-such-dir" in err


def test_an_empty_audit_name_is_refused(run_cli: RunCli) -> None:
    code, _, err = run_cli(
        "diff", "-e", "nodes.txt", "-d", "all.txt", "-o", "nagios", "--audit-name", ""
    )
    assert code == 2 and "--audit-name" in err
