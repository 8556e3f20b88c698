"""The program leaves without the interpreter's teardown (``auditor.cli.main``): everything it
wrote must still be there, on a pipe, in a file, and when the reader went away."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ADDRESSES = 30_000
"""Lines of output: several times what a pipe buffers, so most of it is written at the end."""


def _auditor(*args: str, cwd: Path, stdout: int | None = subprocess.PIPE) -> tuple[int, str, str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "auditor", *args],
        stdout=stdout,
        stderr=subprocess.PIPE,
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"},
        text=True,
    )
    out, err = proc.communicate(timeout=120)
    return proc.returncode, out or "", err


def _lists(tmp_path: Path) -> list[str]:
    # every other address: none of them merges with the next into a shorter prefix
    missing = [f"10.{i >> 7 & 255}.{i >> 15 & 255}.{(i & 127) * 2}/32" for i in range(ADDRESSES)]
    (tmp_path / "expected.txt").write_text("\n".join(missing) + "\n")
    (tmp_path / "declared.txt").write_text("192.0.2.1\n")
    return missing


def test_a_long_report_on_a_pipe_arrives_whole(tmp_path: Path) -> None:
    missing = _lists(tmp_path)
    code, out, err = _auditor(
        "diff", "-e", "expected.txt", "-d", "declared.txt", "-o", "cidr", cwd=tmp_path
    )
    assert code == 1, err
    assert sorted(out.splitlines()) == sorted(missing)
    assert out.endswith("\n")


def test_a_report_file_is_written_whole_and_renamed(tmp_path: Path) -> None:
    missing = _lists(tmp_path)
    code, out, err = _auditor(
        "diff",
        "-e",
        "expected.txt",
        "-d",
        "declared.txt",
        "-o",
        "cidr",
        "--output-file",
        "missing.cidr",
        cwd=tmp_path,
    )
    assert code == 1, err
    assert out == ""
    assert sorted((tmp_path / "missing.cidr").read_text().splitlines()) == sorted(missing)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "declared.txt",
        "expected.txt",
        "missing.cidr",
    ]


def test_a_reader_that_goes_away_is_trouble_not_a_traceback(tmp_path: Path) -> None:
    _lists(tmp_path)
    read, write = os.pipe()
    os.close(read)  # nobody reads: the first write fails
    try:
        code, _, err = _auditor(
            "diff",
            "-e",
            "expected.txt",
            "-d",
            "declared.txt",
            "-o",
            "cidr",
            cwd=tmp_path,
            stdout=write,
        )
    finally:
        os.close(write)
    assert code == 2
    assert "Traceback" not in err and "Exception ignored" not in err


def test_errors_said_on_stderr_arrive(tmp_path: Path) -> None:
    (tmp_path / "declared.txt").write_text("192.0.2.1\n")
    code, out, err = _auditor("diff", "-e", "nowhere.txt", "-d", "declared.txt", cwd=tmp_path)
    assert code == 2
    assert "nowhere.txt" in err and err.endswith("\n")
