"""One missing CIDR per line, for pipes."""

from __future__ import annotations

from auditor.model import AuditResult
from auditor.reports.base import Report, ReportContext


class CidrReport(Report):
    name = "cidr"
    description = "the missing CIDRs only, one per line"

    def render(self, result: AuditResult, ctx: ReportContext) -> str:
        return result.missing.cidr_lines()
