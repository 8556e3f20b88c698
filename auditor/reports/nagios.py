"""The Nagios / Icinga check result: one status line with performance data, the detail of each
audit on the lines after it, and the plugin's exit code.

The format is that of the Monitoring Plugins development guidelines: ``AUDITOR STATE - text |
'label'=value[UOM];warn;crit;min;max ...``, then one line per audit (long output). Labels are
always quoted; a label never holds ``'`` or ``=`` (nor ``|`` or a control character), which
are replaced by ``_``. Thresholds are Nagios ranges: ``0`` alerts above 0.

The state of one audit:

- CRITICAL (2): it compared every source, each read completely, and something expected is
  missing.
- UNKNOWN (3): it failed before comparing, or a source was not complete (failed, partial,
  stale), or it exited 2 for another reason. The guidelines reserve UNKNOWN for a check that
  could not say; an audit that could not see everything cannot say what is missing, and a
  failed source must never read as OK. What it did find is still in its detail line.
- WARNING (1): complete, nothing missing, but extra CIDRs in its scope or over-broad entries
  (or another finding it was asked to fail on).
- OK (0): complete and nothing missing, extra or over-broad.

The check's state is the worst of its audits, in the order CRITICAL, UNKNOWN, WARNING, OK: an
address known to be missing from one audit is not hidden by another that could not be read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum

from auditor.model import AuditRun, Completeness, Status
from auditor.reports import blocks as report_blocks
from auditor.reports import view
from auditor.reports.prometheus import source_time


class State(IntEnum):
    """The plugin exit codes of the guidelines."""

    OK = 0
    WARNING = 1
    CRITICAL = 2
    UNKNOWN = 3


_SEVERITY = (State.OK, State.WARNING, State.UNKNOWN, State.CRITICAL)
"""From least to most urgent: the check's state is the last its audits reach."""


@dataclass(frozen=True)
class AuditState:
    """One audit as the check line sees it."""

    name: str
    state: State
    missing_cidrs: int | None
    """None when the audit compared nothing."""
    missing_addresses: tuple[int, int]
    """(IPv4, IPv6) addresses missing."""
    extra_cidrs: int | None
    """None without a scope."""
    over_broad: int
    incomplete_sources: int
    age_s: float | None
    """The age of its oldest source at the end of the audit."""
    detail: str


def _safe(text: str) -> str:
    """Input-controlled text on one line of plugin output: non-printables escaped, and no
    ``|``, which would start the performance data."""
    return view.clean(text).replace("|", "_")


def label(text: str) -> str:
    """A quoted performance data label: ``'`` and ``=`` (and ``|``) cannot appear in one."""
    text = view.clean(text)
    for ch in "'=|":
        text = text.replace(ch, "_")
    return f"'{text}'"


def _audit_state(run: AuditRun) -> AuditState:
    result = run.result
    name = _safe(run.name)
    if result is None:
        why = _safe(run.error) or f"exit {run.exit_code}"
        return AuditState(
            run.name, State.UNKNOWN, None, (0, 0), None, 0, 0, None, f"{name}: failed: {why}"
        )
    missing = report_blocks.missing(result)
    extra = report_blocks.extra_in_scope(result)
    bad = [rs for rs in result.sources if rs.completeness is not Completeness.COMPLETE]
    usable_stale = result.options.allow_stale
    incomplete = [rs for rs in bad if not (usable_stale and rs.completeness is Completeness.STALE)]
    ages = []
    end = run.started.timestamp() + max(run.duration_s, 0.0)
    for rs in result.sources:
        when = source_time(rs)
        if when is not None:
            ages.append(max(end - when.timestamp(), 0.0))
    parts = []
    if missing:
        parts.append(view.blocks_text(missing, "missing"))
    if extra:
        parts.append(view.plural(len(extra), "extra CIDR") + " in scope")
    if result.over_broad:
        parts.append(
            view.plural(
                len(result.over_broad), "over-broad declared entry", "over-broad declared entries"
            )
        )
    for rs in incomplete:
        parts.append(f"{rs.info.role} source {_safe(rs.info.name)} is {rs.completeness.value}")
    for fam in result.uncovered:
        parts.append(f"no declared source covers IPv{fam}")
    if result.complete and missing:
        state = State.CRITICAL
    elif not result.complete or run.exit_code >= 2 or result.status is Status.INCOMPLETE:
        state = State.UNKNOWN
        if missing:
            parts[0] += " (not verified: the audit is incomplete)"
        if run.error:
            parts.append(_safe(run.error))
    elif extra or result.over_broad or run.exit_code == 1:
        state = State.WARNING
    else:
        state = State.OK
    if not parts:
        parts.append("in sync, every source complete")
    detail = f"{name}: {state.name} - " + "; ".join(parts)
    return AuditState(
        run.name,
        state,
        len(missing),
        (result.missing.size(4), result.missing.size(6)),
        None if extra is None else len(extra),
        len(result.over_broad),
        len(incomplete),
        max(ages) if ages else None,
        detail,
    )


