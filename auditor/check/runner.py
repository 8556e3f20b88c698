"""One run of ``auditor check``: every audit of the configuration through the diff pipeline,
its outputs written atomically (never replaced by a run that is not complete), one
:class:`auditor.model.AuditRun` per audit.

The audits of a run that fetch the same URL with the same network options share one loader,
so each URL is fetched (and its integrity checked) once per run.
"""

from __future__ import annotations

import contextlib
import io
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from auditor.errors import AuditorError, ExitCode

if TYPE_CHECKING:
    from datetime import datetime

    from auditor.check.config import Audit, Config
    from auditor.check.state import Keeper
    from auditor.cli.diffing import Audited
    from auditor.cli.options import Options
    from auditor.model import AuditResult, AuditRun, RangeSet
    from auditor.reports.base import Drift as ReportDrift
    from auditor.sources.load import SourceLoader

_NET_KEYS = (
    "timeout",
    "ca_bundle",
    "cache_dir",
    "offline",
    "max_bytes",
    "catalog",
    "nameserver",
    "spf_view",
)
"""The options a loader is made from: audits that agree on them share one."""

FAILED_SUFFIX = ".failed"


@dataclass(frozen=True)
class Settings:
    """The command line of the run (the configuration says the rest)."""

    quiet: bool = False
    debug: bool = False


@dataclass
class Finished:
    """An audit as the run saw it: the AuditRun, and what it compared (None when it failed
    before comparing)."""

    run: AuditRun
    audited: Audited | None = None
    audit: Audit | None = None
    written: list[Path] = field(default_factory=list)


def options_of(audit: Audit, settings: Settings) -> Options:
    """The ``auditor diff`` options of an audit."""
    from auditor.cli.options import Options

    given = {k: v for k, v in audit.values.items() if k in Options.__dataclass_fields__}
    if "format" in audit.values:
        given["fmt"] = audit.values["format"]
    given["quiet"] = settings.quiet
    return Options.of(given, settings.debug)


class Loaders:
    """The loaders of a run, one per distinct set of network options, closed (and their
    fetched copies committed to the cache) at the end of the run."""

    def __init__(self, stack: contextlib.ExitStack) -> None:
        self._stack = stack
        self._loaders: dict[tuple[Any, ...], SourceLoader] = {}

    def for_audit(self, audit: Audit, opts: Options) -> SourceLoader:
        key = tuple(repr(audit.get(k)) for k in _NET_KEYS)
        loader = self._loaders.get(key)
        if loader is None:
            # nothing of a scheduled run reads standard input (the configuration refuses -)
            loader = self._stack.enter_context(opts.open(io.BytesIO()))
            self._loaders[key] = loader
        return loader


def run(
    config: Config,
    settings: Settings,
    guard: Callable[[Audit, Options, list[RangeSet]], list[RangeSet]] | None = None,
    after: Callable[[Finished], None] | None = None,
    drift: Callable[[str, AuditResult, datetime], ReportDrift | None] | None = None,
) -> list[Finished]:
    """Run every audit in the file's order. ``guard`` may fail expected sources before
    they are compared; ``after`` is called as each audit ends (the state is kept there);
    ``drift`` gives the changes since the last run that the audit's reports show."""
    out = []
    with contextlib.ExitStack() as stack:
        loaders = Loaders(stack)
        for audit in config.audits:
            finished = run_one(audit, settings, loaders, guard, drift)
            if after is not None:
                after(finished)
            out.append(finished)
    return out


def run_one(
    audit: Audit,
    settings: Settings,
    loaders: Loaders,
    guard: Callable[[Audit, Options, list[RangeSet]], list[RangeSet]] | None = None,
    drift: Callable[[str, AuditResult, datetime], ReportDrift | None] | None = None,
) -> Finished:
    from auditor.cli import diffing
    from auditor.cli.options import family_of
    from auditor.cli.outcome import exit_code, source_complete
    from auditor.cli.output import err
    from auditor.cli.rulemaking import RuleAsk
    from auditor.model import AuditRun, reading_time

    started = reading_time()
    clock = time.monotonic()
    rules = list(audit.get("rules") or ())
    try:
        opts = options_of(audit, settings)
        ask = RuleAsk(
            tuple(rules),
            family_of(audit.get("family", "all")),
            audit.get("output_dir"),
            bool(audit.get("prune", False)),
        )
        check = None if guard is None else (lambda exp: guard(audit, opts, exp))
        done = diffing.compare(
            opts,
            rules,
            bool(audit.get("fail_on_extra", False)),
            int(audit.get("over_broad_v4", diffing.OVER_BROAD_V4)),
            int(audit.get("over_broad_v6", diffing.OVER_BROAD_V6)),
            bool(audit.get("layered", False)),
            ask,
            loaders.for_audit(audit, opts),
            check,
        )
    except AuditorError as e:
        if settings.debug:
            traceback.print_exc()
        err(f"error: {audit.name}: {e}")
        run = AuditRun(
            audit.name, int(e.exit_code), started, time.monotonic() - clock, None, str(e)
        )
        return Finished(run, None, audit)
    except Exception as e:  # noqa: BLE001 - one audit's crash is that audit's failure
        if settings.debug:
            traceback.print_exc()
        why = f"internal error: {type(e).__name__}: {e}"
        err(f"error: {audit.name}: {why} (run with --debug for details)")
        run = AuditRun(
            audit.name, int(ExitCode.TROUBLE), started, time.monotonic() - clock, None, why
        )
        return Finished(run, None, audit)
    for rs in done.result.sources:
        source_complete(rs, opts.allow_stale)
    for fam in done.result.uncovered:
        err(f"error: {audit.name}: no declared source covers IPv{fam}")
    shown = None if drift is None else drift(audit.name, done.result, started)
    written, ok = write_outputs(audit, done, shown)
    code = int(exit_code(done.outcome)) if ok else int(ExitCode.TROUBLE)
    run = AuditRun(
        audit.name,
        code,
        started,
        time.monotonic() - clock,
        done.result,
        "" if done.incomplete is None else done.incomplete,
    )
    return Finished(run, done, audit, written)


