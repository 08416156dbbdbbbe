"""Row retention on PostgreSQL (whole day partitions dropped) and SQLite (chunked DELETEs):
events older than SHADOWGAP_EVENT_ROW_DAYS go with every row that points at them, younger
ones and every aggregate stay, the views still render, the event-id holes go only below what
the detectors still read, and ingest into today never waits behind the drop."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from shadowgap.config import InvalidSettings, get_settings
from shadowgap.db import event_horizon, models, partitions
from shadowgap.db.engine import get_engine, session_scope
from shadowgap.drift.signals import SIGNALS
from shadowgap.drift.store import update_segment
from shadowgap.ingest.store import store_events
from shadowgap.privacy import copies, row_retention
from shadowgap.reporting import build_weekly_report
from shadowgap.schemas import TrafficEvent
from tests.support.factories import native_event
from tests.support.settings import auth

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
ROW_DAYS = 180
# The start of the first kept day: 2026-05-24.
CUTOFF = datetime(2026, 5, 24, tzinfo=UTC)
# Two old days (the second one's last second too) and two young ones (the first kept second).
TIMES = {
    "old-a": CUTOFF - timedelta(days=1, hours=20),
    "old-b": CUTOFF - timedelta(seconds=1),
    "young-a": CUTOFF + timedelta(seconds=1),
    "young-b": NOW - timedelta(days=1),
}


def _ingest(events: dict[str, datetime], received: datetime, **attributes: Any) -> None:
    batch = [
        TrafficEvent.model_validate(native_event(event_id, row=i, at=at, **attributes))
        for i, (event_id, at) in enumerate(events.items())
    ]
    with session_scope() as session:
        store_events(session, batch, "native", get_settings(), received)


def _direct_event(event_id: str, at: datetime) -> None:
    """A row written by something other than ingest (a script): on PostgreSQL it lands in
    the default partition when its day has none."""
    with session_scope() as session:
        segment = session.scalars(select(models.Segment)).first()
        assert segment is not None
        session.add(
            models.TrafficEvent(
                event_id=event_id,
                segment_id=segment.id,
                source_format="native",
                occurred_at=at,
                received_at=at,
                route_tier="cheap",
                route_model="m",
                is_cheap=True,
                request={"messages": [], "params": {}},
                prompt_hash="h",
                status="ok",
                attributes={},
            )
        )


def _hang_everything(event_id: str) -> int:
    """Every kind of row that points at an event, and aggregates that only name it."""
    with session_scope() as session:
        event = session.execute(
            select(models.TrafficEvent).where(models.TrafficEvent.event_id == event_id)
        ).scalar_one()
        pk, segment_id, at = event.id, event.segment_id, event.occurred_at
        if (
            session.scalar(
                select(models.SamplingDecision).where(models.SamplingDecision.event_pk == pk)
            )
            is None
        ):
            session.add(
                models.SamplingDecision(
                    event_pk=pk, segment_id=segment_id, inclusion_probability=0.5, hash_value=0.1
                )
            )
        session.add(
            models.ReverseSample(
                event_pk=pk, segment_id=segment_id, inclusion_probability=0.05, threshold=0.5
            )
        )
        session.merge(models.PendingOriginal(event_pk=pk, part="request", content={"t": "x"}))
        session.add(
            models.ShadowRun(
                event_pk=pk, replicate=0, status="ok", client="recorded", model="big", answer="a"
            )
        )
        session.add(
            models.Verdict(
                event_pk=pk,
                segment_id=segment_id,
                kind="gap",
                judge="answer-match",
                winner="flagship",
                gap_score=1.0,
                inclusion_probability=0.5,
                raw={},
                rationale=f"rationale of {event_id}",
            )
        )
        drift = models.DriftEvent(
            segment_id=segment_id,
            signal="quality_gap",
            detector="glr",
            at_event_pk=pk,
            sample_index=1,
        )
        session.add(drift)
        session.flush()
        example = {"event_pk": pk, "event_id": event_id, "prompt": f"prompt of {event_id}"}
        alert = models.Alert(
            segment_id=segment_id,
            signal=f"quality_gap-{event_id}",
            status="resolved",
            severity="error",
            drift_event_id=drift.id,
            evidence={"examples": [example]},
            opened_at=at,
        )
        session.add(alert)
        session.flush()
        copies.register_alert(session, alert)
        return pk


def _pks_of(session: Session, model: Any) -> set[int]:
    return {int(pk) for pk in session.scalars(select(model.event_pk))}


def _analyze() -> None:
    """Fresh statistics: a dropped partition's events are counted from them."""
    with session_scope() as session:
        session.execute(text("ANALYZE"))


