"""Reports, one module per output format."""

from auditor.reports import cidr  # noqa: F401  (registration)
from auditor.reports.base import REPORTS, Report, ReportContext, report_for

__all__ = ["REPORTS", "Report", "ReportContext", "report_for"]
