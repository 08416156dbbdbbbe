"""The demo's traffic, end to end through the domain functions the jobs call: a routing-share
shift and a quality drop injected into the small tenant are detected there and nowhere else,
and its alerts' evidence blames the router, as injected (see shadowgap/cli/demo/traffic.py).

Ingest goes through the HTTP API; shadow runs (recorded GPT-4 answers), judging and the
detectors run in-process in event order, as the worker would run them, so the test stays
deterministic. tests/integration/test_pipeline_worker.py covers the same stages on real workers.
"""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi.testclient import TestClient
from sqlalchemy import select

from shadowgap.alerts.lifecycle import open_or_update
from shadowgap.cli.demo.traffic import load_pairs, simulate
from shadowgap.config import get_settings
from shadowgap.db import models
from shadowgap.db.engine import session_scope
from shadowgap.drift.store import update_segment
from shadowgap.judging.factory import judge_for_segment
from shadowgap.judging.score import score_event
from shadowgap.llm.factory import make_flagship_client
from shadowgap.shadow.runs import run_shadow
from tests.support.settings import GSM8K_CSV, auth


def test_regression_is_caught_in_the_small_tenant_only(
    embedded: str, configure, client: TestClient
) -> None:
    # The shipped sampling defaults, as the demo runs them.
    configure(recorded_answers_path=GSM8K_CSV)
    traffic = simulate(load_pairs(GSM8K_CSV), n_events=48_000)
    for start in range(0, len(traffic.events), 2000):
        response = client.post(
            "/v1/events", json=traffic.events[start : start + 2000], headers=auth()
        )
        assert response.status_code == 200, response.text

    settings = get_settings()
    flagship = make_flagship_client(settings)
    with session_scope() as session:
        decisions = session.execute(
            select(
                models.SamplingDecision.event_pk,
                models.SamplingDecision.replicates,
                models.Segment.key,
            )
            .join(models.Segment, models.Segment.id == models.SamplingDecision.segment_id)
            .order_by(models.SamplingDecision.event_pk)
        ).all()
        for event_pk, replicates, key in decisions:
            for replicate in range(replicates):
                run_shadow(session, event_pk, replicate, flagship, settings)
            score_event(session, event_pk, judge_for_segment(key, settings), settings)
        segments = dict(session.execute(select(models.Segment.id, models.Segment.key)).all())
        for segment_id in segments:
            update_segment(session, segment_id, settings)
        detected = session.execute(
            select(
                models.DriftEvent.segment_id,
                models.DriftEvent.signal,
                models.DriftEvent.at_event_pk,
            )
        ).all()
        # The alert stage, as alerts.evaluate runs it on each drift event.
        for drift_id in session.scalars(
            select(models.DriftEvent.id).order_by(models.DriftEvent.id)
        ):
            open_or_update(session, drift_id, settings, datetime.now(UTC))
        evidence = {
            (segments[alert.segment_id], alert.signal): alert.evidence
            for alert in session.scalars(select(models.Alert))
        }
        shift_pk = session.execute(
            select(models.TrafficEvent.id).where(
                models.TrafficEvent.event_id == traffic.events[traffic.shift_index]["event_id"]
            )
        ).scalar_one()

    caught = {(segments[segment_id], signal) for segment_id, signal, _ in detected}
    assert caught == {
        (traffic.regressing_segment, "routing_share"),
        (traffic.regressing_segment, "quality_gap"),
    }
    # Detected after the break, not before it.
    assert all(
        at_event_pk is not None and at_event_pk >= shift_pk for _, _, at_event_pk in detected
    )

    # Each alert's evidence says why, as injected (shadowgap/cli/demo/traffic.py): the raised
    # threshold, the router sending more of the tenant cheap, is the largest part of the rise
    # in expected flagship wins per request. The routing-share alert's windows show it clearly;
    # the quality-gap alert's after-window is the stretch where the flagship won most, so the
    # cheap path on comparable requests takes more there, yet less than the router.
    assert set(evidence) == caught
    for (_, signal), alert_evidence in evidence.items():
        attribution = alert_evidence["attribution"]
        assert attribution["available"] and attribution["scored"], (signal, attribution)
        quality = attribution["quality"]
        assert quality["change"] > 0, (signal, quality)
        shares = {f["factor"]: f["share"] for f in quality["factors"]}
        assert max(shares, key=lambda name: shares[name]) == "router_share", (signal, shares)
        assert shares["router_share"] > (0.5 if signal == "routing_share" else 0.4), shares
        assert (
            "of the rise comes from the router sending more of this segment cheap"
            in (attribution["headline"])
        ), (signal, attribution["headline"])

    # The same regression is found as a slice without being declared (issue 12), as the top
    # slice discovery reports over the last week of event time. (Others can be real too: the
    # cheap model's answers to longer GSM8K questions lose more often everywhere, and a
    # prompt_length slice has been reported above it on a live demo run.)
    from shadowgap.slices.discovery import discover

    with session_scope() as session:
        summary = discover(session, settings, datetime.now(UTC))
        keys = [session.get(models.Slice, slice_id).key for slice_id in summary.found]  # type: ignore[union-attr]
    assert any(traffic.regressing_segment in key.split("&") for key in keys), keys
    assert keys[0] == traffic.regressing_segment, keys
