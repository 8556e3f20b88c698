"""The Prometheus textfile: the state of a run's audits in the text exposition format, for the
node_exporter textfile collector.

One file holds every audit of a run; each metric family has one HELP and one TYPE line whose
texts never change (the collector refuses to merge families whose HELP differs between files).
Label values are escaped as the format asks (backslash, double quote, newline); any other
character of a name goes through as it is, so a label reads back exactly as the audit or
source is named.

What an audit that was not compared, or whose sources were not all complete, exports:

- ``auditor_audit_exit_code`` and ``auditor_audit_complete`` (0) always: a failure is a value
  to alert on, never a missing file or series.
- ``auditor_missing_*``, ``auditor_extra_cidrs`` and ``auditor_over_broad_entries`` only when
  the audit compared something (an audit that failed before comparing has no figures, and 0
  would say "nothing missing"). The figures of an incomplete audit are what it could see:
  alert on ``auditor_audit_complete == 0`` as well as on ``auditor_missing_cidrs > 0``.
- ``auditor_extra_cidrs`` only for an audit with a scope: without one there is no "extra", and
  the series is absent rather than 0.
- ``auditor_source_age_seconds`` only for a source that says when it was read or retrieved (a
  source that failed to load does not).

``auditor_last_success_timestamp_seconds`` is the end of the last run in which the audit was
complete (every source complete and compared, whether or not something was missing: drift is
what ``auditor_missing_cidrs`` says). This run gives it for the audits it completed; for the
others the caller passes what it remembers (the state directory), else the series is absent.
The collector ignores client-side timestamps, so times are values, in seconds since the epoch.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path

from auditor.model import AuditRun, Completeness, RangeSet
from auditor.reports import blocks as report_blocks

# (name, type, help): the families in the order they are written; the texts never change
_FAMILIES: tuple[tuple[str, str, str], ...] = (
    (
        "auditor_audit_exit_code",
        "gauge",
        "Exit code of the audit as auditor diff gives it: 0 in sync and complete, 1 drift,"
        " 2 trouble.",
    ),
    (
        "auditor_audit_complete",
        "gauge",
        "1 when every source of the audit was read completely and compared, else 0.",
    ),
    ("auditor_audit_duration_seconds", "gauge", "How long the audit took."),
    (
        "auditor_missing_cidrs",
        "gauge",
        "Expected addresses the declared side does not allow, as minimal CIDRs.",
    ),
    (
        "auditor_missing_addresses",
        "gauge",
        "Expected addresses the declared side does not allow, by address family.",
    ),
    (
        "auditor_extra_cidrs",
        "gauge",
        "Declared addresses within the scope that nothing expected needs, as minimal CIDRs"
        " (only for audits with a scope).",
    ),
    (
        "auditor_over_broad_entries",
        "gauge",
        "Declared entries broader than the over-broad limit.",
    ),
    (
        "auditor_source_complete",
        "gauge",
        "1 when the source was read completely (or stale, when the audit allows it), else 0.",
    ),
    (
        "auditor_source_age_seconds",
        "gauge",
        "Seconds since the source was retrieved from its provider, or read when it is local.",
    ),
    (
        "auditor_last_success_timestamp_seconds",
        "gauge",
        "When the audit last completed (every source complete), in seconds since the epoch.",
    ),
    (
        "auditor_last_run_timestamp_seconds",
        "gauge",
        "When this run ended, in seconds since the epoch.",
    ),
)

_FAMILY_KEYS = {4: "ipv4", 6: "ipv6"}


def escape_label(value: str) -> str:
    """A label value for the exposition format: backslash, double quote and newline escaped.
    A lone surrogate (an undecodable file name) cannot be written as UTF-8: it is shown as
    its ``\\udcXX`` escape."""
    text = value.encode("utf-8", "backslashreplace").decode("utf-8")
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def number(value: float) -> str:
    """A sample value: integers exactly (an IPv6 address count has more digits than a double
    holds; the parsers read them anyway), other values as Python writes a float."""
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(value)


def _labels(pairs: Iterable[tuple[str, str]]) -> str:
    inner = ",".join(f'{key}="{escape_label(value)}"' for key, value in pairs)
    return "{" + inner + "}" if inner else ""


def _parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=timezone.utc)


def source_time(rs: RangeSet) -> datetime | None:
    """When a source's content was last vouched for: retrieved from its provider (a fetched
    source, also when served from the cache), else read (a local file)."""
    return _parse_time(rs.info.retrieved_at) or _parse_time(rs.info.read_at)


def _usable(rs: RangeSet, allow_stale: bool) -> bool:
    return rs.completeness is Completeness.COMPLETE or (
        allow_stale and rs.completeness is Completeness.STALE
    )


def _end(run: AuditRun) -> float:
    return run.started.timestamp() + max(run.duration_s, 0.0)


def completed(run: AuditRun) -> bool:
    """The audit compared every source, each read completely: a success for
    ``auditor_last_success_timestamp_seconds`` (missing or not)."""
    return run.result is not None and run.result.complete and run.exit_code in (0, 1)


def _sources(run: AuditRun, now: datetime) -> list[tuple[tuple[str, str], int, float | None]]:
    """((role, name), complete, age) per source; a name given twice in one role is one
    series (the collector refuses duplicates): complete only when both are, the older age."""
    result = run.result
    if result is None:
        return []
    seen: dict[tuple[str, str], tuple[int, float | None]] = {}
    for rs in result.sources:
        key = (rs.info.role, rs.info.name)
        ok = int(_usable(rs, result.options.allow_stale))
        when = source_time(rs)
        age = None if when is None else (now - when).total_seconds()
        if key in seen:
            was_ok, was_age = seen[key]
            ok = min(ok, was_ok)
            ages = [a for a in (age, was_age) if a is not None]
            age = max(ages) if ages else None
        seen[key] = (ok, age)
    order = {"expected": 0, "declared": 1}
    keys = sorted(seen, key=lambda k: (order.get(k[0], 2), k[1]))
    return [(key, *seen[key]) for key in keys]


def _samples(
    runs: Sequence[AuditRun], now: datetime, last_success: Mapping[str, float]
) -> dict[str, list[tuple[str, float]]]:
    out: dict[str, list[tuple[str, float]]] = {name: [] for name, _, _ in _FAMILIES}

    def add(family: str, labels: Iterable[tuple[str, str]], value: float) -> None:
        out[family].append((_labels(labels), value))

    for run in sorted(runs, key=lambda r: r.name):
        audit = (("audit", run.name),)
        add("auditor_audit_exit_code", audit, run.exit_code)
        add("auditor_audit_complete", audit, int(completed(run)))
        add("auditor_audit_duration_seconds", audit, float(run.duration_s))
        result = run.result
        if result is not None:
            missing = report_blocks.missing(result)
            add("auditor_missing_cidrs", audit, len(missing))
            for fam in (4, 6):
                family = (*audit, ("family", _FAMILY_KEYS[fam]))
                add("auditor_missing_addresses", family, result.missing.size(fam))
            extra = report_blocks.extra_in_scope(result)
            if extra is not None:
                add("auditor_extra_cidrs", audit, len(extra))
            add("auditor_over_broad_entries", audit, len(result.over_broad))
        for (role, name), ok, age in _sources(run, now):
            labels = (*audit, ("source", name), ("role", role))
            add("auditor_source_complete", labels, ok)
            if age is not None:
                add("auditor_source_age_seconds", labels, age)
        if completed(run):
            add("auditor_last_success_timestamp_seconds", audit, _end(run))
        elif run.name in last_success:
            add("auditor_last_success_timestamp_seconds", audit, last_success[run.name])
    add("auditor_last_run_timestamp_seconds", (), now.timestamp())
    return out


def lines(
    runs: Sequence[AuditRun], now: datetime, last_success: Mapping[str, float] | None = None
) -> Iterator[str]:
    names = [run.name for run in runs]
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise ValueError(f"audit names must be unique in one textfile: {', '.join(dup)}")
    samples = _samples(runs, now, last_success or {})
    for name, kind, help_text in _FAMILIES:
        rows = samples[name]
        if not rows:
            continue
        yield f"# HELP {name} {_escape_help(help_text)}\n"
        yield f"# TYPE {name} {kind}\n"
        for labels, value in rows:
            yield f"{name}{labels} {number(value)}\n"


def render(
    runs: Sequence[AuditRun], now: datetime, last_success: Mapping[str, float] | None = None
) -> str:
    """The textfile for ``runs`` (one per audit, unique names), the run ending at ``now``.
    ``last_success`` gives, by audit name, the last success of the audits this run did not
    complete (from the state kept between runs); without it their series is absent."""
    return "".join(lines(runs, now, last_success))


def write_textfile(path: Path, text: str) -> None:
    """``text`` replaces ``path`` at once: written to a temporary file in the same directory
    (named ``.NAME.XXXXXX.tmp``, which the collector, reading ``*.prom`` only, ignores), then
    renamed over it; a failed write leaves the previous file and no temporary file."""
    from auditor.fsutil import atomic_write

    atomic_write(Path(path), text.encode("utf-8"))
