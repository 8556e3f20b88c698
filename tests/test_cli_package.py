"""The command-line package: one mapping to exit codes, one completeness policy, help text
that names what the registries hold, and no state carried from one run to the next."""

from __future__ import annotations

import re

import pytest
from conftest import RunCli

from auditor.cli import params
from auditor.cli.outcome import Outcome, exit_code, source_complete
from auditor.errors import ExitCode, InputError, UsageError
from auditor.model import Completeness, Entries, RangeSet, SourceInfo


@pytest.mark.parametrize(
    ("outcome", "code"),
    [
        (Outcome(), ExitCode.OK),
        (Outcome(drift=True), ExitCode.DRIFT),
        (Outcome(complete=False), ExitCode.TROUBLE),
        (Outcome(complete=False, drift=True), ExitCode.TROUBLE),
        (UsageError("bad"), ExitCode.TROUBLE),
        (InputError("bad"), ExitCode.TROUBLE),
        (KeyboardInterrupt(), ExitCode.TROUBLE),
        (BrokenPipeError(), ExitCode.TROUBLE),
        (RuntimeError("bug"), ExitCode.TROUBLE),
    ],
)
def test_one_mapping_to_exit_codes(outcome: Outcome | BaseException, code: ExitCode) -> None:
    assert exit_code(outcome) is code


def _source(completeness: Completeness) -> RangeSet:
    return RangeSet(
        SourceInfo("feed.txt", "expected", "text"), Entries("feed.txt"), completeness, ("why",)
    )


@pytest.mark.parametrize(
    ("completeness", "allow_stale", "ok", "said"),
    [
        (Completeness.COMPLETE, False, True, ""),
        (Completeness.STALE, True, True, "warning: feed.txt: source is stale: why\n"),
        (Completeness.STALE, False, False, "error: feed.txt: source is stale: why\n"),
        (Completeness.PARTIAL, True, False, "error: feed.txt: source is partial: why\n"),
        (Completeness.FAILED, False, False, ""),  # said as it was read
    ],
)
def test_one_completeness_policy(
    capsys: pytest.CaptureFixture[str],
    completeness: Completeness,
    allow_stale: bool,
    ok: bool,
    said: str,
) -> None:
    assert source_complete(_source(completeness), allow_stale) is ok
    assert capsys.readouterr().err == said


def test_choices_in_help_are_the_registries() -> None:
    from auditor import plugins
    from auditor.allowlists import READERS
    from auditor.reports import REPORTS
    from auditor.rules import GENERATORS

    assert (READERS, REPORTS, GENERATORS) == (plugins.READERS, plugins.REPORTS, plugins.GENERATORS)
    assert sorted(params.REPORTS_METAVAR.split("|")) == REPORTS.names()
    assert tuple(params.LISTINGS_METAVAR.split("|")) == plugins.LISTINGS
    assert sorted(params.PLATFORMS_METAVAR.split("|")) == GENERATORS.names()
    assert GENERATORS.aliases["nft"] == "nftables"


def test_help_lists_every_format_and_platform(run_cli: RunCli) -> None:
    from auditor.allowlists import READERS
    from auditor.rules import GENERATORS

    out = " ".join(re.sub(r"-\n *", "-", run_cli("diff", "-h")[1]).split())
    assert all(name in out for name in READERS.names())
    assert "-r, --rules " + "|".join(GENERATORS.listed()) in out
    assert "nftables (or nft)" in out and "iptables (or ip6tables)" in out


def test_shared_options_close_each_command_with_the_defaults_of_options() -> None:
    import inspect

    from auditor.cli import diff, explain, fetch, rules
    from auditor.cli.options import Options

    fetching = [*params.FETCHING, *params.FRESHNESS, *params.LOOKUP, "spf_view", "debug"]
    looking_up = [*params.FETCHING, *params.LOOKUP]
    for command, tail in (
        (diff.command, fetching),
        (fetch.command, fetching),
        (explain.command, [*looking_up, "debug"]),
        (rules.command, [*looking_up, "spf_view", "debug"]),
    ):
        names = list(inspect.signature(command).parameters)  # what Typer reads
        assert names[0] == "ctx" and names[-len(tail) :] == tail and "shared" not in names
    for name, param in params._CLOSING.items():
        if name != "debug":
            given = Options.of({name: param.default}, debug=False)
            assert getattr(given, name) == getattr(Options(), name), name


def test_debug_is_not_carried_to_the_next_run(run_cli: RunCli) -> None:
    code, _, err = run_cli("--debug", "rules", "nope", "-", input="")
    assert code == 2 and "Traceback" in err
    code, _, err = run_cli("rules", "nope", "-", input="")
    assert code == 2 and "Traceback" not in err and "unknown rule platform" in err
