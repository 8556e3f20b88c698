"""Reading local files: what is not a regular file, text encodings, and formats that are
recognised but not read."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

EXPECTED = "192.0.2.0/24\n198.51.100.0/24\n"
ALL = "198.51.100.0/24\n192.0.2.0/24\n"


def auditor(*args: str, cwd: Path, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """``python -m auditor ARGS`` in a real process (a FIFO can block it, the test must not)."""
    return subprocess.run(
        [sys.executable, "-m", "auditor", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
        check=False,
    )


# --- what is not a regular file ----------------------------------------------------------------


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes on this system")
@pytest.mark.parametrize("side", ["-d", "-e"])
def test_a_fifo_is_refused_instead_of_blocking(tmp_path: Path, side: str) -> None:
    (tmp_path / "exp.txt").write_text(EXPECTED)
    (tmp_path / "all.txt").write_text(ALL)
    os.mkfifo(tmp_path / "pipe")  # nobody ever writes to it: opening it to read would block
    other = "-e" if side == "-d" else "-d"
    files = {"-d": "all.txt", "-e": "exp.txt"}
    proc = auditor("diff", "-o", "cidr", side, "pipe", other, files[other], cwd=tmp_path)
    assert proc.returncode == 2
    assert "pipe: is a named pipe (FIFO), not a regular file" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes on this system")
def test_a_fifo_given_to_a_provider_is_refused(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")
    (tmp_path / "all.txt").write_text(ALL)
    proc = auditor("diff", "-e", "azure:from=pipe", "-d", "all.txt", cwd=tmp_path)
    assert proc.returncode == 2
    assert "named pipe" in proc.stderr


def test_a_device_is_refused(tmp_path: Path) -> None:
    (tmp_path / "exp.txt").write_text(EXPECTED)
    proc = auditor("diff", "-e", "exp.txt", "-d", "/dev/zero", cwd=tmp_path)
    assert proc.returncode == 2
    assert "/dev/zero: is a device, not a regular file" in proc.stderr


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash for <(...)")
def test_process_substitution_and_dev_stdin_are_still_read(tmp_path: Path) -> None:
    (tmp_path / "exp.txt").write_text(EXPECTED)
    (tmp_path / "all.txt").write_text(ALL)
    cmd = f"{sys.executable} -m auditor diff -o cidr -e <(cat exp.txt) -d /dev/stdin < all.txt"
    proc = subprocess.run(
        ["bash", "-c", cmd], capture_output=True, text=True, cwd=tmp_path, timeout=60, check=False
    )
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")