def test_old_days_go_with_everything_that_points_at_them(
    any_db: str,
    configure: Callable[..., None],
    client: TestClient,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(row_retention, "BATCH", 1)  # rows deleted one by one: chunk by chunk
    configure(
        event_row_days=ROW_DAYS, alert_outbox_dir=tmp_path / "outbox", attribution_resamples=0
    )
    _ingest(TIMES, NOW - timedelta(hours=1))
    pks = {event_id: _hang_everything(event_id) for event_id in TIMES}
    partitioned = any_db.startswith("postgresql")
    if partitioned:
        # A script's rows: one older than the cutoff, one young, both for days without a
        # partition (the default partition).
        _direct_event("script-old", datetime(2025, 1, 1, tzinfo=UTC))
        _direct_event("script-young", datetime(2026, 6, 1, tzinfo=UTC))
    with session_scope() as session:
        counters = session.execute(
            select(models.Segment.event_count, models.Segment.cheap_count)
        ).all()
        ids = {
            e: int(pk)
            for e, pk in session.execute(
                select(models.TrafficEvent.event_id, models.TrafficEvent.id)
            )
        }
        old = {ids[e] for e in ids if e.endswith("old") or e.startswith("old")}
        young = set(ids.values()) - old
        aggregates = {
            m.__tablename__: session.scalar(select(func.count()).select_from(m))
            for m in (models.DriftEvent, models.Alert, models.DetectorState, models.Segment)
        }
    assert len(old) == (3 if partitioned else 2) and len(young) == (3 if partitioned else 2)
    _analyze()

    result = row_retention.run(session_scope, NOW, get_settings())

    with session_scope() as session:
        assert set(session.scalars(select(models.TrafficEvent.id))) == young
        assert _pks_of(session, models.SliceFeatures) <= young
        assert {pks["young-a"], pks["young-b"]} <= _pks_of(session, models.SliceFeatures)
        for model in row_retention.DEPENDANTS:
            assert _pks_of(session, model) == {pks["young-a"], pks["young-b"]}, model
        # Aggregates stay: counters, drift events, alerts, detector states.
        assert (
            session.execute(select(models.Segment.event_count, models.Segment.cheap_count)).all()
            == counters
        )
        for model in (models.DriftEvent, models.Alert, models.DetectorState, models.Segment):
            assert (
                session.scalar(select(func.count()).select_from(model))
                == aggregates[model.__tablename__]
            )
        # The old event's alert example lost its text, kept its id.
        evidence = session.scalars(
            select(models.Alert.evidence).where(models.Alert.signal == "quality_gap-old-a")
        ).one()
        assert evidence["examples"] == [
            {"event_pk": pks["old-a"], "event_id": "old-a", "prompt": None}
        ]
        if partitioned:
            conn = session.connection()
            days = {p.day for p in partitions.list_partitions(conn)}
            assert min(days) == CUTOFF.date()
            assert partitions.expired_days(conn) == []
            for table in partitions.TABLES:
                assert (
                    conn.execute(
                        text("SELECT to_regclass(:n)"),
                        {"n": partitions.partition_name(TIMES["old-a"].date(), table)},
                    ).scalar()
                    is None
                )
    expected_days = ["2026-05-22", "2026-05-23"] if partitioned else []
    assert result.days == expected_days and not result.busy
    assert result.events == len(old)
    assert result.dependants["verdicts"] == 2 and result.dependants["sampling_decisions"] == 2
    assert result.alerts == 2

    # The views read what is left.
    page = client.get("/segments/tenant%3Dacme", headers=auth("read"))
    assert page.status_code == 200 and "tenant=acme" in page.text
    with session_scope() as session:
        report = build_weekly_report(
            session, NOW - timedelta(days=7), NOW, get_settings(), workers=1
        )
        row = next(r for r in report.summary["segments"] if r["key"] == "tenant=acme")
        assert row["current"]["events"] == 1  # young-b

    again = row_retention.run(session_scope, NOW, get_settings())
    assert (again.days, again.events, again.alerts) == ([], 0, 0)
    assert not any(again.dependants.values())


def test_off_keeps_every_row(any_db: str, configure: Callable[..., None]) -> None:
    configure(event_row_days=0)
    _ingest(TIMES, NOW - timedelta(hours=1))
    result = row_retention.run(session_scope, NOW, get_settings())
    assert (result.days, result.events) == ([], 0)
    with session_scope() as session:
        assert session.scalar(select(func.count()).select_from(models.TrafficEvent)) == 4


def _watermarks() -> dict[int, int]:
    with session_scope() as session:
        return dict(
            session.execute(
                select(models.DetectorState.segment_id, models.DetectorState.watermark).where(
                    models.DetectorState.signal.in_(event_horizon.HOLE_READERS)
                )
            ).all()
        )


def _prune_and_check(readers: list[int], lowest: int) -> None:
    """Made-up holes (readers only compare ids) below, at and above ``lowest``; a run keeps
    exactly those above it, and every reader reads the same holes after as before."""
    with session_scope() as session:
        safe = event_horizon.safe_id(session)
        assert safe is not None and lowest <= safe
        session.execute(text("DELETE FROM traffic_event_holes"))
        spans = [(-9, -8), (lowest - 1, lowest), (lowest, lowest + 1), (safe, safe + 2)]
        for first, last in spans:
            session.add(models.TrafficEventHole(first_id=first, last_id=last))
    with session_scope() as session:
        before = [event_horizon.holes_between(session, after, safe + 10) for after in readers]

    result = row_retention.run(session_scope, NOW, get_settings())

    with session_scope() as session:
        left = session.execute(
            select(models.TrafficEventHole.first_id, models.TrafficEventHole.last_id).order_by(
                models.TrafficEventHole.first_id
            )
        ).all()
        after = [event_horizon.holes_between(session, a, safe + 10) for a in readers]
    assert [tuple(r) for r in left] == [s for s in spans if s[1] > lowest]
    assert result.holes == 2
    assert after == before and any(before)
    with session_scope() as session:  # they overlap real events: a detector must not read them
        session.execute(text("DELETE FROM traffic_event_holes"))


def test_holes_go_only_below_every_reader(production: str, configure: Callable[..., None]) -> None:
    """The traffic-share detector of a watched segment reads holes after its watermark, a
    segment without one from its first event on."""
    for tenant in ("b", "a", "c"):
        events = {f"{tenant}-{i}": NOW - timedelta(hours=3, minutes=i) for i in range(3)}
        _ingest(events, NOW, tenant=tenant)
    with session_scope() as session:
        segment = dict(session.execute(select(models.Segment.key, models.Segment.id)).all())
        first_b = session.scalar(
            select(func.min(models.TrafficEvent.id)).where(
                models.TrafficEvent.segment_id == segment["tenant=b"]
            )
        )
        # Segments a and c are watched (their detectors ran); b has no detector yet.
        for key in ("tenant=a", "tenant=c"):
            update_segment(session, segment[key], get_settings())
    marks = _watermarks()
    assert first_b is not None and first_b < marks[segment["tenant=a"]] < marks[segment["tenant=c"]]
    readers = [first_b, marks[segment["tenant=a"]], marks[segment["tenant=c"]]]
    # The unwatched segment's first event is the lowest bound.
    _prune_and_check(readers, first_b)

    # Once b is watched too, its watermark is.
    with session_scope() as session:
        update_segment(session, segment["tenant=b"], get_settings())
    marks = _watermarks()
    assert marks[segment["tenant=b"]] < marks[segment["tenant=a"]]
    readers = [marks[segment["tenant=b"]], *readers[1:]]
    _prune_and_check(readers, marks[segment["tenant=b"]])


def test_hole_readers_are_the_share_signals() -> None:
    assert set(event_horizon.HOLE_READERS) == {
        name for name, spec in SIGNALS.items() if spec.estimator == "share"
    }


def test_ingest_into_today_never_waits_behind_the_drop(
    production: str, configure: Callable[..., None]
) -> None:
    """While a transaction holds today's partition, the drop cannot take the parents' lock:
    it asks without queueing, then queues for 100 ms at a time, and gives up; inserts
    meanwhile go through (one that waited behind a request queued for longer would hit its
    own 2-second lock timeout and fail the test)."""
    configure(event_row_days=ROW_DAYS)
    _ingest({"old-a": TIMES["old-a"], "today-0": NOW}, NOW)
    holder = Session(get_engine())
    batch = [TrafficEvent.model_validate(native_event("held", at=NOW))]
    store_events(holder, batch, "native", get_settings(), NOW)  # not committed: locks held
    outcome: dict[str, row_retention.RowRetentionResult] = {}
    drop = threading.Thread(
        target=lambda: outcome.update(result=row_retention.run(session_scope, NOW, get_settings()))
    )
    inserted = 0
    try:
        drop.start()
        while drop.is_alive():
            event = native_event(f"today-{inserted + 1}", at=NOW)
            with session_scope() as session:
                session.execute(text("SET LOCAL lock_timeout = '2s'"))
                stored = store_events(
                    session, [TrafficEvent.model_validate(event)], "native", get_settings(), NOW
                )
            assert stored.new == 1
            inserted += 1
        drop.join()
    finally:
        holder.commit()
        holder.close()
    assert inserted >= 1
    assert outcome["result"].busy and outcome["result"].days == []

    # Once the holder has committed, the next run drops the old day.
    result = row_retention.run(session_scope, NOW, get_settings())
    assert result.days == [TIMES["old-a"].date().isoformat()] and not result.busy
    with session_scope() as session:
        left = set(session.scalars(select(models.TrafficEvent.event_id)))
    assert left == {"held", *(f"today-{n}" for n in range(inserted + 1))}


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"EVENT_ROW_DAYS": "167"}, "SHADOWGAP_CHANGE_BEFORE_DAYS + SHADOWGAP_CHANGE_VERIFY_DAYS"),
        ({"EVENT_ROW_DAYS": "180", "CHANGE_VERIFY_DAYS": "70"}, "(182 days)"),
        ({"EVENT_ROW_DAYS": "180", "RETENTION_DAYS": "365"}, "SHADOWGAP_RETENTION_DAYS"),
        ({"EVENT_ROW_DAYS": "200", "SLO_WINDOW_DAYS": "366"}, "SHADOWGAP_SLO_WINDOW_DAYS"),
        ({"EVENT_ROW_DAYS": "-1"}, "greater than or equal to 0"),
    ],
)
def test_row_days_shorter_than_a_window_that_reads_events_stop_the_process(
    monkeypatch: pytest.MonkeyPatch, values: dict[str, str], named: str
) -> None:
    for name, value in values.items():
        monkeypatch.setenv(f"SHADOWGAP_{name}", value)
    get_settings.cache_clear()
    try:
        with pytest.raises(InvalidSettings) as raised:
            get_settings()
    finally:
        get_settings.cache_clear()
    message = str(raised.value)
    assert message.startswith("invalid setting SHADOWGAP_EVENT_ROW_DAYS: ") and named in message


