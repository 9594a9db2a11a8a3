"""Comparison reports across MLflow runs: one self-contained HTML file, logged back to MLflow."""

from mixtures.report.build import ARTIFACT, ReportLink, build_report, log_report, render_report
from mixtures.report.data import ReportData, load_report_data

__all__ = ["ARTIFACT", "ReportData", "ReportLink", "build_report", "load_report_data", "log_report",
           "render_report"]
