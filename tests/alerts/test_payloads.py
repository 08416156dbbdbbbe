"""Evidence, payload builders (Slack, PagerDuty, webhook) and routing rules."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

from shadowgap.alerts.channels.pagerduty import build_pagerduty, dedup_key
from shadowgap.alerts.channels.slack import build_slack, escape, fit
from shadowgap.alerts.channels.webhook import build_webhook
from shadowgap.alerts.evidence import build_drift_evidence
from shadowgap.alerts.routing import RoutingRule, channels_for, parse_routes, select_channels
from shadowgap.errors import InvalidInput
from shadowgap.stats.estimates import normal_interval, wilson_interval
from tests.support.alert_formats import pagerduty_problems, slack_problems
from tests.support.alert_rows import (
    NOW,
    add_drift,
    add_event,
    add_segment,
    make_alert,
    make_settings,
)

# --- evidence --------------------------------------------------------------------------------


@pytest.fixture
def seeded(session: Session) -> dict[str, Any]:
    """acme: 20 events before the change (one flagship win), 10 after; globex interleaved."""
    acme = add_segment(session, "tenant=acme", 9000)
    globex = add_segment(session, "tenant=globex", 1000)
    ids: dict[int, int] = {}
    for n in range(1, 31):
        if n == 5:
            event = add_event(session, acme, n, winner="flagship", gap=0.99, rationale="old")
        elif n in (22, 25, 29):
            event = add_event(
                session,
                acme,
                n,
                answer=f"cheap answer {n}: 12 apples",
                winner="flagship",
                gap={22: 0.6, 25: 0.9, 29: 0.3}[n],
                rationale=f"rationale {n}: the cheap answer dropped a step",
                flagship=f"flagship answer {n}: 14 apples",
            )
        elif n == 27 or (n < 20 and n % 3 == 0):
            event = add_event(session, acme, n, winner="tie", gap=0.0, rationale="same")
        else:
            event = add_event(session, acme, n)
        ids[n] = event.id
        add_event(session, globex, n, winner="flagship", gap=1.0, rationale="other segment")
    return {"acme": acme, "globex": globex, "ids": ids}


def test_evidence_has_examples_with_both_answers_and_rationale(
    session: Session, seeded: dict[str, Any], tmp_path: Path
) -> None:
    ids = seeded["ids"]
    # quality_gap is fed by verdicts: after_n = 4 judged pairs after the change (22..29).
    drift = add_drift(session, seeded["acme"], at_event_pk=ids[30], after_n=4)

    evidence = build_drift_evidence(session, drift, seeded["acme"], make_settings(tmp_path))

    assert evidence["segment"]["key"] == "tenant=acme"
    assert evidence["segment"]["volume_share"] == pytest.approx(0.9)
    assert evidence["signal"] == "quality_gap"
    assert evidence["before"]["n"] == 800 and evidence["after"]["n"] == 4
    assert evidence["before"]["ci_method"] == "wilson"  # a flagship-wins rate
    assert evidence["detector"] == {
        "name": "page_hinkley",
        "statistic": 12.5,
        "threshold": 10.0,
        "sample_index": 1000,
        "detected_at": NOW.isoformat(),
        "at_event_pk": ids[30],
    }
    examples = evidence["examples"]
    # Flagship wins from the after window only, biggest gap first; nothing from globex or n=5.
    assert [e["event_pk"] for e in examples] == [ids[25], ids[22], ids[29]]
    for example in examples:
        n = int(example["event_id"].rsplit("-", 1)[1])
        assert example["cheap_answer"] == f"cheap answer {n}: 12 apples"
        assert example["flagship_answer"] == f"flagship answer {n}: 14 apples"
        assert example["rationale"] == f"rationale {n}: the cheap answer dropped a step"
        assert example["winner"] == "flagship"
        assert example["prompt"] == f"question {n} for tenant=acme"
    assert evidence["dashboard_url"] == "http://dash.example/segments/tenant=acme"


def test_event_signal_examples_fall_back_to_recent_cheap_requests(
    session: Session, seeded: dict[str, Any], tmp_path: Path
) -> None:
    ids = seeded["ids"]
    drift = add_drift(
        session,
        seeded["acme"],
        signal="latency",
        before=800.0,
        after=2400.0,
        at_event_pk=ids[30],
        after_n=5,
    )
    evidence = build_drift_evidence(session, drift, seeded["acme"], make_settings(tmp_path))
    # Window = the last 5 events (26..30): the flagship win, then the tie, then plain requests.
    assert [e["event_pk"] for e in evidence["examples"]] == [ids[29], ids[27], ids[30]]
    assert evidence["examples"][2]["flagship_answer"] is None
    assert evidence["change"]["effect_size"] == pytest.approx(2.0)


def test_confidence_intervals() -> None:
    """The evidence uses the one stats module's intervals (shadowgap/stats/estimates.py)."""
    rate = wilson_interval(0.05 * 800, 800)
    assert (rate.low, rate.high) == (
        pytest.approx(0.03693, abs=2e-5),
        pytest.approx(0.06737, abs=2e-5),
    )
    assert wilson_interval(0.0, 10).low == 0.0
    assert wilson_interval(0, 0).low is None
    mean = normal_interval(0.05, 0.2, 800)
    assert (mean.low, mean.high) == (
        pytest.approx(0.036141, abs=1e-5),
        pytest.approx(0.063859, abs=1e-5),
    )
    assert normal_interval(1.0, None, 10).low is None


