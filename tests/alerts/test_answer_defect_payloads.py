"""An alert on an answer-defect signal names the tool and the error kind in Slack and
PagerDuty (payloads checked against the documented formats)."""

from __future__ import annotations

from typing import Any

from shadowgap.alerts.channels.pagerduty import build_pagerduty
from shadowgap.alerts.channels.slack import build_slack
from shadowgap.alerts.schemas import AlertEvidence
from shadowgap.alerts.text import defects_line
from tests.support.alert_formats import pagerduty_problems, slack_problems
from tests.support.alert_rows import NOW, make_alert


def _evidence(tool: str = "book_flight") -> dict[str, Any]:
    window = {"value": 0.02, "n": 700, "ci": [0.012, 0.033], "ci_method": "wilson"}
    return {
        "type": "drift",
        "segment": {"id": 7, "key": "tenant=travel", "volume_share": 0.1},
        "signal": "tool_call_invalid_rate",
        "signal_kind": "rate",
        "before": window,
        "after": {**window, "value": 0.31, "n": 120, "ci": [0.23, 0.40]},
        "change": {"delta": 0.29, "effect_size": 0.29},
        "detector": {"name": "self_starting_bernoulli", "sample_index": 820},
        "answer_defects": {
            "answers": 120,
            "defective": 37,
            "by_kind": [
                {
                    "tool": tool,
                    "kind": "missing_argument",
                    "path": "date",
                    "count": 33,
                    "event_id": "trip-801",
                },
                {
                    "tool": tool,
                    "kind": "invalid_arguments_json",
                    "path": None,
                    "count": 4,
                    "event_id": "trip-845",
                },
            ],
        },
        "dashboard_url": "http://dash.example/segments/tenant=travel",
    }


def test_the_defects_line_names_tool_kind_and_argument() -> None:
    line = defects_line(AlertEvidence.read(_evidence()))
    assert line == (
        "37 of 120 answers: book_flight missing_argument at date (33), "
        "book_flight invalid_arguments_json (4)"
    )
    assert defects_line(AlertEvidence.read({**_evidence(), "answer_defects": None})) is None


def test_slack_and_pagerduty_carry_the_defects() -> None:
    alert = make_alert(signal="tool_call_invalid_rate", opened_at=NOW)
    slack = build_slack(alert, _evidence("<b>book</b>"), "trigger")
    assert slack_problems(slack) == []
    texts = [b["text"]["text"] for b in slack["blocks"] if b["type"] == "section" and "text" in b]
    (defects,) = [t for t in texts if t.startswith("*Defects*")]
    assert "&lt;b&gt;book&lt;/b&gt; missing_argument at date (33)" in defects
    pagerduty = build_pagerduty(alert, _evidence(), "trigger")
    assert pagerduty_problems({**pagerduty, "routing_key": "r" * 32}) == []
    assert pagerduty["payload"]["custom_details"]["defects"].startswith("37 of 120 answers")
