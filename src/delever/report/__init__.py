"""Self-contained HTML report of a simulation run (plots, summary, event aggregates, input provenance)."""

from delever.report.html import write_report

__all__ = ["write_report"]
