"""The command line a report shows: as given, with its secrets elided."""

from __future__ import annotations

import pytest
import typer

from auditor import runmeta
from auditor.cli import app
from auditor.cli.commands import COMMANDS
from auditor.runmeta import ELIDED, elide


@pytest.mark.parametrize(
    ("given", "shown"),
    [
        (["--password", "hunter2"], ["--password", ELIDED]),
        (["--api-key=abc123", "-q"], [f"--api-key={ELIDED}", "-q"]),
        (["--header", "Authorization: Bearer x"], ["--header", ELIDED]),
        (["--token", "--quiet"], ["--token", "--quiet"]),  # a flag, not its value
        (
            ["-e", "https://ops:pw@feeds.example.net/ranges.json"],
            ["-e", f"https://{ELIDED}@feeds.example.net/ranges.json"],
        ),
        (
            ["-e", "text:https://h.example/x.txt?sv=2022&sig=abc%2F&se=2030"],
            ["-e", f"text:https://h.example/x.txt?sv=2022&sig={ELIDED}&se=2030"],
        ),
        (
            ["--expected=json:https://h.example/f?X-Amz-Signature=zz&X-Amz-Credential=c#p[*]"],
            [
                f"--expected=json:https://h.example/f?X-Amz-Signature={ELIDED}"
                f"&X-Amz-Credential={ELIDED}#p[*]"
            ],
        ),
        (
            ["-d", "https://h.example/a?apikey=k&access_token=t&region=eu&page"],
            ["-d", f"https://h.example/a?apikey={ELIDED}&access_token={ELIDED}&region=eu&page"],
        ),
        (
            ["-e", "aws:service=EC2,region=eu-west-1", "--scope", "mail", "--max-shrink", "20"],
            ["-e", "aws:service=EC2,region=eu-west-1", "--scope", "mail", "--max-shrink", "20"],
        ),
        (["-e", "nodes.txt", "-d", "pass words.txt"], ["-e", "nodes.txt", "-d", "pass words.txt"]),
    ],
)
def test_secrets_are_elided(given: list[str], shown: list[str]) -> None:
    assert list(elide(given)) == shown


def test_no_option_of_the_program_is_taken_for_a_secret() -> None:
    """Every option of every command keeps its value: the reviewer sees how the run was made."""
    group = typer.main.get_command(app)
    commands = group.commands  # type: ignore[attr-defined]
    assert set(commands) >= {name for name, _ in COMMANDS}
    for command in [group, *commands.values()]:
        for param in command.params:
            for opt in param.opts:
                if opt.startswith("--"):
                    assert elide([opt, "value"]) == (opt, "value"), opt
                    assert elide([f"{opt}=value"]) == (f"{opt}=value",), opt


def test_the_metadata_of_a_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    start = runmeta.begin(["diff", "-e", "https://u:p@h.example/x?token=t", "-d", "a.txt"])
    meta = runmeta.finish(start)
    url = f"https://{ELIDED}@h.example/x?token={ELIDED}"
    assert meta.command == ("auditor", "diff", "-e", url, "-d", "a.txt")
    assert meta.command_line == "auditor diff -e 'https://***@h.example/x?token=***' -d a.txt"
    assert meta.started == "2023-11-14T22:13:20Z"
    assert 0 <= meta.duration_s < 5
    assert runmeta.current() is start
