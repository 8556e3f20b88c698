"""Shared by the tests of the mail and web generators: the CLI in-process, stand-in programs
that record their argv, and running a generated script with bash."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from auditor.cli import app

EXPECTED = "192.0.2.0/24\n198.51.100.7\n2001:db8:1::/48\n"


def diff(*argv: str) -> int:
    result = CliRunner().invoke(app, ["diff", *argv, "-o", "json"])
    assert result.exit_code in (0, 1, 2), result.output
    return result.exit_code


def stand_in(bin_dir: Path, name: str) -> Path:
    """An executable ``name`` in ``bin_dir`` that appends its argv as a JSON line to
    ``bin_dir/name.log`` and exits 0."""
    bin_dir.mkdir(exist_ok=True)
    log = bin_dir / f"{name}.log"
    path = bin_dir / name
    path.write_text(
        f"#!{sys.executable}\nimport json, sys\n"
        f"with open({str(log)!r}, 'a') as f:\n    f.write(json.dumps(sys.argv[1:]) + '\\n')\n"
    )
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return log


def calls(log: Path) -> list[list[str]]:
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines()]


def run_script(script: Path, bin_dir: Path, *args: str, **env: str) -> None:
    """Run a generated script with bash, the stand-ins first on PATH; bash -n first."""
    subprocess.run(["bash", "-n", str(script)], check=True)
    full = {**os.environ, **env, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    subprocess.run(["bash", str(script), *args], check=True, env=full)


def require(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (Debian: see .ci/run)")
    return path


def extras(*argv: str) -> list[str]:
    """The extra CIDRs ``auditor diff`` reports for the scope given in ``argv``."""
    result = CliRunner().invoke(app, ["diff", *argv, "-o", "json"])
    assert result.exit_code in (0, 1), result.output
    return [item["cidr"] for item in json.loads(result.output)["extra"] or []]
