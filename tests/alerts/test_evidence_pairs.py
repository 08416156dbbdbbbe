"""Alert evidence shows tool-call pairs side by side (function, arguments, the difference the
judge named, which judge decided) and JSON answers' differing fields; Slack and PagerDuty
carry it within their documented formats; GET /v1/alerts/{id} returns it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from shadowgap.alerts.channels.pagerduty import build_pagerduty
from shadowgap.alerts.channels.slack import MAX_FIELD_TEXT, build_slack
from shadowgap.alerts.channels.webhook import build_webhook
from shadowgap.alerts.pairs import MAX_ARGUMENTS_CHARS, compare_pair
from shadowgap.alerts.schemas import AlertEvidence
from shadowgap.bidi import FSI, PDI
from shadowgap.config import get_settings
from shadowgap.db.engine import session_scope
from tests.support.alert_formats import pagerduty_problems, slack_problems
from tests.support.alert_rows import NOW, make_settings
from tests.support.settings import auth
from tests.support.tool_pairs import HOSTILE_CITY, call, seed_agent_pairs
from tests.support.tools import TRAVEL_TOOLS


@pytest.fixture
def evidence(session: Session, tmp_path: Path) -> tuple[Any, dict[str, Any]]:
    alert = seed_agent_pairs(session, make_settings(tmp_path), NOW)
    return alert, alert.evidence


def _examples(evidence: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {example["event_id"]: example for example in evidence["examples"]}


def test_evidence_puts_the_calls_side_by_side_with_the_named_difference(
    evidence: tuple[Any, dict[str, Any]],
) -> None:
    _, stored = evidence
    examples = _examples(stored)
    assert list(examples) == ["agent-missing-city", "agent-hostile-argument", "agent-json-field"]

    missing = examples["agent-missing-city"]
    assert missing["judge"] == "tool-calls"
    comparison = missing["comparison"]
    assert comparison["mode"] == "tool-calls"
    assert comparison["difference"] == "missing_argument"
    (pair,) = comparison["pairs"]
    assert pair["cheap"] == {
        "name": "get_weather",
        "arguments": '{\n  "unit": "celsius"\n}',
        "valid_json": True,
    }
    assert pair["flagship"]["arguments"] == '{\n  "city": "Rome",\n  "unit": "celsius"\n}'
    (difference,) = comparison["differences"]
    assert difference["kind"] == "missing_argument"
    assert (difference["side"], difference["function"]) == ("cheap", "get_weather")
    assert "city" in (difference["path"] or "") + (difference["detail"] or "")

    hostile = examples["agent-hostile-argument"]["comparison"]
    assert hostile["difference"] == "wrong_value"
    assert json.loads(hostile["pairs"][0]["cheap"]["arguments"]) == {"city": HOSTILE_CITY}

    structured = examples["agent-json-field"]
    assert structured["judge"] == "structured-output"
    assert structured["comparison"]["mode"] == "structured-output"
    assert structured["comparison"]["difference"] == "field_differs"
    assert structured["comparison"]["differing_fields"] == ["$.temp_c"]
    assert "pairs" not in structured["comparison"]  # JSON answers: no calls
    # The stored evidence reads back through the typed model unchanged.
    assert AlertEvidence.read(stored).to_json() == stored


def test_pairs_follow_the_judges_matching_and_stay_bounded() -> None:
    request = {"messages": [], "params": {"tools": TRAVEL_TOOLS}}
    cheap = [
        call("send_email", {"to": "a", "body": "b"}, "c1"),
        call("get_weather", {"city": "Oslo"}, "c2"),
    ]
    flagship = [call("get_weather", {"city": "Oslo"}, "f1")]
    comparison = compare_pair(request, "", cheap, "", flagship, {"mode": "tool-calls"})
    assert comparison is not None
    rows = [
        (p.cheap.name if p.cheap else None, p.flagship.name if p.flagship else None)
        for p in comparison.pairs
    ]
    # The equivalent call is matched, the extra one stands against nothing.
    assert rows == [("get_weather", "get_weather"), ("send_email", None)]

    huge = call("get_weather", {"city": "x" * 10_000})
    broken = call("get_weather", '{"city": "Oslo"')  # not JSON: shown as sent
    comparison = compare_pair(request, "", [huge], "", [broken], None)
    assert comparison is not None and comparison.mode == "text"
    (pair,) = comparison.pairs
    assert pair.cheap and pair.cheap.arguments and pair.flagship
    assert len(pair.cheap.arguments) == MAX_ARGUMENTS_CHARS
    assert pair.cheap.arguments.endswith("…")
    assert (pair.flagship.arguments, pair.flagship.valid_json) == ('{"city": "Oslo"', False)
    # Two prose answers judged as text need no side-by-side view.
    assert compare_pair(None, "a", None, "b", None, {"mode": "answer-match"}) is None


def _fields_blocks(message: dict[str, Any]) -> list[dict[str, Any]]:
    return [b for b in message["blocks"] if b["type"] == "section" and "fields" in b]


@pytest.mark.parametrize("action", ["trigger", "renotify"])
def test_slack_shows_the_calls_in_two_columns_within_block_kit_limits(
    evidence: tuple[Any, dict[str, Any]], action: str
) -> None:
    alert, stored = evidence
    message = build_slack(alert, stored, action)
    assert slack_problems(message) == []
    # The summary fields, then one two-column section per tool-call example.
    pairs = _fields_blocks(message)[1:]
    assert len(pairs) == 2
    header, missing = pairs[0]["fields"][:2], pairs[0]["fields"][2:]
    assert header[0]["text"].startswith("*Cheap calls* (small-model)")
    assert header[1]["text"].startswith("*Flagship calls* (flagship-model)")
    assert missing[0]["text"] == '`get_weather`\n```{\n  "unit": "celsius"\n}```'
    assert '"city": "Rome"' in missing[1]["text"]
    texts = [b["text"]["text"] for b in message["blocks"] if b["type"] == "section" and "text" in b]
    first = next(t for t in texts if t.startswith("*Example 1*"))
    assert "decided by tool-calls" in first and "difference: *missing_argument*" in first
    assert "*Differences named by the judge*" in first and "missing_argument (cheap)" in first
    structured = next(t for t in texts if t.startswith("*Example 3*"))
    assert "decided by structured-output" in structured
    assert "fields differ: $.temp_c" in structured

    # A hostile argument is escaped for mrkdwn and its right-to-left override isolated.
    hostile = pairs[1]["fields"][2]["text"]
    assert "<b>" not in hostile and "&lt;b&gt;Paris&lt;/b&gt;" in hostile
    assert FSI in hostile and PDI in hostile
    assert hostile.index(FSI) < hostile.index("\u202e") < hostile.index(PDI)


def test_slack_cuts_huge_arguments_to_the_field_limit(
    evidence: tuple[Any, dict[str, Any]],
) -> None:
    alert, stored = evidence
    example = stored["examples"][0]
    cheap = example["comparison"]["pairs"][0]["cheap"]
    cheap["arguments"] = "<&>" * 5000  # 15,000 characters, 45,000 once escaped
    cheap["name"] = "```" + "n" * 500
    example["comparison"]["pairs"] *= 7  # more pairs than ten fields hold
    message = build_slack(alert, stored, "trigger")
    assert slack_problems(message) == []
    fields = _fields_blocks(message)[1]["fields"]
    assert len(fields) == 10
    assert all(len(f["text"]) <= MAX_FIELD_TEXT for f in fields)
    assert fields[2]["text"].endswith("…```")


def test_pagerduty_custom_details_carry_the_pairs(evidence: tuple[Any, dict[str, Any]]) -> None:
    alert, stored = evidence
    body = build_pagerduty(alert, stored, "trigger")
    assert pagerduty_problems({**body, "routing_key": "r" * 32}) == []
    examples = body["payload"]["custom_details"]["examples"]
    first = examples[0]
    assert first["judge"] == "tool-calls"
    assert first["comparison"]["difference"] == "missing_argument"
    assert first["comparison"]["tool_calls"] == [
        {
            "cheap": 'get_weather({"unit": "celsius"})',
            "flagship": 'get_weather({"city": "Rome", "unit": "celsius"})',
        }
    ]
    assert first["comparison"]["differences"][0].startswith("missing_argument (cheap) get_weather")
    assert examples[2]["comparison"]["fields"] == "fields differ: $.temp_c"
    # The webhook sends the evidence as stored: the comparison rides along.
    webhook = build_webhook(alert, stored, "trigger")
    assert webhook["evidence"]["examples"][0]["comparison"]["pairs"]


def test_get_alert_returns_the_side_by_side_evidence(embedded: str, client: TestClient) -> None:
    with session_scope() as session:
        alert_id = seed_agent_pairs(session, get_settings(), NOW).id
    response = client.get(f"/v1/alerts/{alert_id}", headers=auth("read"))
    assert response.status_code == 200, response.text
    examples = response.json()["evidence"]["examples"]
    comparison = examples[0]["comparison"]
    assert comparison["difference"] == "missing_argument"
    assert comparison["pairs"][0]["cheap"]["name"] == "get_weather"
    assert comparison["differences"][0]["kind"] == "missing_argument"
    assert examples[2]["comparison"]["differing_fields"] == ["$.temp_c"]
    listed = client.get("/v1/alerts", headers=auth("read")).json()["alerts"]
    assert listed[0]["evidence"]["examples"][0]["comparison"]["mode"] == "tool-calls"
