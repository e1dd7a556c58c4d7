"""The weekly HTML report for support leads (`repmon report`)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.orm import Session

from monitor.report.data import ReportData, ReportError, build_report
from monitor.report.page import render

__all__ = ["ReportData", "ReportError", "build_report", "render", "report_html"]


def report_html(
    session: Session, brand: str, since: datetime, until: datetime, now: datetime | None = None
) -> str:
    """The self-contained HTML page for one brand over [since, until)."""
    return render(build_report(session, brand, since, until), now or datetime.now(UTC))