# --- payloads --------------------------------------------------------------------------------


def big_evidence(key: str = "tenant=acme") -> dict[str, Any]:
    nasty = "<b>&amp; if x < y && y > z</b> " * 400  # ~12k characters, all needing escapes
    example = {
        "event_id": "evt-" + "9" * 300,
        "route_model": "small-model",
        "prompt": nasty,
        "cheap_answer": nasty,
        "flagship_model": "flagship-model",
        "flagship_answer": nasty,
        "winner": "flagship",
        "gap_score": 0.8,
        "rationale": nasty,
    }
    window = {"value": 0.05, "n": 800, "ci": [0.037, 0.067], "ci_method": "wilson"}
    return {
        "type": "drift",
        "segment": {"id": 7, "key": key, "volume_share": 0.5},
        "signal": "quality_gap",
        "signal_kind": "rate",
        "before": window,
        "after": {**window, "value": 0.45, "n": 200, "ci": [0.38, 0.52]},
        "change": {"delta": 0.4, "effect_size": 0.4},
        "detector": {
            "name": "page_hinkley",
            "statistic": 12.5,
            "threshold": 10.0,
            "sample_index": 1000,
            "detected_at": NOW.isoformat(),
        },
        "examples": [example, example, example],
        "dashboard_url": f"http://dash.example/segments/{key}",
        "drift_events": [{"drift_event_id": 1}],
    }


@pytest.mark.parametrize("action", ["trigger", "renotify", "resolve"])
def test_slack_message_stays_within_block_kit_limits(action: str) -> None:
    key = "tenant=" + "x" * 600
    evidence = big_evidence(key)
    evidence["resolution"] = {"by": "auto", "recent": {"value": 0.06, "n": 200}}
    message = build_slack(make_alert(signal="s" * 64), evidence, action)
    assert slack_problems(message) == []
    assert message["blocks"][-1]["type"] == "actions"
    assert message["blocks"][-1]["elements"][0]["url"] == evidence["dashboard_url"]


def test_slack_escapes_and_cuts_cleanly() -> None:
    message = build_slack(make_alert(), big_evidence(), "trigger")
    sections = [b for b in message["blocks"] if b["type"] == "section" and "text" in b]
    example = sections[-1]["text"]["text"]
    assert "<b>" not in example and "&lt;b&gt;" in example
    assert "*Cheap answer*" in example and "*Flagship answer*" in example
    assert "*Judge's rationale*" in example
    assert fit(escape("a" * 10 + "&"), 13) == "a" * 10 + "…"  # no half '&amp;'
    assert message["text"].startswith("[CRITICAL] quality_gap drift in tenant=acme")


def test_slack_block_cap_keeps_the_dashboard_button() -> None:
    evidence = big_evidence()
    evidence["examples"] = evidence["examples"] * 30
    message = build_slack(make_alert(), evidence, "trigger")
    assert len(message["blocks"]) == 50
    assert message["blocks"][-1]["type"] == "actions"
    assert slack_problems(message) == []


