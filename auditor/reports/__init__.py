"""Reports, one module per output format; :data:`REPORTS` lists them."""

from auditor.reports.base import REPORTS, Report, ReportContext, report_for

__all__ = ["REPORTS", "Report", "ReportContext", "report_for"]
