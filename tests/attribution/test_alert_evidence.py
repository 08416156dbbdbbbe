"""Every drift alert's evidence carries the attribution, and Slack / PagerDuty show its why."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import numpy as np
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from benchmarks.attribution_scenarios import BASE, SCENARIOS, generate
from shadowgap.alerts.channels.pagerduty import build_pagerduty
from shadowgap.alerts.channels.slack import build_slack
from shadowgap.alerts.evidence import build_drift_evidence
from shadowgap.alerts.lifecycle import observe, open_or_update, refresh_attribution
from shadowgap.config import get_settings
from shadowgap.db.engine import session_scope
from shadowgap.db.models import Alert, Verdict
from tests.support.alert_formats import pagerduty_problems, slack_problems
from tests.support.alert_rows import NOW, ROUTING_KEY, add_drift, add_segment, make_alert
from tests.support.attribution_store import store_period

N = 1500
# Denser judging than the benchmark's, so one seeded draw is far from the noise.
DENSE = (0.5, 1.0)


def _seeded(session: Session, scenario: str) -> tuple:
    _, after = SCENARIOS[scenario]
    rng = np.random.default_rng(5)
    segment = add_segment(session, "tenant=acme", 0)
    start, step = NOW - timedelta(days=2), timedelta(minutes=1)
    before_period = generate(replace(BASE, sample_rates=DENSE), N, rng)
    after_period = generate(replace(after, sample_rates=DENSE), N, rng)
    store_period(session, segment, before_period, start, step, "b")
    after_ids = store_period(session, segment, after_period, start + step * N, step, "a")
    return segment, after_ids


@pytest.mark.parametrize(
    ("scenario", "signal", "phrase"),
    [
        ("routing_share", "routing_share", "router sending more of this segment cheap"),
        ("cheap_quality", "quality_gap", "cheap model doing worse on comparable requests"),
        ("tail_escalations", "latency", "mix of tiers"),
    ],
)
def test_evidence_attribution_matches_the_injected_cause(
    any_db: str, configure, scenario: str, signal: str, phrase: str
) -> None:
    configure(attribution_resamples=99, attribution_before_events=N)
    with session_scope() as session:
        segment, after_ids = _seeded(session, scenario)
        drift = add_drift(
            session,
            segment,
            signal=signal,
            at_event_pk=after_ids[-1],
            after_n=N,
            details={"change_event_pk": after_ids[0]},
        )
        evidence = build_drift_evidence(session, drift, segment, get_settings())
    attribution = evidence["attribution"]
    assert attribution["available"]
    assert attribution["before"]["events"] == N and attribution["after"]["events"] == N
    assert phrase in attribution["headline"]
    if signal != "latency":
        share = int(attribution["headline"].split("%")[0])
        assert share >= 60

    alert = make_alert(signal=signal)
    message = build_slack(alert, evidence, "trigger")
    assert slack_problems(message) == []
    texts = [b.get("text", {}).get("text", "") for b in message["blocks"]]
    why = [text for text in texts if text.startswith("*Why*")]
    assert why and phrase in why[0]
    event = build_pagerduty(alert, evidence, "trigger")
    assert pagerduty_problems({**event, "routing_key": ROUTING_KEY}) == []
    assert phrase in event["payload"]["custom_details"]["why"]


def test_without_a_change_point_the_attribution_says_why_not(embedded: str) -> None:
    with session_scope() as session:
        segment = add_segment(session, "tenant=empty", 0)
        drift = add_drift(session, segment, signal="routing_share", at_event_pk=None, after_n=10)
        evidence = build_drift_evidence(session, drift, segment, get_settings())
    assert evidence["attribution"]["available"] is False
    assert build_slack(make_alert(), evidence, "trigger")["blocks"]


def test_a_routing_alert_attribution_catches_up_as_verdicts_land(any_db: str, configure) -> None:
    # A routing-share alert opens when the events arrive, before the shadow runs of its
    # after-window are judged; the quality split is then recomputed as the verdicts land.
    configure(attribution_resamples=0, attribution_before_events=N)
    settings = get_settings()
    _, after = SCENARIOS["routing_share"]
    rng = np.random.default_rng(5)
    with session_scope() as session:
        segment = add_segment(session, "tenant=acme", 0)
        start, step = NOW - timedelta(days=2), timedelta(minutes=1)
        before_period = generate(replace(BASE, sample_rates=DENSE), N, rng)
        after_period = generate(replace(after, sample_rates=DENSE), N, rng)
        store_period(session, segment, before_period, start, step, "b")
        unjudged = replace(after_period, verdict_weight=np.zeros(N), flagship_won=np.zeros(N))
        after_ids = store_period(session, segment, unjudged, start + step * N, step, "a")
        drift = add_drift(
            session,
            segment,
            signal="routing_share",
            at_event_pk=after_ids[-1],
            after_n=N,
            details={"change_event_pk": after_ids[0]},
        )
        open_or_update(session, drift.id, settings, NOW)
        alert = session.scalars(select(Alert)).one()
        assert alert.evidence["attribution"]["after"]["judged_pairs"] == 0

        judged = np.flatnonzero(after_period.verdict_weight > 0)
        session.add_all(
            Verdict(
                event_pk=after_ids[i],
                segment_id=segment.id,
                kind="gap",
                judge="answer-match",
                winner="flagship" if after_period.flagship_won[i] else "tie",
                gap_score=float(after_period.flagship_won[i]),
                inclusion_probability=1.0 / float(after_period.verdict_weight[i]),
                raw={},
                rationale="",
            )
            for i in judged
        )
        session.flush()
        # A routing-share batch leaves it alone; the quality-gap batch of the verdicts does not.
        observe(session, segment.id, "routing_share", 0.9, 10, settings, NOW)
        assert alert.evidence["attribution"]["after"]["judged_pairs"] == 0
        observe(session, segment.id, "quality_gap", 0.2, 10, settings, NOW)
        attribution = alert.evidence["attribution"]
        assert attribution["after"]["judged_pairs"] == judged.size
        assert "router sending more of this segment cheap" in attribution["headline"]
        assert int(attribution["headline"].split("%")[0]) >= 60
        # No new verdicts, no recomputation.
        assert refresh_attribution(session, segment.id, settings) == []
