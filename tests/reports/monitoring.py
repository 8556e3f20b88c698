"""AuditRuns for the monitoring outputs, made by the real pipeline on real files: the sources
loaded as ``auditor diff`` loads them, compared by the real core."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path

from auditor import audit
from auditor.cli.loading import load_both
from auditor.cli.options import Options
from auditor.cli.outcome import Outcome, exit_code
from auditor.model import AuditOptions, AuditResult, AuditRun
from auditor.service import Service

STARTED = datetime(2024, 5, 1, 12, 0, 0, tzinfo=timezone.utc)
NOW = STARTED + timedelta(seconds=30)

NODES = "192.0.2.0/24\n198.51.100.0/24\n2001:db8:10::/48\n"
ALLOW_SOME = "192.0.2.0/24\n"
ALLOW_SCOPED = (
    "mail:\n  - 192.0.2.0/24\n  - 198.51.100.0/24\n  - 203.0.113.0/24\n  - 2001:db8:10::/48\n"
)
# an iptables export whose rule matches an ipset that was not given: a partial source
PARTIAL_FW = (
    "*filter\n:INPUT DROP [0:0]\n-A INPUT -s 192.0.2.0/24 -j ACCEPT\n"
    "-A INPUT -m set --match-set relays src -j ACCEPT\nCOMMIT\n"
)


def compare(
    tmp: Path,
    expected: Sequence[str],
    declared: Sequence[str],
    scope: Sequence[str] = (),
    **options: object,
) -> AuditResult:
    """``auditor diff -e ... -d ...`` up to the comparison, on files (relative to ``tmp``)."""
    opts = Options(
        expected=tuple(str(tmp / e) for e in expected),
        declared=tuple(str(tmp / d) for d in declared),
        scope=tuple(scope),
        cache_dir=tmp / "cache",
    )
    svc = Service.parse("tcp/25")
    exp, dec = load_both(opts, svc)
    return audit.compare(exp, dec, AuditOptions(scope=tuple(scope), service=str(svc), **options))  # type: ignore[arg-type]


def run_of(name: str, result: AuditResult, duration: float = 2.5) -> AuditRun:
    """The run of one audit, with the exit code ``auditor diff`` gives its result."""
    code = exit_code(Outcome(complete=result.complete, drift=not result.in_sync))
    return AuditRun(name, int(code), STARTED, duration, result)


def failed(name: str, error: str = "the configuration entry is not valid") -> AuditRun:
    return AuditRun(name, 2, STARTED, 0.5, None, error)