def test_pagerduty_trigger_and_resolve_share_the_dedup_key() -> None:
    alert, evidence = make_alert(), big_evidence("tenant=" + "k" * 400)
    trigger = build_pagerduty(alert, evidence, "trigger")
    resolved = build_pagerduty(alert, evidence, "resolve")
    assert trigger["dedup_key"] == resolved["dedup_key"] == dedup_key(alert, evidence)
    assert len(trigger["dedup_key"]) <= 255
    assert pagerduty_problems({**trigger, "routing_key": "r" * 32}) == []
    assert pagerduty_problems({**resolved, "routing_key": "r" * 32}) == []
    assert resolved == {"dedup_key": trigger["dedup_key"], "event_action": "resolve"}
    payload = trigger["payload"]
    assert len(payload["summary"]) <= 1024 and payload["severity"] == "critical"
    assert payload["custom_details"]["examples"][0]["rationale"].endswith("…")
    short = build_pagerduty(make_alert(), big_evidence(), "trigger")
    assert short["dedup_key"] == "shadowgap/tenant=acme/quality_gap/42"
    assert short["links"] == [
        {"href": "http://dash.example/segments/tenant=acme", "text": "Segment dashboard"}
    ]


def test_pagerduty_severity_follows_the_alert() -> None:
    for severity in ("critical", "error", "warning", "info"):
        body = build_pagerduty(make_alert(severity=severity), big_evidence(), "trigger")
        assert body["payload"]["severity"] == severity


def test_webhook_body_carries_alert_and_evidence() -> None:
    body = build_webhook(make_alert(), big_evidence(), "trigger")
    assert body["type"] == "shadowgap.alert.trigger"
    assert body["alert"]["segment_key"] == "tenant=acme"
    assert body["evidence"]["examples"][0]["rationale"]
    assert body["id"] != build_webhook(make_alert(), big_evidence(), "trigger")["id"]


# --- routing ---------------------------------------------------------------------------------


def test_parse_routes() -> None:
    rules = parse_routes(" slack:* ; pagerduty:critical,error:tenant=acme*|team=a:b ; webhook:info")
    assert rules == [
        RoutingRule("slack", frozenset({"critical", "error", "warning", "info"}), ("*",)),
        RoutingRule("pagerduty", frozenset({"critical", "error"}), ("tenant=acme*", "team=a:b")),
        RoutingRule("webhook", frozenset({"info"}), ("*",)),
    ]
    assert rules[1].matches("error", "tenant=acme-eu")
    assert not rules[1].matches("warning", "tenant=acme-eu")
    assert not rules[1].matches("error", "tenant=globex")
    assert rules[1].matches("critical", "team=a:b")
    for bad in ("sms:*", "slack", "slack:fatal", "slack:*:|"):
        with pytest.raises(InvalidInput):
            parse_routes(bad)


def test_default_routes_and_outbox(tmp_path: Path) -> None:
    nothing = make_settings(tmp_path)
    assert channels_for(nothing, "critical", "tenant=acme") == ["outbox"]
    slack_only = make_settings(tmp_path, slack_webhook_url="http://127.0.0.1:9/x")
    assert channels_for(slack_only, "critical", "tenant=acme") == ["slack"]
    everything = make_settings(
        tmp_path,
        slack_webhook_url="http://127.0.0.1:9/x",
        pagerduty_routing_key="k" * 32,
        webhook_url="http://127.0.0.1:9/y",
    )
    assert channels_for(everything, "critical", "t") == ["slack", "pagerduty", "webhook"]
    assert channels_for(everything, "error", "t") == ["slack", "pagerduty", "webhook"]
    assert channels_for(everything, "warning", "t") == ["slack", "webhook"]
    assert channels_for(everything, "info", "t") == ["slack", "webhook"]
    # A rule for an unconfigured channel does nothing; an explicit outbox rule works.
    pd_only_rules = parse_routes("pagerduty:*; outbox:info")
    assert select_channels(pd_only_rules, slack_only, "info", "t") == ["outbox"]
    assert select_channels(pd_only_rules, slack_only, "error", "t") == []


def test_timestamps_in_payloads_are_iso() -> None:
    alert = make_alert(opened_at=datetime(2025, 1, 1, tzinfo=UTC))
    evidence = big_evidence()
    del evidence["detector"]
    body = build_pagerduty(alert, evidence, "trigger")
    assert body["payload"]["timestamp"] == "2025-01-01T00:00:00+00:00"