@pytest.mark.parametrize(
    "values",
    [
        {},  # the defaults
        {"EVENT_ROW_DAYS": "0", "RETENTION_DAYS": "365", "CHANGE_BEFORE_DAYS": "400"},
        {"EVENT_ROW_DAYS": "168"},
        {"EVENT_ROW_DAYS": "180", "RETENTION_DAYS": "0"},
    ],
)
def test_row_days_that_cover_every_window_load(
    monkeypatch: pytest.MonkeyPatch, values: dict[str, str]
) -> None:
    for name, value in values.items():
        monkeypatch.setenv(f"SHADOWGAP_{name}", value)
    get_settings.cache_clear()
    try:
        assert get_settings().event_row_days == int(values.get("EVENT_ROW_DAYS", "180"))
    finally:
        get_settings.cache_clear()


def test_the_daily_job_drops_old_rows_after_the_text(production: str) -> None:
    from shadowgap.privacy.tasks import retention

    now = datetime.now(UTC)
    old = now - timedelta(days=200)
    _ingest({"old": old, "young": now - timedelta(days=1)}, now)
    done = retention()
    assert done["rows"]["days"] == [old.date().isoformat()] and done["rows"]["events"] >= 0
    with session_scope() as session:
        assert set(session.scalars(select(models.TrafficEvent.event_id))) == {"young"}