def _perf(name: str, value: float, uom: str = "", warn: str = "", crit: str = "") -> str:
    shown = str(value) if isinstance(value, int) else f"{value:.0f}"
    return f"{label(name)}={shown}{uom};{warn};{crit};0;"


def _of(count: int, total: int, what: str) -> str:
    if total == 1:
        return what
    return f"{count} of {total} audits {what}"


def _summary(states: Sequence[AuditState], worst: State) -> str:
    total = len(states)
    if total == 0:
        return "no audits"
    by = {s: [a for a in states if a.state is s] for s in State}
    one = total == 1
    parts = []
    crit = by[State.CRITICAL]
    if crit:
        cidrs = sum(a.missing_cidrs or 0 for a in crit)
        subject = f"audit {_safe(crit[0].name)}" if one else f"{len(crit)} of {total} audits"
        parts.append(f"{subject} missing {view.plural(cidrs, 'CIDR')}")
    unknown = by[State.UNKNOWN]
    if unknown:
        failed = sum(1 for a in unknown if a.missing_cidrs is None)
        if one:
            what = "failed" if failed else "incomplete"
            parts.append(f"audit {_safe(unknown[0].name)} {what}")
        else:
            parts.append(f"{len(unknown)} of {total} audits failed or incomplete")
    warn = by[State.WARNING]
    if warn:
        extra = sum(a.extra_cidrs or 0 for a in warn)
        broad = sum(a.over_broad for a in warn)
        found = []
        if extra:
            found.append(view.plural(extra, "extra CIDR"))
        if broad:
            found.append(view.plural(broad, "over-broad entry", "over-broad entries"))
        with_what = " and ".join(found) or "findings"
        subject = f"audit {_safe(warn[0].name)}" if one else f"{len(warn)} of {total} audits"
        parts.append(f"{subject} with {with_what}")
    if worst is State.OK:
        parts.append(
            f"audit {_safe(states[0].name)} in sync" if one else f"all {total} audits in sync"
        )
        parts[-1] += ", every source complete"
    return ", ".join(parts)


def render(runs: Sequence[AuditRun]) -> tuple[str, int]:
    """The plugin output for ``runs`` (the status line, then a line per audit; it ends with a
    newline) and the plugin exit code."""
    states = [_audit_state(run) for run in sorted(runs, key=lambda r: r.name)]
    worst = max((a.state for a in states), key=_SEVERITY.index, default=State.UNKNOWN)
    compared = [a for a in states if a.missing_cidrs is not None]
    perf = [
        _perf("missing_cidrs", sum(a.missing_cidrs or 0 for a in compared), crit="0"),
        _perf("missing_ipv4_addresses", sum(a.missing_addresses[0] for a in compared)),
        _perf("missing_ipv6_addresses", sum(a.missing_addresses[1] for a in compared)),
    ]
    scoped = [a for a in compared if a.extra_cidrs is not None]
    if scoped:
        perf.append(_perf("extra_cidrs", sum(a.extra_cidrs or 0 for a in scoped), warn="0"))
    perf.append(_perf("over_broad", sum(a.over_broad for a in compared), warn="0"))
    perf.append(_perf("incomplete_sources", sum(a.incomplete_sources for a in states)))
    perf.append(_perf("failed_audits", len(states) - len(compared), crit="0"))
    ages = [a.age_s for a in states if a.age_s is not None]
    if ages:
        perf.append(_perf("source_age", max(ages), "s"))
    if len(states) > 1:
        for a in compared:
            perf.append(_perf(f"{a.name}_missing_cidrs", a.missing_cidrs or 0, crit="0"))
    head = f"AUDITOR {worst.name} - {_summary(states, worst)} | {' '.join(perf)}"
    body = "".join(f"{a.detail}\n" for a in states)
    return f"{head}\n{body}", int(worst)