def _rules_text(done: Audited) -> str:
    return "".join(
        f"# {title}\n{text}" + ("" if text.endswith("\n") else "\n")
        for title, text in done.made.rendered
    )


def outputs_of(audit: Audit) -> Iterator[tuple[str, Path]]:
    """The files an audit writes: each report, and with ``rules:`` the rules, in a file
    ``NAME.rules`` next to the first report (next to the configuration without one)."""
    yield from audit.outputs
    if audit.get("rules"):
        folder = audit.outputs[0][1].parent if audit.outputs else audit.base
        yield "rules", folder / f"{audit.name}.rules"


def write_outputs(
    audit: Audit, done: Audited, drift: ReportDrift | None = None
) -> tuple[list[Path], bool]:
    """Write the outputs of a finished audit, each atomically. A run that is not complete
    replaces none of them: each keeps its last good content, and ``FILE.failed`` gets what
    this run made, for a reader to see why; a complete run removes the ``.failed`` file."""
    from auditor import runmeta
    from auditor.cli.output import err
    from auditor.fsutil import atomic_write
    from auditor.reports import ReportContext, report_for

    ctx = ReportContext(rules=tuple(done.made.rendered), meta=runmeta.finish(), drift=drift)
    written = []
    ok = True
    for name, path in outputs_of(audit):
        if name == "rules":
            text = _rules_text(done)
        else:
            text = "".join(report_for(name).stream(done.result, ctx))
        failed = path.with_name(path.name + FAILED_SUFFIX)
        target = path if done.incomplete is None else failed
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(target, text.encode("utf-8"))
            if done.incomplete is None:
                failed.unlink(missing_ok=True)
        except OSError as e:
            err(f"error: {audit.name}: cannot write {target}: {e.strerror or e}")
            ok = False
            continue
        if done.incomplete is not None:
            err(
                f"error: {audit.name}: not written: {done.incomplete}; {path} keeps its"
                f" previous content (this run's is in {failed})"
            )
        written.append(target)
    return written, ok


def worst(codes: list[int]) -> int:
    """The exit code of a run from its audits': 2 over 1 over 0."""
    return max(codes, default=0)


def summary(finished: Finished) -> str:
    """One line per audit: its verdict, what is missing, the exit code."""
    run = finished.run
    result = run.result
    if result is None:
        return f"{run.name}: failed: {run.error} (exit {run.exit_code})"
    missing = sum(1 for _ in result.missing.cidrs())
    counts = f"{missing} missing CIDR(s)"
    if result.extra is not None:
        counts += f", {sum(1 for _ in result.extra.cidrs())} extra"
    if result.over_broad:
        counts += f", {len(result.over_broad)} over-broad"
    if run.exit_code == ExitCode.TROUBLE:
        verdict = f"incomplete ({run.error})" if run.error else "incomplete"
    else:
        verdict = "drift" if run.exit_code == ExitCode.DRIFT else "in sync"
    return f"{run.name}: {verdict}: {counts} (exit {run.exit_code})"


def say(finished: list[Finished], keeper: Keeper | None) -> tuple[list[str], bool]:
    """What a run prints: each audit's line, and with a state its drift; and whether any
    audit changed since the last run (always, without a state)."""
    lines = []
    changed = keeper is None
    for f in finished:
        lines.append(summary(f))
        drift = keeper.drift.get(f.run.name) if keeper is not None else None
        if keeper is not None and drift is not None:
            lines += ["  " + line for line in drift.describe(keeper.dir.path)]
        changed = changed or drift is None or drift.changed
    return lines, changed
