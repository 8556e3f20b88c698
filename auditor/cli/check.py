"""``auditor check``: every audit of a configuration file, as a scheduled job runs them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from auditor.cli import params as p

if TYPE_CHECKING:
    from auditor.check.state import Keeper
    from auditor.cli.outcome import Outcome
    from auditor.model import AuditRun


def command(
    ctx: typer.Context,
    config: Annotated[
        Path,
        typer.Argument(metavar="CONFIG.yaml", help="The audits (see data/examples/audits.yaml)."),
    ],
    validate: Annotated[
        bool,
        typer.Option(
            "--validate", help="Only check the configuration: exit 0 when it is valid, else 2."
        ),
    ] = False,
    state_dir: Annotated[
        Path | None,
        typer.Option(
            "--state-dir",
            metavar="DIR",
            envvar="AUDITOR_STATE_DIR",
            help="Keep what each audit saw here, report the drift since the last run, and"
            " lock DIR/lock (without it: a lock file next to the configuration). Default:"
            " $AUDITOR_STATE_DIR.",
        ),
    ] = None,
    quiet_unless_changed: Annotated[
        bool,
        typer.Option(
            "--quiet-unless-changed",
            help="With --state-dir: print nothing when no audit changed since the last run"
            " (the exit code is the same).",
        ),
    ] = False,
    lock_wait: Annotated[
        float,
        typer.Option(
            "--lock-wait",
            metavar="SECONDS",
            help="Wait this long for a run that holds the lock, then exit 2 (default 0).",
        ),
    ] = 0.0,
    output: Annotated[
        str,
        typer.Option(
            "--output",
            "-o",
            metavar="text|nagios",
            help="text: a line per audit and its drift; nagios: one check line with"
            " performance data, and the Nagios exit code (0 OK, 1 WARNING, 2 CRITICAL,"
            " 3 UNKNOWN).",
        ),
    ] = "text",
    prometheus: Annotated[
        Path | None,
        typer.Option(
            "--prometheus",
            metavar="FILE.prom",
            help="Write the node_exporter textfile for every audit (atomically; also when an"
            " audit failed).",
        ),
    ] = None,
    quiet: p.QuietOpt = False,
    debug: p.DebugOpt = False,
) -> None:
    """Each key of an audit is an option of auditor diff (cache_dir: for --cache-dir);
    defaults: gives any of them to every audit; outputs: maps a report to its file.
    Relative paths resolve next to the configuration file.

    Exit codes: the worst of the audits: 0 every audit in sync and complete, 1 drift,
    2 trouble (a source failed, was partial or stale, a bad configuration).

    \b
    Examples:
      auditor check --validate /etc/allowlist-auditor/audits.yaml
      auditor check /etc/allowlist-auditor/audits.yaml --state-dir /var/lib/allowlist-auditor \\
          --prometheus /var/lib/node_exporter/textfile/allowlist_auditor.prom --quiet-unless-changed
      auditor check audits.yaml --output nagios
    """
    from auditor.cli.outcome import guard

    debug = bool(ctx.meta.get(p.DEBUG))
    guard(
        lambda: _run(
            config,
            validate,
            quiet,
            debug,
            state_dir,
            lock_wait,
            quiet_unless_changed,
            Watch(output, prometheus),
        ),
        debug,
    )


def _run(
    config: Path,
    validate: bool,
    quiet: bool,
    debug: bool,
    state_dir: Path | None,
    lock_wait: float,
    quiet_unless_changed: bool = False,
    watch: Watch | None = None,
) -> Outcome:
    from auditor.check import config as cfg
    from auditor.cli.outcome import Outcome
    from auditor.cli.output import err

    try:
        loaded = cfg.load(config)
    except cfg.ConfigError as e:
        for problem in e.problems:
            err(f"error: {problem}")
        return Outcome(complete=False)
    if validate:
        if not quiet:
            err(f"info: {config}: {len(loaded.audits)} audit(s), valid")
        return Outcome()
    import math

    from auditor.check import lock, runner
    from auditor.cli.output import write
    from auditor.errors import UsageError

    if not math.isfinite(lock_wait) or lock_wait < 0:
        raise UsageError(f"invalid --lock-wait {lock_wait:g}", hint="give seconds, 0 or more")
    if state_dir is not None and not state_dir.is_dir():
        raise UsageError(
            f"--state-dir {state_dir}: no such directory", hint="create it (mkdir -p) first"
        )
    watch = watch or Watch()
    if watch.output not in ("text", "nagios"):
        raise UsageError(f"unknown --output {watch.output!r}", hint="give text or nagios")
    if quiet_unless_changed and state_dir is None:
        raise UsageError(
            "--quiet-unless-changed needs --state-dir", hint="give the folder the state is kept in"
        )
    settings = runner.Settings(quiet=quiet, debug=debug)
    keeper = None
    with lock.hold(lock.lock_path(config, state_dir), lock_wait):
        if state_dir is not None:
            from auditor.check.state import Keeper

            keeper = Keeper(state_dir)
            finished = runner.run(loaded, settings, keeper.guard, keeper.after, keeper.report_drift)
        else:
            finished = runner.run(loaded, settings)
        runs = [f.run for f in finished]
        if watch.prometheus is not None:  # under the lock: an older run never replaces it
            _textfile(watch.prometheus, runs, keeper)
    code = runner.worst([r.exit_code for r in runs])
    if watch.output == "nagios":
        from auditor.reports import nagios

        text, check = nagios.render(runs)
        write(text, None)
        return Outcome(complete=code < 2, drift=code == 1, code=check)
    lines, changed = runner.say(finished, keeper)
    if not quiet and (changed or not quiet_unless_changed):
        write("".join(line + "\n" for line in lines), None)
    return Outcome(complete=code < 2, drift=code == 1)


@dataclass(frozen=True)
class Watch:
    """The monitoring outputs of a check run."""

    output: str = "text"
    prometheus: Path | None = None


def _textfile(path: Path, runs: list[AuditRun], keeper: Keeper | None) -> None:
    """The textfile of every audit; an audit this run did not complete keeps the time of its
    last complete run from the state (``auditor_last_success_timestamp_seconds``)."""
    from datetime import datetime

    from auditor.errors import InputError
    from auditor.model import reading_time
    from auditor.reports import prometheus

    last: dict[str, float] = {}
    for run in runs:
        try:  # a state that cannot be read failed its audit already; the file still tells it
            prev = keeper.previous(run.name) if keeper is not None and run.exit_code >= 2 else None
        except InputError:
            prev = None
        if prev is not None and prev.run_at:
            last[run.name] = datetime.fromisoformat(prev.run_at.replace("Z", "+00:00")).timestamp()
    try:
        prometheus.write_textfile(path, prometheus.render(runs, reading_time(), last))
    except OSError as e:
        raise InputError(
            f"cannot write the textfile: {e.strerror}",
            source=str(path),
            hint="check that the directory exists and is writable",
        ) from None
