"""The report interface, its context, and the family's registry."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar

from auditor import plugins
from auditor.model import AuditResult
from auditor.registry import Registry
from auditor.runmeta import RunMeta


@dataclass(frozen=True)
class DriftChange:
    """One change since the last run, as a report lists it."""

    change: str
    """What changed: ``newly missing``, ``resolved``, ``provider range added``, ``provider
    range removed``, ``declared entry added``, ``declared entry removed``, ..."""
    item: str
    """The CIDR or entry that came or went."""
    source: str = ""
    """The source (or origin, file:line) it belongs to."""
    first_seen: str = ""
    """When it was first seen (ISO 8601), or empty."""


@dataclass(frozen=True)
class Drift:
    """What changed since the last run of a scheduled audit (``auditor check`` with a state
    dir): the reports that show it render it; without one (``diff``) there is none."""

    since: str
    """When the run compared with started (ISO 8601); empty for the first run."""
    changes: tuple[DriftChange, ...] = ()


@dataclass(frozen=True)
class ReportContext:
    rules: tuple[tuple[str, str], ...] = ()
    """(platform, rendered rules) for each --rules given."""
    color: bool = False
    """Rich output for a terminal; plain, stable text otherwise."""
    width: int | None = None
    """Terminal columns for rich output; None asks the terminal (100 when it cannot tell)."""
    meta: RunMeta | None = None
    """The run the report comes from (version, command line, host, start, duration), shown by
    json, md and html; None outside a command (the reports then show none)."""
    drift: Drift | None = None
    """The changes since the last run, when the command keeps state; None: no drift section."""


class Report(ABC):
    name: ClassVar[str]
    description: ClassVar[str]

    @abstractmethod
    def render(self, result: AuditResult, ctx: ReportContext) -> str:
        """The report as text; it only reads the result."""

    def stream(self, result: AuditResult, ctx: ReportContext) -> Iterator[str]:
        """The report in pieces that join to :meth:`render`'s text, made as they are read:
        reports that list every CIDR write a million of them without holding them all."""
        yield self.render(result, ctx)


REPORTS: Registry[Report] = plugins.REPORTS
"""Every report, one line each in :mod:`auditor.plugins`."""


def report_for(name: str) -> Report:
    return REPORTS.create(name)
