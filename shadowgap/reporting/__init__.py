"""Weekly drift report: SQL aggregates per segment, Evidently drift tests, HTML + JSON, Slack.

Only this package imports evidently, and only from :mod:`shadowgap.reporting.drift_checks`. The
names below load lazily so that importing :mod:`shadowgap.stats.excess_gap` (the dashboard does)
never pulls evidently in.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shadowgap.reporting.slack import slack_summary
    from shadowgap.reporting.weekly import build_weekly_report

__all__ = ["build_weekly_report", "slack_summary"]


def __getattr__(name: str) -> Any:
    if name == "build_weekly_report":
        from shadowgap.reporting.weekly import build_weekly_report

        return build_weekly_report
    if name == "slack_summary":
        from shadowgap.reporting.slack import slack_summary

        return slack_summary
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
