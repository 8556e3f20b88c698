"""The plainest diff runs without Typer: it must mean exactly what Typer makes of it."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from reports.helpers import without_meta
from typer.testing import CliRunner

from auditor.cli import app, diffing, quick
from auditor.cli.options import Options
from auditor.cli.rulemaking import RuleAsk

PLAIN = [
    ["diff", "-e", "a.txt", "-d", "b.txt"],
    ["diff", "--expected", "a.txt", "--declared", "b.txt", "-o", "cidr"],
    ["diff", "-d", "b.txt", "-e", "a.txt", "-e", "c.txt", "--output", "json", "-q"],
    ["diff", "-e", "a.txt", "-d", "b.txt", "-d", "c.txt", "--output-file", "out.md", "-o", "md"],
    ["diff", "-q", "-e", "-", "-d", "b.txt", "--quiet"],
]
NOT_PLAIN = [
    ["diff", "-e", "a.txt"],  # a side missing: Typer words the error
    ["diff", "-e", "a.txt", "-d", "b.txt", "--service", "tcp/587"],
    ["diff", "-e", "a.txt", "-d", "b.txt", "-o", "json", "-o", "md"],  # one value, twice
    ["diff", "-e", "a.txt", "-d", "-x"],  # a value that looks like an option
    ["diff", "-e", "a.txt", "-d", "b.txt", "--debug"],
    ["diff", "-e=a.txt", "-d", "b.txt"],
    ["diff", "-ea.txt", "-d", "b.txt"],
    ["diff", "-e", "a.txt", "-d", "b.txt", "extra"],
    ["diff", "-e", "a.txt", "-d", "b.txt", "--help"],
    ["--debug", "diff", "-e", "a.txt", "-d", "b.txt"],
    ["diff", "-e", "a.txt", "-d", "b.txt", "--layered"],
    ["explain", "-e", "a.txt", "-d", "b.txt"],
]


def _fields(opts: Options) -> dict[str, Any]:
    return {f.name: getattr(opts, f.name) for f in dataclasses.fields(opts)}


@pytest.mark.parametrize("args", PLAIN)
def test_a_plain_diff_gives_the_options_typer_gives(
    args: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[Options, tuple[Any, ...]]] = []

    def record(opts: Options, *rest: Any) -> Any:
        seen.append((opts, rest))
        raise SystemExit(0)

    monkeypatch.setattr(diffing, "run", record)
    CliRunner().invoke(app, args)
    ((by_typer, rest),) = seen
    given = quick.plain_diff(args)
    assert given is not None
    if "output_file" in given:
        given["output_file"] = Path(given["output_file"])
    by_quick = Options.of(given, debug=False)
    assert _fields(by_quick) == _fields(by_typer)
    assert rest[:4] == ([], False, diffing.OVER_BROAD_V4, diffing.OVER_BROAD_V6)
    # not --layered, no rules asked for
    assert rest[4:] in ((), (False, RuleAsk()))


@pytest.mark.parametrize("args", NOT_PLAIN)
def test_anything_else_goes_to_typer(args: list[str]) -> None:
    assert quick.plain_diff(args) is None


def _program(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "auditor", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, "SOURCE_DATE_EPOCH": "1700000000"},  # the same reading time
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("output", ["text", "json", "cidr", "md", "csv", "nosuch"])
def test_a_plain_diff_answers_as_typer_does(tmp_path: Path, output: str) -> None:
    # --debug sends the same diff through Typer; without an error it changes nothing else
    (tmp_path / "a.txt").write_text("192.0.2.0/24\n2001:db8::/32\nnot-an-address\n")
    (tmp_path / "b.txt").write_text("192.0.2.0/25\n2001:db8::/33\n")
    args = ["diff", "-e", "a.txt", "-d", "b.txt", "-o", output]
    plain = _program(args, tmp_path)
    typer_made = _program([*args, "--debug"], tmp_path)
    # the reports' metadata says how each was run (--debug) and how long it took
    assert (plain.returncode, without_meta(plain.stdout)) == (
        typer_made.returncode,
        without_meta(typer_made.stdout),
    )
    said = typer_made.stderr
    if output == "nosuch":  # --debug adds the traceback of the usage error before it
        said = said.splitlines(keepends=True)[-1]
    assert plain.stderr == said
    assert plain.returncode == 2  # the bad line makes the run partial (or -o nosuch)


def test_a_plain_diff_to_a_file_writes_it_as_typer_does(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("192.0.2.0/24\n")
    (tmp_path / "b.txt").write_text("192.0.2.0/25\n")
    base = ["diff", "-e", "a.txt", "-d", "b.txt", "-o", "json", "-q"]
    quick_run = _program([*base, "--output-file", "q.json"], tmp_path)
    typer_run = _program([*base, "--output-file", "t.json", "--debug"], tmp_path)
    assert quick_run.returncode == typer_run.returncode == 1
    assert without_meta((tmp_path / "q.json").read_text()) == without_meta(
        (tmp_path / "t.json").read_text()
    )


def test_shell_completion_is_left_to_typer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("_AUDITOR_COMPLETE", "bash_complete")
    assert quick.plain_diff(["diff", "-e", "a.txt", "-d", "b.txt"]) is None
