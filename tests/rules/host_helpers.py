"""For the host firewall generators' tests (ipset, ufw, firewalld): stand-in programs that
record their argv, running a generated script, and the real ufw in a namespace of its own."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from .helpers import Netns

STANDIN = """#!{python}
import json, os, sys
with open(os.environ["STANDIN_LOG"], "a", encoding="utf-8") as log:
    log.write(json.dumps([os.path.basename(sys.argv[0]), *sys.argv[1:]]) + "\\n")
"""


def run_with_standins(
    script: str, programs: Sequence[str], tmp: Path
) -> tuple[subprocess.CompletedProcess[str], list[list[str]]]:
    """Runs ``script`` with bash, stand-ins for ``programs`` first on PATH; returns the run and
    the argv of every call of a stand-in, in order."""
    bindir = tmp / "standin-bin"
    bindir.mkdir(exist_ok=True)
    for name in programs:
        path = bindir / name
        path.write_text(STANDIN.format(python=sys.executable))
        path.chmod(0o755)
    log = tmp / "standin.log"
    log.write_text("")
    file = tmp / "script.sh"
    file.write_text(script)
    env = {**os.environ, "PATH": f"{bindir}:{os.environ['PATH']}", "STANDIN_LOG": str(log)}
    done = subprocess.run(
        ["bash", str(file)], capture_output=True, text=True, env=env, timeout=60, check=False
    )
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    return done, calls


def bash_n(script: str, tmp: Path) -> None:
    file = tmp / "check.sh"
    file.write_text(script)
    done = subprocess.run(["bash", "-n", str(file)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


class Ufw:
    """The real ufw in a network namespace, with a private copy of /etc/ufw (a mount
    namespace of its own), so that nothing it does touches the host."""

    def __init__(self, ns: Netns, tmp: Path) -> None:
        if shutil.which("ufw") is None or shutil.which("unshare") is None:
            pytest.skip("ufw is not installed (Debian: apt-get install ufw)")
        self.ns = ns
        self.etc = tmp / "etc-ufw"
        shutil.copytree("/etc/ufw", self.etc, symlinks=True)

    def sh(self, script: str) -> subprocess.CompletedProcess[str]:
        inner = f"mount --bind {self.etc} /etc/ufw && exec ip netns exec {self.ns.name} bash -s"
        return subprocess.run(
            ["unshare", "-m", "--propagation", "private", "bash", "-c", inner],
            input=script,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
