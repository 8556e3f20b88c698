"""Postfix rules: applied for real with postconf to a main.cf, to a cidr table checked with
postmap -q, read back by the readers (diff exits 0), rolled back, and pruned."""

from __future__ import annotations

import ipaddress
import shlex
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditor.errors import UsageError
from auditor.rules import RuleOptions, generator_for
from auditor.service import Service

from .helpers import HOSTILE_SOURCES, small_blocks
from .mail_helpers import EXPECTED, calls, diff, require, run_script, stand_in

MISSING = ["192.0.2.0/24", "198.51.100.7/32", "2001:db8:1::/48"]


@pytest.fixture
def expected(tmp_path: Path) -> Path:
    path = tmp_path / "expected.txt"
    path.write_text(EXPECTED)
    return path


def _mynetworks(conf: Path) -> str:
    out = subprocess.run(
        ["postconf", "-c", str(conf), "-h", "mynetworks"], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_mynetworks_apply_idempotent_rollback(tmp_path: Path, expected: Path) -> None:
    require("postconf")
    conf = tmp_path / "conf"
    conf.mkdir()
    main = conf / "main.cf"
    before = "mynetworks = !192.0.2.128/25, 127.0.0.0/8 [::1]/128\n"
    main.write_text(before)
    out = tmp_path / "out"
    assert (
        diff("-e", str(expected), "-d", str(main), "--rules", "auto", "--output-dir", str(out)) == 1
    )
    bin_dir = tmp_path / "bin"
    log = stand_in(bin_dir, "postfix")
    apply = out / "postfix-all-apply.sh"
    run_script(apply, bin_dir, MAIL_CONFIG=str(conf))
    # in front: the !192.0.2.128/25 would otherwise exclude half of 192.0.2.0/24
    assert _mynetworks(conf).split()[:3] == ["192.0.2.0/24", "198.51.100.7/32", "[2001:db8:1::]/48"]
    check = subprocess.run(["postconf", "-c", str(conf), "-n"], capture_output=True, text=True)
    assert check.returncode == 0 and "[2001:db8:1::]/48" in check.stdout, check.stderr
    assert calls(log) == [["reload"]]
    assert diff("-e", str(expected), "-d", str(main)) == 0
    run_script(apply, bin_dir, MAIL_CONFIG=str(conf))  # again: nothing to add, no reload
    assert _mynetworks(conf).count("192.0.2.0/24") == 1 and calls(log) == [["reload"]]
    run_script(out / "postfix-all-rollback.sh", bin_dir, MAIL_CONFIG=str(conf))
    assert (
        _mynetworks(conf).replace(",", "").split() == before.split("=")[1].replace(",", "").split()
    )
    assert diff("-e", str(expected), "-d", str(main)) == 1


def _lookup(table: Path, address: str) -> str:
    out = subprocess.run(
        ["postmap", "-q", address, f"cidr:{table}"], capture_output=True, text=True
    )
    assert out.returncode in (0, 1), out.stderr
    return out.stdout.strip()


def test_cidr_table_postmap_roundtrip_rollback_prune(tmp_path: Path, expected: Path) -> None:
    require("postmap")
    table = tmp_path / "client_access.cidr"
    before = "# partners\n192.0.0.0/16\tREJECT not here\n10.0.0.0/8\tOK\n198.51.100.0/24 DUNNO\n"
    table.write_text(before)
    out = tmp_path / "out"
    argv = ["-e", str(expected), "-d", str(table), "--rules", "auto", "--output-dir", str(out)]
    assert diff(*argv) == 1
    bin_dir = tmp_path / "bin"
    log = stand_in(bin_dir, "postfix")
    run_script(out / "postfix-all-apply.sh", bin_dir)
    for cidr in MISSING:
        net = ipaddress.ip_network(cidr)
        for address in (net[0], net[-1]):
            assert _lookup(table, str(address)) == "permit", (cidr, address)
    assert calls(log) == [["reload"]]
    assert diff("-e", str(expected), "-d", str(table)) == 0
    run_script(out / "postfix-all-rollback.sh", bin_dir)
    assert table.read_text() == before
    # prune: 10.0.0.0/8 is extra in the scope and goes; nothing else does
    pruned = tmp_path / "pruned"
    scope = ["--scope", str(table), "--fail-on-extra"]
    assert (
        diff(*argv[:4], *scope, "--rules", "postfix", "--prune", "--output-dir", str(pruned)) == 1
    )
    run_script(pruned / "postfix-all-prune.sh", bin_dir)
    assert "10.0.0.0/8" not in table.read_text()
    assert "198.51.100.0/24 DUNNO" in table.read_text()
    assert (tmp_path / "client_access.cidr.before-prune").read_text() == before
    assert _lookup(table, "10.1.2.3") == ""


def test_prune_takes_the_entries_the_table_holds_and_only_the_audited_table(
    tmp_path: Path, expected: Path
) -> None:
    """Two stale /25s are one extra /24 in the report: both lines go. A table changed after
    the audit is left alone: the script checks its SHA-256 first."""
    table = tmp_path / "client_access.cidr"
    before = "10.5.0.0/25 OK\n10.5.0.128/25 OK\n10.0.0.0/8 OK\n192.0.2.0/24 OK\n"
    table.write_text(before)
    (tmp_path / "exp.txt").write_text("192.0.2.0/24\n10.1.0.0/16\n")
    out = tmp_path / "out"
    argv = ["-e", str(tmp_path / "exp.txt"), "-d", str(table), "--scope", str(table)]
    assert diff(*argv, "--rules", "postfix", "--prune", "--output-dir", str(out)) == 0
    script = out / "postfix-all-prune.sh"
    assert "# kept: " in script.read_text() and "10.0.0.0/8 is only partly extra" in (
        script.read_text()
    )
    bin_dir = tmp_path / "bin"
    stand_in(bin_dir, "postfix")
    table.write_text(before + "# edited since\n")
    with pytest.raises(subprocess.CalledProcessError):
        run_script(script, bin_dir)
    assert table.read_text() == before + "# edited since\n"
    table.write_text(before)
    run_script(script, bin_dir)
    assert table.read_text() == "10.0.0.0/8 OK\n192.0.2.0/24 OK\n"


_names = st.one_of(st.text(max_size=40), st.sampled_from(HOSTILE_SOURCES))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=_names)
def test_hostile_table_names_are_refused_or_quoted(name: str) -> None:
    gen = generator_for("postfix")
    opts = RuleOptions(service=Service.parse("tcp/25"), scope=(name,), prune=tuple(small_blocks()))
    try:
        arts = gen.checked_artifacts(small_blocks(), opts)
    except UsageError:
        return
    for art in arts:
        lines = art.body.splitlines()
        assigned = [
            shlex.split(line[len("table=") :]) for line in lines if line.startswith("table=")
        ]
        assert assigned == [[name.removeprefix("cidr:")]]
        check = subprocess.run(["bash", "-n"], input=art.body, text=True, capture_output=True)
        assert check.returncode == 0, check.stderr
