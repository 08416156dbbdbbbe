"""Candidates from signals that need no judging (issue 23): a slice whose traffic share,
routing share or error rate moved is nominated for exploration before any pair is judged."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
from fastapi.testclient import TestClient
from sqlalchemy import select

from shadowgap.config import get_settings
from shadowgap.db import models
from shadowgap.db.engine import session_scope
from shadowgap.ingest.store import store_events
from shadowgap.schemas import TrafficEvent
from shadowgap.slices import exploration as ex
from shadowgap.slices import movers as mv
from shadowgap.slices.lattice import SearchParams, build_table
from shadowgap.slices.watches import explore
from tests.support.factories import native_event
from tests.support.settings import auth

T0 = datetime(2026, 11, 2, tzinfo=UTC)


def _rows(n: int, key_share: float, key_cheap: float, key_errors: float, seed: int):  # type: ignore[no-untyped-def]
    """n requests: key 'bulk' takes key_share of them, routed cheap and failing at the given
    rates; the other keys are cheap 60% of the time and fail 1%."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        bulk = rng.random() < key_share
        cheap = rng.random() < (key_cheap if bulk else 0.6)
        failed = rng.random() < (key_errors if bulk else 0.01)
        key = "bulk" if bulk else f"k{i % 5}"
        rows.append(({"tenant": "acme", "api_key_alias": key, "user": f"u{i}"}, cheap, failed))
    return rows


def _movers(recent_rows, reference_rows):  # type: ignore[no-untyped-def]
    return mv.movers(
        mv.count(recent_rows), mv.count(reference_rows), len(recent_rows), len(reference_rows)
    )


def test_stationary_traffic_moves_nothing() -> None:
    assert _movers(_rows(3000, 0.05, 0.6, 0.01, 1), _rows(21000, 0.05, 0.6, 0.01, 2)) == []


def test_a_burst_a_routing_change_and_failures_each_nominate_their_key() -> None:
    reference = _rows(21000, 0.05, 0.6, 0.01, 2)
    burst = _movers(_rows(3000, 0.15, 0.6, 0.01, 3), reference)
    assert [(m.condition, m.signal) for m in burst] == [
        (("api_key_alias", "bulk"), "traffic_share")
    ]
    assert burst[0].before < 0.06 < 0.12 < burst[0].now and burst[0].p_value <= mv.MOVE_ALPHA
    routed = _movers(_rows(3000, 0.05, 0.98, 0.01, 4), reference)
    assert [(m.condition, m.signal) for m in routed] == [
        (("api_key_alias", "bulk"), "routing_share")
    ]
    failing = _movers(_rows(3000, 0.05, 0.6, 0.2, 5), reference)
    # The key moved most; its tenant's error rate moved with it (1% -> 2%), less.
    assert (failing[0].condition, failing[0].signal) == (("api_key_alias", "bulk"), "error_rate")
    assert all(m.signal == "error_rate" for m in failing)
    # Users are skipped: every one of them is new in the recent period.
    assert all(m.condition[0] != "user" for m in burst + routed + failing)


def test_a_mover_takes_a_place_before_judged_suspects_without_any_pair() -> None:
    mover = _movers(_rows(3000, 0.15, 0.6, 0.01, 3), _rows(21000, 0.05, 0.6, 0.01, 2))
    empty = build_table([], [], [], [], [])
    watched: list[ex.Watched] = []
    new = ex.nominate(empty, watched, T0 - timedelta(days=7), T0, SearchParams(), movers=mover)
    assert [(w.key, w.source) for w in new] == [("api_key_alias=bulk", "traffic")]
    assert new[0].volume_per_day > 0 and new[0].evidence["now"] > new[0].evidence["before"]
    # Watched already: not again.
    assert (
        ex.nominate(empty, watched, T0 - timedelta(days=7), T0, SearchParams(), movers=mover) == []
    )


def test_the_cycle_nominates_a_key_whose_traffic_burst(production: str, configure) -> None:
    """On PostgreSQL, from the features stored at ingest: a week where the 'bulk' key is 2% of
    traffic, then a day where it is 25%: the cycle watches it with no judged pair at all."""
    configure(database_url=production)
    settings = get_settings()
    events = []
    for i in range(1400):  # seven days, 200 a day
        at = T0 + timedelta(seconds=int(i * 7 * 86400 / 1400))
        events.append((f"r-{i}", at, "bulk" if i % 50 == 0 else f"k{i % 7}"))
    for i in range(400):  # the eighth day
        at = T0 + timedelta(days=7, seconds=int(i * 86400 / 400))
        events.append((f"n-{i}", at, "bulk" if i % 4 == 0 else f"k{i % 7}"))
    batch = [
        TrafficEvent.model_validate(
            native_event(
                event_id,
                row=i,
                at=at,
                attributes={"tenant": "acme", "api_key_alias": key},
            )
        )
        for i, (event_id, at, key) in enumerate(events)
    ]
    with session_scope() as session:
        store_events(session, batch, "native", settings, datetime.now(UTC))
    end = T0 + timedelta(days=8)
    with session_scope() as session:
        summary = explore(session, settings, end, end)
        row = session.scalars(
            select(models.SliceWatch).where(models.SliceWatch.key == "api_key_alias=bulk")
        ).one()
    assert "api_key_alias=bulk" in summary.nominated
    assert row.evidence["source"] == "traffic" and row.status == "watching"
    assert row.boost > 0 and row.evidence["now"] > 0.2 > 0.05 > row.evidence["before"]
    assert row.evidence["signal"] == "traffic_share"

    from shadowgap.api.app import create_app

    with TestClient(create_app(), headers=auth("read")) as client:
        page = client.get("/slices")
        body = client.get("/v1/slices").json()
    assert page.status_code == 200
    assert "traffic_share moved" in page.text.split("Under watch")[1]
    watch = next(w for w in body["watching"] if w["key"] == "api_key_alias=bulk")
    assert watch["evidence"]["source"] == "traffic" and watch["pairs"] == 0
