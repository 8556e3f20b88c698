"""``auditor``, ``auditor -h`` and ``auditor --version`` are answered from the command table
without Typer: what they print is what Typer registers, every command and nothing else."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from conftest import RunCli

from auditor import __version__
from auditor.cli import commands
from auditor.cli.group import application

ROOT = Path(__file__).resolve().parents[1]


def _section(text: str, title: str) -> list[tuple[str, str]]:
    """(name, text) rows of a help section; a row's wrapped lines are joined."""
    body = text.split(f"\n{title}:\n", 1)[1].split("\n\n", 1)[0]
    rows: list[tuple[str, str]] = []
    for line in body.splitlines():
        m = re.fullmatch(r"  (\S.*?)(?:  +(\S.*))?", line)
        if m and not line.startswith("   "):
            rows.append((m.group(1), m.group(2) or ""))
        else:
            rows[-1] = (rows[-1][0], rows[-1][1] + " " + line.strip())
    return rows


def _registered() -> dict[str, str]:
    """Command name to its help, as Typer registers them (every command)."""
    group = typer.main.get_command(application())
    assert isinstance(group, typer.core.TyperGroup)
    return {name: cmd.help or "" for name, cmd in group.commands.items()}


@pytest.mark.parametrize("width", [50, 78])
def test_the_help_lists_every_registered_command_with_its_summary_and_nothing_else(
    width: int,
) -> None:
    shown = _section(commands.render_help(width), "Commands")
    registered = _registered()
    assert [name for name, _ in shown] == list(registered)
    for name, summary in shown:
        assert summary == dict(commands.COMMANDS)[name]
        # Typer's help of the command starts with the same summary
        assert " ".join(registered[name].split()).startswith(summary)
    # the examples keep their lines, as Typer prints them; the tables fit the width
    tables = commands.render_help(width).split("\nOptions:\n")[1]
    assert all(len(line) <= width for line in tables.splitlines())


def test_the_help_lists_the_options_typer_takes() -> None:
    group = typer.main.get_command(application())
    params = group.get_params(group.make_context("auditor", ["diff"]))
    taken = sorted(sorted(p.opts) for p in params)
    shown = _section(commands.render_help(78), "Options")
    assert sorted(sorted(name.split(", ")) for name, _ in shown) == taken
    helps = {", ".join(p.opts): getattr(p, "help", "") for p in params}
    assert helps["--debug"] == commands.DEBUG_HELP
    assert helps["--version"] == commands.VERSION_HELP


def test_the_help_says_what_typer_says_of_the_tool(run_cli: RunCli) -> None:
    code, typer_help, _ = run_cli("--help")
    assert code == 0
    light = commands.render_help(78)
    assert light.splitlines()[0] == typer_help.splitlines()[0]  # the usage line
    for paragraph in commands.APP_HELP.split("\n\n"):
        words = " ".join(paragraph.replace("\b", "").split())
        assert words in " ".join(light.split())
        assert words in " ".join(re.sub(r"-\n *", "-", typer_help).split())


@pytest.mark.parametrize(
    ("args", "code", "stream"),
    [(["--help"], 0, "stdout"), (["-h"], 0, "stdout"), ([], 2, "stderr")],
)
def test_the_program_prints_the_table_help(
    tmp_path: Path, args: list[str], code: int, stream: str
) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "80"}
    proc = subprocess.run(
        [sys.executable, "-m", "auditor", *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=60,
        check=False,
    )
    assert proc.returncode == code
    assert getattr(proc, stream) == commands.render_help(78)
    assert (proc.stderr if stream == "stdout" else proc.stdout) == ""


def test_version_and_the_options_before_a_command(run_cli: RunCli, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    run = [sys.executable, "-m", "auditor"]
    proc = subprocess.run(
        [*run, "--version"], capture_output=True, text=True, env=env, timeout=60, check=False
    )
    assert (proc.returncode, proc.stdout) == (0, f"auditor {__version__}\n")
    assert run_cli("--version")[:2] == (0, f"auditor {__version__}\n")
    # --debug before --help is Typer's: the help of every command, as before
    proc = subprocess.run(
        [*run, "--debug", "--help"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0
    assert [name for name, _ in _section(proc.stdout, "Commands")] == list(_registered())
    # a command that is not one: every command is registered, so Typer can suggest one
    proc = subprocess.run(
        [*run, "dif"], capture_output=True, text=True, env=env, timeout=60, check=False
    )
    assert proc.returncode == 2 and "No such command 'dif'" in proc.stderr


@pytest.mark.parametrize("args", [["--help"], ["--version"]])
def test_a_reader_that_goes_away_ends_the_help_silently(args: list[str]) -> None:
    read, write = os.pipe()
    os.close(read)
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "auditor", *args],
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            timeout=60,
            check=False,
        )
    finally:
        os.close(write)
    assert (proc.returncode, proc.stderr) == (1, "")
