"""The report interface, its context, and the family's registry."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from auditor.errors import UsageError
from auditor.model import AuditResult


@dataclass(frozen=True)
class ReportContext:
    rules: tuple[tuple[str, str], ...] = ()
    """(platform, rendered rules) for each --rules given."""
    color: bool = False
    """Rich output for a terminal; plain, stable text otherwise."""
    width: int | None = None
    """Terminal columns for rich output; None asks the terminal (100 when it cannot tell)."""


class Report:
    name: ClassVar[str]
    description: ClassVar[str]

    def render(self, result: AuditResult, ctx: ReportContext) -> str:
        raise NotImplementedError


REPORTS: dict[str, type[Report]] = {}


def register(cls: type[Report]) -> type[Report]:
    if cls.name in REPORTS:
        raise RuntimeError(f"duplicate report name {cls.name!r}")
    REPORTS[cls.name] = cls
    return cls


def report_for(name: str) -> Report:
    try:
        return REPORTS[name]()
    except KeyError:
        raise UsageError(
            f"unknown report {name!r}", hint="choose one of: " + ", ".join(sorted(REPORTS))
        ) from None
