"""Overlapping runs of ``auditor check``: the second waits up to --lock-wait, else exits 2
naming the holder; the lock goes with its holder, however it ends."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

from httpd import Reply

from auditor.check import lock

from .helpers import FEED_V1, write_config

ROOT = Path(__file__).resolve().parents[2]


def _env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "XDG_CACHE_HOME": str(tmp_path / "xdg")}


def _check(tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "auditor", "check", *args],
        env=_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_holder(path: Path, proc: subprocess.Popen[str]) -> None:
    for _ in range(300):
        if path.exists() and path.read_text().startswith(f"pid {proc.pid} "):
            return
        time.sleep(0.05)
    raise AssertionError("the first run never took the lock")


def test_a_second_run_exits_2_naming_the_holder_or_waits(tmp_path: Path, https_server):
    path = write_config(tmp_path / "etc", https_server)
    state = tmp_path / "state"
    state.mkdir()
    https_server.route("/feed.txt", Reply(body=FEED_V1, delay=3.0))
    first = _check(tmp_path, str(path), "--state-dir", str(state))
    _wait_for_holder(state / "lock", first)
    second = _check(tmp_path, str(path), "--state-dir", str(state))
    out, err = second.communicate(timeout=60)
    assert second.returncode == 2
    assert out == ""
    assert re.search(rf"another run holds the lock \(pid {first.pid} started \d{{4}}-", err), err
    third = _check(tmp_path, str(path), "--state-dir", str(state), "--lock-wait", "60")
    out1, err1 = first.communicate(timeout=60)
    out3, err3 = third.communicate(timeout=60)
    assert first.returncode == 1, err1
    assert third.returncode == 1, err3  # it waited, then ran
    assert out1.splitlines()[0] == "mail: drift: 2 missing CIDR(s), 1 extra (exit 1)"
    assert out1.splitlines()[1] == f"  first run: state kept in {state}"
    assert out3.splitlines()[1].startswith("  no change since ")  # after the first, not with it
    # the lock file names the last holder
    assert (state / "lock").read_text().startswith(f"pid {third.pid} started ")


def test_the_lock_is_next_to_the_config_without_a_state_dir(tmp_path: Path):
    config = tmp_path / "audits.yaml"
    assert lock.lock_path(config, None) == tmp_path / ".audits.yaml.lock"
    with lock.hold(lock.lock_path(config, None)):
        try:
            with lock.hold(lock.lock_path(config, None), wait=0.3):
                raise AssertionError("taken twice")
        except lock.LockHeld as e:
            assert f"pid {os.getpid()} started" in str(e)
            assert e.exit_code == 2
    with lock.hold(lock.lock_path(config, None)):  # released at the end of the block
        pass


def test_a_killed_holder_leaves_no_stale_lock(tmp_path: Path):
    path = tmp_path / "lock"
    code = (
        "import sys, time\nfrom pathlib import Path\nfrom auditor.check import lock\n"
        f"with lock.hold(Path({str(path)!r})):\n    print('held', flush=True)\n    time.sleep(60)\n"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", code], env=_env(tmp_path), stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None and holder.stdout.readline() == "held\n"
    try:
        with lock.hold(path):
            raise AssertionError("the lock was free")
    except lock.LockHeld as e:
        assert f"pid {holder.pid} " in str(e)
    holder.kill()
    holder.communicate()
    with lock.hold(path, wait=5):
        pass


def test_the_lock_covers_the_textfile(tmp_path: Path, https_server, run_cli, monkeypatch):
    """Every file the run writes, the textfile too, is written while it holds the lock: a
    run that took it later never has its textfile replaced by an older run's."""
    import fcntl

    path = write_config(tmp_path / "etc", https_server)
    state = tmp_path / "state"
    state.mkdir()
    prom = tmp_path / "mail.prom"
    held: dict[str, bool] = {}
    real = os.replace

    def replace(src: str, dst: str | os.PathLike[str]) -> None:
        fd = os.open(state / "lock", os.O_RDWR)
        try:  # another open file of the lock: it cannot take it while the run holds it
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            held[Path(dst).name] = False
        except BlockingIOError:
            held[Path(dst).name] = True
        finally:
            os.close(fd)
        real(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    code, _, err = run_cli("check", str(path), "--state-dir", str(state), "--prometheus", str(prom))
    assert code == 1, err
    assert {"mail.prom", "mail.state.json", "mail.json"} <= held.keys()
    assert all(held.values()), held
