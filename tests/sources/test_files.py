"""Reading local files: what is not a regular file, text encodings, and formats that are
recognised but not read."""

from __future__ import annotations

import codecs
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from auditor.allowlists import ReadContext
from auditor.errors import InputError
from auditor.ipspace import IPSpace
from auditor.model import RangeSet, Severity
from auditor.sources import files

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


# --- text encodings ----------------------------------------------------------------------------

EXCHANGE = Path(__file__).parent.parent / "fixtures" / "mailserver" / "exchange" / "connectors.txt"


def _load(path: Path, fmt: str | None = None) -> RangeSet:
    return files.load(str(path), ReadContext(path.name, "declared"), fmt=fmt)


@pytest.mark.parametrize(
    ("codec", "bom", "label"),
    [
        pytest.param("utf-16-le", codecs.BOM_UTF16_LE, "UTF-16 LE", id="le-bom"),
        pytest.param("utf-16-be", codecs.BOM_UTF16_BE, "UTF-16 BE", id="be-bom"),
        pytest.param("utf-16-le", b"", "UTF-16 LE", id="le-no-bom"),
        pytest.param("utf-16-be", b"", "UTF-16 BE", id="be-no-bom"),
    ],
)
def test_utf16_text_lists_are_decoded_and_said_so(
    tmp_path: Path, codec: str, bom: bytes, label: str
) -> None:
    path = tmp_path / "list.txt"
    path.write_bytes(bom + "# relays\r\n192.0.2.0/24\r\n2001:db8::1\r\n".encode(codec))
    rs = _load(path)
    assert rs.space == IPSpace.from_text(["192.0.2.0/24", "2001:db8::1"])
    assert [e.origin.line for e in rs.entries] == [2, 3]
    (note,) = [f for f in rs.findings if f.kind == "encoding"]
    assert note.severity is Severity.INFO
    assert label in note.message
    assert ("byte order mark" in note.message) and (("no byte" in note.message) == (not bom))
    # the source is identified by the file's own bytes
    assert rs.info.size_bytes == path.stat().st_size
    assert rs.info.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_powershell_exchange_export_in_utf16_is_detected_and_read(tmp_path: Path) -> None:
    # Windows PowerShell 5.1: Get-ReceiveConnector | Format-List > connectors.txt
    text = EXCHANGE.read_text(encoding="utf-8")
    path = tmp_path / "connectors.txt"
    path.write_bytes(codecs.BOM_UTF16_LE + text.replace("\n", "\r\n").encode("utf-16-le"))
    rs = _load(path)
    plain = _load(EXCHANGE)
    assert rs.info.format == plain.info.format == "exchange-connector"
    assert rs.space == plain.space
    assert [f.kind for f in rs.findings] == [f.kind for f in plain.findings] + ["encoding"]


def test_damaged_utf16_is_an_error_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "list.txt"
    # a lone high surrogate on line 2
    path.write_bytes(codecs.BOM_UTF16_LE + "192.0.2.1\n".encode("utf-16-le") + b"\x00\xd8a\x00")
    with pytest.raises(InputError) as info:
        _load(path)
    assert info.value.line == 2
    assert "UTF-16 LE" in str(info.value)


def test_utf16_through_the_command_line(tmp_path: Path) -> None:
    (tmp_path / "exp.txt").write_text(EXPECTED)
    (tmp_path / "all.txt").write_bytes(codecs.BOM_UTF16_LE + ALL.encode("utf-16-le"))
    proc = auditor("diff", "-o", "cidr", "-e", "exp.txt", "-d", "all.txt", cwd=tmp_path)
    assert (proc.returncode, proc.stdout) == (0, "")
    assert "info: all.txt: decoded as UTF-16 LE" in proc.stderr


def test_utf8_with_a_bom_and_plain_ascii_are_untouched(tmp_path: Path) -> None:
    path = tmp_path / "list.txt"
    path.write_bytes(codecs.BOM_UTF8 + b"192.0.2.1\n")
    rs = _load(path)
    assert rs.space == IPSpace.from_text(["192.0.2.1"])
    assert [f for f in rs.findings if f.kind == "encoding"] == []
