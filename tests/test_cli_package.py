"""The command-line package: one mapping to exit codes, one completeness policy, help text
that names what the registries hold, and no state carried from one run to the next."""

from __future__ import annotations

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
    from auditor.reports import REPORTS, listing
    from auditor.rules import GENERATORS

    assert sorted(params.REPORTS_SHOWN) == params._choices(REPORTS)
    assert params.LISTINGS_SHOWN == tuple(listing.LISTINGS)
    assert sorted(params.PLATFORMS_SHOWN) == params._choices(GENERATORS)
    assert GENERATORS.aliases["nft"] == "nftables"


def test_debug_is_not_carried_to_the_next_run(run_cli: RunCli) -> None:
    code, _, err = run_cli("--debug", "rules", "nope", "-", input="")
    assert code == 2 and "Traceback" in err
    code, _, err = run_cli("rules", "nope", "-", input="")
    assert code == 2 and "Traceback" not in err and "unknown rule platform" in err
