"""The report interface, its context, and the family's registry."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar

from auditor import plugins
from auditor.model import AuditResult
from auditor.registry import Registry


@dataclass(frozen=True)
class ReportContext:
    rules: tuple[tuple[str, str], ...] = ()
    """(platform, rendered rules) for each --rules given."""
    color: bool = False
    """Rich output for a terminal; plain, stable text otherwise."""
    width: int | None = None
    """Terminal columns for rich output; None asks the terminal (100 when it cannot tell)."""


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
