"""A run of ``auditor check`` killed with SIGKILL at any point leaves the previous state and
outputs intact: each file is the previous one or a whole new one, never a torn one."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from auditor.check.state import StateDir

from .helpers import write_config

ROOT = Path(__file__).resolve().parents[2]


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


def _shape(line: bytes) -> bytes:
    return re.sub(rb"[0-9]+(?:\.[0-9]+)?", b"N", line)


def test_sigkill_at_random_points_leaves_whole_files(tmp_path: Path, https_server) -> None:
    path = write_config(tmp_path / "etc", https_server, audits=3)
    state = tmp_path / "state"
    state.mkdir()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "XDG_CACHE_HOME": str(tmp_path / "xdg")}
    argv = [sys.executable, "-m", "auditor", "check", str(path), "--state-dir", str(state)]
    assert subprocess.run(argv, env=env, capture_output=True, check=False).returncode == 1
    reports = tmp_path / "etc" / "reports"
    good_state = {name: StateDir(state).read(name) for name in ("mail0", "mail1", "mail2")}
    rng = random.Random(14)
    for _ in range(8):
        before = _files(reports)
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.2, 1.6))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        after = _files(reports)
        for name, data in after.items():
            if name.startswith("."):
                continue  # a temporary file the kill left: never read by anyone
            if data == before.get(name):
                continue
            if name.endswith(".json"):
                assert json.loads(data)["verdict"]["status"] == "drift"
            elif name.endswith(".cidr"):
                assert data == b"198.51.100.16/28\n2001:db8:1::/48\n"
            else:  # a whole report ends as the previous one did (its run's duration aside)
                assert _shape(data.splitlines()[-1]) == _shape(before[name].splitlines()[-1])
        for name, snap in good_state.items():
            now = StateDir(state).read(name)  # parses: whole
            assert now is not None and snap is not None
            assert now.missing.keys() == snap.missing.keys()
            assert now.expected == snap.expected
        for name in good_state:
            runs = StateDir(state).history(name)
            assert runs and all(r["exit_code"] == 1 for r in runs)
    # and a run after all that works, and says nothing changed
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 1, done.stderr
    assert done.stdout.count("no change since") == 3
