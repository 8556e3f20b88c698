"""Fixtures shared by the whole suite: writing input files and running the CLI in-process."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import pytest

# the local DNS test server (tests/dnsd.py), exposed as a fixture to every test
from dnsd import dns_server  # noqa: F401

# the local HTTP(S) test servers (tests/httpd.py), exposed as fixtures to every test
from httpd import http_server, https_server, tls_ca  # noqa: F401
from typer.testing import CliRunner

FIXTURES = Path(__file__).parent / "fixtures"


class CliResult(NamedTuple):
    code: int
    stdout: str
    stderr: str


WriteFile = Callable[[str, "str | bytes"], Path]
RunCli = Callable[..., CliResult]


@pytest.fixture
def write(tmp_path: Path) -> WriteFile:
    """write(name, content) -> path: a file under tmp_path; str content is written as UTF-8."""

    def _write(name: str, content: str | bytes) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        data = content.encode("utf-8") if isinstance(content, str) else content
        path.write_bytes(data)
        return path

    return _write


@pytest.fixture
def run_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> RunCli:
    """run_cli(*args, input=None) -> (code, stdout, stderr), in-process, from tmp_path.

    The working directory is tmp_path, so files written with ``write`` can be named
    relatively and messages show them as ``name:line``. Typer's runner keeps stdout and
    stderr apart (``result.stdout`` / ``result.stderr``; ``result.output`` mixes both).
    """
    from auditor.cli import app

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NO_COLOR", "1")
    # fetched feeds are cached per test, never in the user's cache
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))

    def _run(*args: str, input: str | bytes | None = None) -> CliResult:
        result = CliRunner().invoke(app, list(args), input=input)
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        return CliResult(result.exit_code, result.stdout, result.stderr)

    return _run
