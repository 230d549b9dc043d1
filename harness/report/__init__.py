"""Reports a person reads: a self-contained HTML page per run. Rendering only; no checking here."""

from harness.report.html import ReportInput, render_report

__all__ = ["ReportInput", "render_report"]
