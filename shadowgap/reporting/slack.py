"""The weekly report as a Slack Block Kit message.

Slack's limits that apply here: 50 blocks per message, 3,000 characters per section text,
10 fields of 2,000 characters per section, 150 for a header, 75 for a button label and
3,000 for its URL. Segment keys are user data, so they are escaped and cut to fit.
"""

from __future__ import annotations

from typing import Any

from shadowgap.config import Settings
from shadowgap.db import models

TOP_SEGMENTS = 5
MAX_KEY_CHARS = 120
SECTION_TEXT_LIMIT = 3000
HEADER_LIMIT = 150
SIGNAL_LABELS = {
    "routing_share": "routing share",
    "quality_gap": "quality gap",
    "latency": "latency",
    "cost_per_request": "cost per request",
}


def slack_summary(report: models.Report, settings: Settings) -> dict[str, Any]:
    """Top segments by excess gap x volume, totals and a link to the full report."""
    summary = report.summary or {}
    totals = summary.get("totals", {})
    period = summary.get("period", {})
    base = settings.dashboard_url.rstrip("/")
    url = f"{base}/reports/{report.id}" if report.id is not None else f"{base}/reports"
    since, until = str(period.get("since", ""))[:10], str(period.get("until", ""))[:10]
    header = _cut(f"shadowgap weekly drift report {since} – {until}", HEADER_LIMIT)

    overview = (
        f"*{_int(totals.get('events'))}* events in *{_int(totals.get('segments'))}* segments · "
        f"*{_int(totals.get('segments_with_drift'))}* with drift · "
        f"cost saved *{_usd(totals.get('cost_saved_usd'))}* · "
        f"est. answers worse than flagship *{_int(totals.get('quality_lost'))}* · "
        f"alerts opened *{_int(totals.get('alerts_opened'))}*, "
        f"resolved *{_int(totals.get('alerts_resolved'))}*"
    )
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": header, "emoji": False}},
        {"type": "section", "text": {"type": "mrkdwn", "text": _cut(overview, SECTION_TEXT_LIMIT)}},
        {"type": "divider"},
    ]
    top = summary.get("segments", [])[:TOP_SEGMENTS]
    if not top:
        blocks.append(
            {"type": "section", "text": {"type": "mrkdwn", "text": "No traffic in this period."}}
        )
    for row in top:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": _segment_text(row)}})
    blocks.append(
        {
            "type": "actions",
            "elements": [
                {
                    "type": "button",
                    "text": {"type": "plain_text", "text": "Open the full report"},
                    "url": url[:3000],
                    "action_id": "open_report",
                }
            ],
        }
    )
    blocks.append(
        {
            "type": "context",
            "elements": [
                {
                    "type": "mrkdwn",
                    "text": "Ranked by excess gap (flagship wins beyond its own noise floor) "
                    "× cheap-routed volume.",
                }
            ],
        }
    )
    fallback = _cut(f"{header}: {url}", SECTION_TEXT_LIMIT)
    return {"text": fallback, "blocks": blocks}


def _segment_text(row: dict[str, Any]) -> str:
    cur, prev = row.get("current", {}), row.get("previous", {})
    drifted = ", ".join(SIGNAL_LABELS.get(s, s) for s in row.get("drifted_signals", []))
    ci = cur.get("excess_gap_ci") or [None, None]
    lines = [
        f"*#{row.get('rank')} `{_escape(_cut(str(row.get('key', '')), MAX_KEY_CHARS))}`*",
        f"excess gap {_pct(cur.get('excess_gap'))} (95% CI {_pct(ci[0])} to {_pct(ci[1])}; "
        f"was {_pct(prev.get('excess_gap'))}) on {_int(cur.get('cheap_events'))} cheap events",
        f"routing share {_pct(prev.get('routing_share'))} → {_pct(cur.get('routing_share'))} · "
        f"cost saved {_usd(row.get('cost_saved_usd'))} · "
        f"answers lost {_int(row.get('quality_lost'))}",
        f"drift: {_escape(drifted) if drifted else 'none'}",
    ]
    return _cut("\n".join(lines), SECTION_TEXT_LIMIT)


def _escape(text: str) -> str:
    # Slack's mrkdwn control characters; everything else is literal.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _pct(value: Any) -> str:
    return "n/a" if value is None else f"{float(value) * 100:.1f}%"


def _int(value: Any) -> str:
    return "n/a" if value is None else f"{round(float(value)):,}"


def _usd(value: Any) -> str:
    return "n/a" if value is None else f"${float(value):,.2f}"
