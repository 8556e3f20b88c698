"""How a run ends: what it found, the one mapping of an outcome or an error to the process
exit code, and the completeness policy (a source that was not read completely is said on
stderr, and the run cannot exit 0)."""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, NoReturn

from auditor.cli.output import err
from auditor.errors import STATUS_CODES, AuditorError, ExitCode

if TYPE_CHECKING:
    from auditor.model import RangeSet


@dataclass(frozen=True)
class Outcome:
    """What a command found, in the terms of the exit code."""

    complete: bool = True
    """Every input was read completely and the command produced everything it was asked for."""
    drift: bool = False
    """Something expected is missing (or another finding the run was asked to fail on)."""
    code: int | None = None
    """An exit code of its own, in place of the one above: a Nagios check's 0-3."""


def exit_code(outcome: Outcome | BaseException) -> int:
    """The process exit code of a run that ended with ``outcome`` or raised it: 0 complete and
    nothing missing, 1 drift, 2 trouble (an input that was not read completely, bad input, bad
    usage, an interruption, an internal error: never 0 or 1)."""
    if isinstance(outcome, AuditorError):
        return outcome.exit_code
    if isinstance(outcome, BaseException):
        return ExitCode.TROUBLE
    if outcome.code is not None:
        return outcome.code
    # the same table the reports read for an audit's status
    status = "incomplete" if not outcome.complete else "drift" if outcome.drift else "in-sync"
    return STATUS_CODES[status]


def guard(fn: Callable[[], Outcome], debug: bool, *, plain: bool = False) -> NoReturn:
    """Run a command: the one place that maps errors to messages, and ends the process with
    the exit code of what it found or raised: through Typer, or, ``plain``, with SystemExit
    (a command run without Typer)."""
    try:
        outcome: Outcome | BaseException = fn()
    except AuditorError as e:
        if debug:
            traceback.print_exc()
        err(f"error: {e}")
        outcome = e
    except BrokenPipeError as e:
        # the reader went away (| head): nothing more can be said on stdout; not a success
        try:
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silences the flush at exit
        except OSError:
            pass
        outcome = e
    except KeyboardInterrupt as e:
        err("error: interrupted")
        outcome = e
    except Exception as e:  # noqa: BLE001 - the last line of defence: never exit 0 or 1
        if type(e).__name__ == "Exit" and "typer" in sys.modules:
            import typer

            if isinstance(e, typer.Exit):
                raise  # Typer's own way out (a command that ends early): not an error
        if debug:
            traceback.print_exc()
        err(f"error: internal error: {type(e).__name__}: {e} (run with --debug for details)")
        outcome = e
    code = int(exit_code(outcome))
    if plain:
        raise SystemExit(code)
    import typer

    raise typer.Exit(code)


def usable(rs: RangeSet, allow_stale: bool) -> bool:
    """Complete, or stale when stale sources are allowed: what may exit 0."""
    from auditor.model import Completeness

    return rs.completeness is Completeness.COMPLETE or (
        allow_stale and rs.completeness is Completeness.STALE
    )


def source_complete(rs: RangeSet, allow_stale: bool) -> bool:
    """The completeness policy for one source, the same in every command: a partial or stale
    source is said on stderr with what it lacked (a failed one was said as it was read), as
    a warning when it may still exit 0 (stale with --allow-stale) and an error otherwise.
    True when the source lets the run exit 0."""
    ok = usable(rs, allow_stale)
    if rs.completeness.value not in ("complete", "failed"):
        level = "warning" if ok else "error"
        why = "; ".join(rs.reasons) or rs.completeness.value
        err(f"{level}: {rs.info.name}: source is {rs.completeness.value}: {why}")
    return ok


def not_complete(
    sources: Sequence[RangeSet],
    allow_stale: bool,
    uncovered: Sequence[int] = (),
    otherwise: str = "the run is not complete (see the errors above)",
) -> str:
    """Why a run is not complete: the sources that are not, and the families nobody covers."""
    reasons = [
        f"{rs.info.name} is {rs.completeness.value}"
        for rs in sources
        if not usable(rs, allow_stale)
    ]
    reasons += [f"no declared source covers IPv{fam}" for fam in uncovered]
    shown = "; ".join(reasons[:3]) + ("; ..." if len(reasons) > 3 else "")
    return shown or otherwise
