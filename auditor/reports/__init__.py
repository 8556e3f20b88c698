"""Reports, one module per output format."""

from auditor.reports import (  # noqa: F401  (registration)
    cidr,
    csv_report,
    json_report,
    markdown,
    text,
)
from auditor.reports.base import REPORTS, Report, ReportContext, report_for

__all__ = ["REPORTS", "Report", "ReportContext", "report_for"]
