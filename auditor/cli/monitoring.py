"""The monitoring outputs of one ``auditor diff``: ``--output nagios`` (the check line, and the
Nagios exit code) and ``--prometheus FILE`` (the node_exporter textfile), both for the one
audit the run is, named by ``--audit-name`` (``diff``)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from auditor.cli.output import deliver, err
from auditor.errors import AuditorError, InputError, UsageError

if TYPE_CHECKING:
    from auditor.cli.options import Options
    from auditor.cli.outcome import Outcome
    from auditor.model import AuditResult, AuditRun

NAGIOS = "nagios"
"""The --output of the check line; not a report of the registry: it is made from the runs
and gives the process its exit code (0-3)."""
DEFAULT_AUDIT = "diff"


def wanted(opts: Options) -> bool:
    return opts.output == NAGIOS or opts.prometheus is not None


def watch(opts: Options, body: Callable[[Callable[[AuditResult], None]], Outcome]) -> Outcome:
    """Run ``body`` (the diff, which hands its result to the callable it is given) as the
    audit ``--audit-name``; then write the textfile and/or print the check line. An error that
    stops the audit before it compares is a failed audit: the textfile says so (exit code,
    complete 0) and the check is UNKNOWN; without ``--output nagios`` the error then ends
    the run as usual."""
    from auditor.cli.outcome import Outcome, exit_code
    from auditor.model import AuditRun, reading_time

    audit, prometheus = opts.audit_name, opts.prometheus
    if not audit:
        raise UsageError("--audit-name must not be empty")
    nagios = opts.output == NAGIOS
    started = reading_time()
    clock = time.monotonic()
    seen: list[AuditResult] = []
    try:
        outcome = body(seen.append)
    except AuditorError as e:
        run = AuditRun(audit, int(e.exit_code), started, time.monotonic() - clock, error=str(e))
        _textfile(prometheus, run)
        if not nagios:
            raise
        err(f"error: {e}")
        return Outcome(complete=False, code=_check(opts, run))
    result = seen[-1] if seen else None
    run = AuditRun(audit, exit_code(outcome), started, time.monotonic() - clock, result)
    _textfile(prometheus, run)
    if not nagios:
        return outcome
    return Outcome(outcome.complete, outcome.drift, code=_check(opts, run))


def _check(opts: Options, run: AuditRun) -> int:
    """Print (or write) the check line of ``run``; its Nagios exit code."""
    from auditor.reports import nagios

    text, code = nagios.render([run])
    # the line states its own state: printed even for an incomplete run; a file others read
    # keeps its last good content, as for every --output-file
    complete = run.result is not None and run.result.complete and run.exit_code < 2
    incomplete = None if complete else "the run is not complete"
    deliver(text, opts.output_file, output=NAGIOS, quiet=opts.quiet, incomplete=incomplete)
    return code


def _textfile(path: Path | None, run: AuditRun) -> None:
    """The textfile, written also for a failed audit (with complete 0): a file that stops
    changing is what an alert on ``node_textfile_mtime_seconds`` sees, not a failure."""
    if path is None:
        return
    from auditor.model import reading_time
    from auditor.reports import prometheus

    text = prometheus.render([run], reading_time())
    try:
        prometheus.write_textfile(path, text)
    except OSError as e:
        raise InputError(
            f"cannot write the textfile: {e.strerror}",
            source=str(path),
            hint="check that the directory exists and is writable",
        ) from None
