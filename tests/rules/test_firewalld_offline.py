"""firewalld for real: the generated scripts run with ``firewall-cmd`` handed to firewalld's
own ``firewall-offline-cmd`` on a configuration directory of the test's (``--system-config``),
which changes the zone file as firewalld would; the file is checked with ``--check-config`` and
read back with the tool's reader: the apply leaves nothing missing, the rollback brings the
zone back, the prune leaves only the partly extra entries."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from auditor.cli import app

ZONE = """<?xml version="1.0" encoding="utf-8"?>
<zone target="DROP">
  <short>Mail</short>
  <source address="192.0.2.0/25"/>
  <source address="10.9.0.0/24"/>
  <service name="smtp"/>
  <rule family="ipv4"><source address="198.51.100.0/28"/><reject/></rule>
  <rule family="ipv4"><source address="203.0.113.0/24"/><service name="smtp"/><accept/></rule>
  <rule family="ipv4"><source address="10.0.0.0/8"/><port port="25" protocol="tcp"/><accept/></rule>
</zone>
"""
EXPECTED = "192.0.2.0/24\n198.51.100.7\n2001:db8:1::/48\n10.1.0.0/16\n"
# firewall-cmd as the scripts call it, done by firewall-offline-cmd on the test's directory:
# --permanent is what offline changes anyway, and there is no daemon to --reload
WRAPPER = """#!{python}
import os, sys
args = [a for a in sys.argv[1:] if a != "--permanent"]
if args == ["--reload"]:
    sys.exit(0)
os.execv({offline!r}, [{offline!r}, "--system-config", os.environ["FIREWALLD_DIR"], *args])
"""


@pytest.fixture
def offline(tmp_path: Path) -> Path:
    program = shutil.which("firewall-offline-cmd")
    if program is None:
        pytest.skip("firewall-offline-cmd is not installed (Debian: apt-get install firewalld)")
    bindir = tmp_path / "bin"
    bindir.mkdir()
    wrapper = bindir / "firewall-cmd"
    wrapper.write_text(WRAPPER.format(python=sys.executable, offline=program))
    wrapper.chmod(0o755)
    return bindir


def _run(script: Path, bindir: Path, config: Path) -> None:
    env = {**os.environ, "PATH": f"{bindir}:{os.environ['PATH']}", "FIREWALLD_DIR": str(config)}
    done = subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    check = subprocess.run(
        [shutil.which("firewall-offline-cmd") or "", "--system-config", str(config),
         "--check-config"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert check.returncode == 0, check.stdout + check.stderr


def _audit(exp: Path, zone: Path, *more: str) -> tuple[int, dict[str, object]]:
    result = CliRunner().invoke(app, ["diff", "-e", str(exp), "-d", str(zone), *more, "-o", "json"])
    return result.exit_code, json.loads(result.stdout)


def test_apply_rollback_and_prune_with_firewalld_itself(tmp_path: Path, offline: Path) -> None:
    config = tmp_path / "firewalld"
    zone = config / "zones" / "mail.xml"
    zone.parent.mkdir(parents=True)
    zone.write_text(ZONE)
    exp = tmp_path / "expected.txt"
    exp.write_text(EXPECTED)
    code, before = _audit(exp, zone)
    assert code == 1
    missing_before = {b["cidr"] for b in before["missing"]}  # type: ignore[union-attr,index]
    assert {"192.0.2.128/25", "198.51.100.7/32"} <= missing_before
    out = tmp_path / "out"
    argv = ["diff", "-e", str(exp), "-d", str(zone), "--rules", "auto", "--output-dir", str(out)]
    CliRunner().invoke(app, argv)
    _run(out / "firewalld-all-apply.sh", offline, config)
    code, after = _audit(exp, zone)
    assert (code, after["missing"]) == (0, []), after["missing"]
    _run(out / "firewalld-all-rollback.sh", offline, config)
    code, back = _audit(exp, zone)
    assert {b["cidr"] for b in back["missing"]} == missing_before  # type: ignore[union-attr,index]
    # prune: the source 10.9.0.0/24 is wholly extra and goes; the rich rules stay (the zone
    # takes only its sources' traffic, so 203.0.113.0/24 was never let in through it)
    pruned = tmp_path / "pruned"
    argv = ["diff", "-e", str(exp), "-d", str(zone), "--scope", "mail", "--prune"]
    CliRunner().invoke(app, [*argv, "--rules", "firewalld", "--output-dir", str(pruned)])
    _run(pruned / "firewalld-all-prune.sh", offline, config)
    text = zone.read_text()
    assert "10.9.0.0/24" not in text
    assert "10.0.0.0/8" in text and "192.0.2.0/25" in text and "203.0.113.0/24" in text
    code, left = _audit(exp, zone, "--scope", "mail")
    assert left["extra"] == [], left["extra"]
    assert {b["cidr"] for b in left["missing"]} == missing_before  # type: ignore[union-attr,index]