def test_steady_ingest_into_today_does_not_keep_the_drop_out(
    production: str, configure: Callable[..., None]
) -> None:
    """With inserts into today going on back to back, the run still finds its moment (or
    queues 100 ms for it) and drops the old day; no insert waits long."""
    configure(event_row_days=ROW_DAYS)
    _ingest({"old-a": TIMES["old-a"], "today-0": NOW}, NOW)
    stop = threading.Event()
    inserted: list[str] = []
    errors: list[OperationalError] = []

    def insert() -> None:
        try:
            while not stop.is_set():
                event_id = f"today-{len(inserted) + 1}"
                with session_scope() as session:
                    session.execute(text("SET LOCAL lock_timeout = '2s'"))
                    batch = [TrafficEvent.model_validate(native_event(event_id, at=NOW))]
                    store_events(session, batch, "native", get_settings(), NOW)
                inserted.append(event_id)
        except OperationalError as exc:  # a lock timeout: reported in the test's thread
            errors.append(exc)

    sender = threading.Thread(target=insert)
    sender.start()
    try:
        result = row_retention.run(session_scope, NOW, get_settings())
    finally:
        stop.set()
        sender.join()
    assert not errors, errors
    assert result.days == [TIMES["old-a"].date().isoformat()] and not result.busy
    with session_scope() as session:
        left = set(session.scalars(select(models.TrafficEvent.event_id)))
    assert left == {"today-0", *inserted} and inserted
