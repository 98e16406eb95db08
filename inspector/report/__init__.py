"""Session reports: one self-contained HTML file per recorded session (``inspector export --html``)."""

from ._html import ReportOptions, session_report

__all__ = ["ReportOptions", "session_report"]
