"""Exploration toward candidate slices (issue 23): nomination on suggestive evidence,
confirmation only on pairs after nomination, retirement, boosts within the budget, and the
cycle on PostgreSQL with /v1/slices and the Slices page showing what is under watch."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from shadowgap.config import get_settings
from shadowgap.db import models
from shadowgap.db.engine import session_scope
from shadowgap.schemas import TrafficEvent
from shadowgap.slices import exploration as ex
from shadowgap.slices.lattice import SearchParams, build_table
from shadowgap.slices.watches import explore
from tests.support.factories import native_event
from tests.support.settings import auth
from tests.support.slice_traffic import store_judged

T0 = datetime(2026, 11, 2, tzinfo=UTC)


def _pairs(rng: np.random.Generator, n: int, rate_in: float, start_day: float = 0.0):  # type: ignore[no-untyped-def]
    """n judged pairs over a day: key 'bulk' (20%) wins at rate_in, the rest at 0.15."""
    bulk = rng.random(n) < 0.2
    y = np.where(bulk, rng.random(n) < rate_in, rng.random(n) < 0.15).astype(float)
    features = [
        {"tenant": "acme", "api_key_alias": "bulk" if b else f"k{i % 5}", "cadence": "burst"}
        for i, b in enumerate(bulk)
    ]
    occurred = (T0 + timedelta(days=start_day)).timestamp() + np.sort(rng.random(n)) * 86400
    table = build_table([f"e{i}" for i in range(n)], y.tolist(), [1.0] * n, [None] * n, features)
    return table, occurred


def test_a_suggestive_slice_is_nominated_and_confirmed_only_on_later_pairs() -> None:
    rng = np.random.default_rng(1)
    window, _ = _pairs(rng, 150, 0.5)
    watched: list[ex.Watched] = []
    new = ex.nominate(window, watched, T0 - timedelta(days=7), T0, SearchParams())
    assert [w.key for w in new] == ["api_key_alias=bulk"]
    assert new[0].evidence["p_value"] <= ex.NOMINATE_P and new[0].volume_per_day > 0
    # The same window again: nothing new (already watched, and the overlapping slices too).
    assert ex.nominate(window, watched, T0 - timedelta(days=7), T0, SearchParams()) == []

    # Pairs before the nomination never count: a regression there alone confirms nothing.
    before, occurred = _pairs(rng, 400, 0.9, start_day=-1)
    assert ex.review(watched, before, occurred, T0 + timedelta(hours=1), 0.01) == []
    assert watched[0].pairs == 0 and watched[0].status == ex.WatchStatus.WATCHING

    after, occurred = _pairs(rng, 400, 0.6, start_day=0)
    confirmed = ex.review(watched, after, occurred, T0 + timedelta(days=1), 0.01)
    assert confirmed == watched and watched[0].status == ex.WatchStatus.CONFIRMED
    assert watched[0].last_test["p_value"] <= 0.01 / len(ex.LOOKS)


def test_a_null_slice_is_cleared_and_not_renominated_on_the_same_data() -> None:
    rng = np.random.default_rng(2)
    watched = [ex.Watched([("api_key_alias", "bulk")], T0, 50.0, {})]
    after, occurred = _pairs(rng, 600, 0.15)
    assert ex.review(watched, after, occurred, T0 + timedelta(days=1), 0.01) == []
    assert watched[0].status == ex.WatchStatus.CLEARED
    cleared = {watched[0].key: T0 + timedelta(days=1)}
    window, _ = _pairs(np.random.default_rng(1), 150, 0.5)
    # Its evidence again on a window that starts before it was cleared: not nominated.
    new = ex.nominate(window, watched, T0, T0 + timedelta(days=2), SearchParams(), cleared)
    assert "api_key_alias=bulk" not in [w.key for w in new]
    # A window after it: it may be.
    new = ex.nominate(
        window, watched, T0 + timedelta(days=1), T0 + timedelta(days=8), SearchParams(), cleared
    )
    assert "api_key_alias=bulk" in [w.key for w in new]


def test_a_stronger_suggestion_takes_the_place_of_a_watch_whose_evidence_faded() -> None:
    window, _ = _pairs(np.random.default_rng(1), 150, 0.5)
    start = T0 - timedelta(days=7)

    def full(age: timedelta) -> list[ex.Watched]:  # every place taken by a null key
        return [ex.Watched([("api_key_alias", f"k{i}")], T0 - age, 20.0, {}) for i in (1, 2)]

    # Without a margin a watch keeps its place until it is decided.
    assert ex.nominate(window, full(timedelta(days=2)), start, T0, SearchParams()) == []
    watched = full(timedelta(days=2))
    new = ex.nominate(window, watched, start, T0, SearchParams(), preempt_margin=1.0)
    assert [w.key for w in new] == ["api_key_alias=bulk"]
    gone = [w for w in watched if w.status == ex.WatchStatus.CLEARED]
    assert len(gone) == 1 and gone[0].decided_at == T0
    assert new[0].evidence["z"] >= gone[0].last_test["preempted_z"] + 1.0
    assert sum(w.status == ex.WatchStatus.WATCHING for w in watched) == ex.MAX_WATCHED
    # A watch younger than a day keeps its place, and so does one the candidate cannot beat
    # by the margin.
    young = full(timedelta(hours=12))
    assert ex.nominate(window, young, start, T0, SearchParams(), preempt_margin=1.0) == []
    old = full(timedelta(days=2))
    assert ex.nominate(window, old, start, T0, SearchParams(), preempt_margin=50.0) == []
    # The weekly cap on nominations holds for preemption too.
    capped = full(timedelta(days=2))
    last_week = ex.MAX_NOMINATIONS_PER_WEEK
    assert (
        ex.nominate(
            window,
            capped,
            start,
            T0,
            SearchParams(),
            nominated_last_week=last_week,
            preempt_margin=1.0,
        )
        == []
    )
    assert all(w.status == ex.WatchStatus.WATCHING for w in capped)


def test_a_watch_that_never_decides_is_retired() -> None:
    watched = [ex.Watched([("api_key_alias", "rare")], T0, 1.0, {})]
    empty, occurred = _pairs(np.random.default_rng(3), 50, 0.15)
    ex.review(watched, empty, occurred, T0 + timedelta(days=ex.MAX_WATCH_DAYS - 1), 0.01)
    assert watched[0].status == ex.WatchStatus.WATCHING
    ex.review(watched, empty, occurred, T0 + timedelta(days=ex.MAX_WATCH_DAYS + 1), 0.01)
    assert watched[0].status == ex.WatchStatus.CLEARED


def test_boosts_split_the_budget_capped_and_matching_takes_the_largest() -> None:
    big = ex.Watched([("tenant", "acme")], T0, 10_000.0, {})
    small = ex.Watched([("api_key_alias", "bulk"), ("tenant", "acme")], T0, 10.0, {})
    done = ex.Watched([("tag", "x")], T0, 10.0, {}, status=ex.WatchStatus.CLEARED)
    ex.set_boosts([big, small, done], exploration_per_day=100.0)
    assert small.boost == ex.MAX_BOOST  # 50 a day would be 5x its volume: capped at 5 a day
    assert big.boost == pytest.approx(95.0 / 10_000.0)  # and the rest goes to the other
    assert done.boost == 0.0
    spent = big.boost * big.volume_per_day + small.boost * small.volume_per_day
    assert spent == pytest.approx(100.0)
    request = {"tenant": "acme", "api_key_alias": "bulk", "tag": ["x"]}
    assert ex.explore_probability(request, [big, small, done]) == ex.MAX_BOOST
    assert ex.explore_probability({"tenant": "acme"}, [big, small, done]) == big.boost
    assert ex.explore_probability({"tenant": "other"}, [big, small, done]) == 0.0


def test_what_a_capped_slice_cannot_take_goes_to_the_others_never_more() -> None:
    a = ex.Watched([("api_key_alias", "a")], T0, 1000.0, {})
    b = ex.Watched([("api_key_alias", "b")], T0, 1000.0, {})
    tiny = ex.Watched([("api_key_alias", "c")], T0, 4.0, {})
    ex.set_boosts([a, b, tiny], exploration_per_day=48.0)
    assert tiny.boost == ex.MAX_BOOST  # 16 a day is more than half its 4: it takes 2
    assert a.boost * 1000 == pytest.approx(23.0) and b.boost * 1000 == pytest.approx(23.0)
    everything = [ex.Watched([("k", str(i))], T0, 1.0, {}) for i in range(3)]
    ex.set_boosts(everything, exploration_per_day=50.0)  # more budget than they can take
    assert all(w.boost == ex.MAX_BOOST for w in everything)


def test_nominations_are_capped_a_week_and_alpha_is_the_budget_share() -> None:
    window, _ = _pairs(np.random.default_rng(1), 150, 0.5)
    full = ex.MAX_NOMINATIONS_PER_WEEK
    assert ex.nominate(window, [], T0, T0, SearchParams(), nominated_last_week=full) == []
    assert ex.nominate(window, [], T0, T0, SearchParams(), nominated_last_week=full - 1)
    settings = get_settings().model_copy(
        update={"false_alarms_per_week": 2.0, "slice_false_alarm_share": 0.25}
    )
    assert ex.confirm_alpha(settings) == pytest.approx(0.5 / ex.MAX_NOMINATIONS_PER_WEEK)


def _ingest(prefix: str, start: datetime, days: int, n: int, rate_bulk: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    events = [
        TrafficEvent.model_validate(
            native_event(
                f"{prefix}-{i}",
                row=i,
                at=start + timedelta(seconds=int(i * days * 86400 / n)),
                attributes={
                    "tenant": ["acme", "globex"][i % 2],
                    "api_key_alias": "bulk" if i % 10 == 1 else f"k{i % 7}",
                },
            )
        )
        for i in range(n)
    ]

    def flagship_won(event: TrafficEvent) -> bool:
        bulk = event.attributes.api_key_alias == "bulk"
        return bool(rng.random() < (rate_bulk if bulk else 0.15))

    store_judged(prefix, events, flagship_won, probability=1.0)


def test_cycle_watches_shows_confirms_and_alerts_once(production: str, configure) -> None:
    configure(database_url=production, alert_outbox_dir="/tmp/shadowgap-explore-outbox")
    # A week where the 'bulk' key (10%, about 25 pairs) looks worse but not significantly.
    _ingest("a", T0, 7, 250, rate_bulk=0.55, seed=1)
    end = T0 + timedelta(days=7)
    with session_scope() as session:
        first = explore(session, get_settings(), end, end)
    assert "api_key_alias=bulk" in first.watching and not first.confirmed

    from shadowgap.api.app import create_app

    with TestClient(create_app(), headers=auth("read")) as client:
        body = client.get("/v1/slices").json()
        page = client.get("/slices")
    watch = next(w for w in body["watching"] if w["key"] == "api_key_alias=bulk")
    assert watch["pairs"] == 0 and watch["boost"] > 0 and watch["evidence"]["n"] >= 10
    assert watch["next_look_pairs"] == ex.CHECKS[0]
    assert watch["expected_days_to_decision"] is not None
    assert page.status_code == 200 and "Under watch" in page.text
    assert "api_key_alias=bulk" in page.text.split("Under watch")[1]

    # New pairs after the nomination, still regressed: confirmed there, one alert.
    _ingest("b", end, 3, 300, rate_bulk=0.6, seed=2)
    later = end + timedelta(days=3)
    with session_scope() as session:
        second = explore(session, get_settings(), later, later)
        assert second.confirmed and second.delivery_ids
        record = session.get(models.Slice, second.confirmed[0])
        assert record is not None and record.key == "api_key_alias=bulk"
        assert record.status == "confirmed" and record.alert_id is not None
        assert (record.confirmation or {})["data_start"] == end.isoformat()
        row = session.scalars(
            select(models.SliceWatch).where(models.SliceWatch.key == record.key)
        ).one()
        assert row.status == "confirmed" and row.slice_id == record.id and row.pairs >= 20
    with session_scope() as session:
        third = explore(session, get_settings(), later + timedelta(hours=1), later)
        alerts = session.scalar(
            select(func.count())
            .select_from(models.Alert)
            .where(models.Alert.signal.like("slice:%"))
        )
    assert alerts == 1 and not third.delivery_ids
    assert (
        "api_key_alias=bulk" not in third.watching and "api_key_alias=bulk" not in third.nominated
    )
