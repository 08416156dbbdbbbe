"""The cadence feature per request: the hourly run stores each user's class over its window,
ingest records it with the slice features of the user's later requests, and exploration
boosts a cadence slice there, its draws recorded with their probability."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from shadowgap.cli.main import app
from shadowgap.db import models
from shadowgap.db.engine import session_scope
from shadowgap.db.slice_match import holds
from shadowgap.shadow.sampling import combined_probability
from shadowgap.slices.cadence import cadence_cache
from tests.support.factories import native_event
from tests.support.settings import auth


def _event(event_id: str, at: datetime, user: str | None, row: int) -> dict[str, object]:
    attributes: dict[str, object] = {"tenant": "acme"}
    if user is not None:
        attributes["user"] = user
    return native_event(event_id, row=row, at=at, attributes=attributes)


def _post(client: TestClient, events: list[dict[str, object]]) -> None:
    for start in range(0, len(events), 100):
        response = client.post("/v1/events", json=events[start : start + 100], headers=auth())
        assert response.status_code == 200, response.text


def _features(prefix: str) -> dict[str, dict[str, object]]:
    with session_scope() as session:
        rows = session.execute(
            select(models.TrafficEvent.event_id, models.SliceFeatures.features)
            .join(models.SliceFeatures, models.SliceFeatures.event_pk == models.TrafficEvent.id)
            .where(models.TrafficEvent.event_id.like(f"{prefix}-%"))
        ).all()
    return {str(event_id): dict(features) for event_id, features in rows}


def test_cadence_is_recorded_at_ingest_once_known_and_boosted(
    any_db: str, configure: Callable[..., None], client: TestClient
) -> None:
    configure(sampling_warmup_events=0, sampling_budget_fraction=0.02, noise_floor_fraction=0.0)
    now = datetime.now(UTC).replace(microsecond=0)
    # Past traffic: a script sending 120 requests in one hour, a person 3 in 3 hours, and
    # requests without a user.
    past = now.replace(minute=0, second=0) - timedelta(days=2)  # at the start of an hour
    earlier = [_event(f"a-{i}", past + timedelta(seconds=20 * i), "bot", i) for i in range(120)]
    earlier += [_event(f"a-h{i}", past + timedelta(hours=i), "human", i) for i in range(3)]
    earlier += [_event(f"a-n{i}", past + timedelta(minutes=i), None, i) for i in range(2)]
    _post(client, earlier)
    before = _features("a")
    # No class yet for a user (none was computed): no cadence condition holds for them.
    assert "cadence" not in before["a-0"] and "cadence" not in before["a-h0"]
    assert before["a-n0"]["cadence"] == "anonymous"
    assert not holds(before["a-0"], [("cadence", "burst")])

    # The hourly run (here on demand: the same discovery, refresh and exploration cycle).
    result = CliRunner().invoke(app, ["slices"])
    assert result.exit_code == 0, result.output
    with session_scope() as session:
        stored = {row.user_key: row for row in session.scalars(select(models.UserCadence))}
    assert {user: row.cadence for user, row in stored.items()} == {
        "bot": "burst",
        "human": "occasional",
    }
    assert (stored["bot"].requests, stored["bot"].active_hours) == (120, 1)

    # A cadence slice under watch, boosted; ingest re-reads the classes (the cache expires,
    # here at once).
    with session_scope() as session:
        session.add(
            models.SliceWatch(
                key="cadence=burst",
                conditions=[{"feature": "cadence", "value": "burst"}],
                status="watching",
                nominated_at=now - timedelta(days=1),
                volume_per_day=100.0,
                boost=0.5,
                evidence={"z": 2.5, "p_value": 0.006, "difference": 0.2, "n": 12.0},
                looks_done=0,
                pairs=0,
            )
        )
    configure()  # forgets the process's cached boosts and classes
    later = [
        _event(f"b-{i}", now - timedelta(minutes=300 - i), "bot" if i % 2 else "human", i)
        for i in range(300)
    ]
    _post(client, later)
    after = _features("b")
    assert all(
        after[f"b-{i}"]["cadence"] == ("burst" if i % 2 else "occasional") for i in range(300)
    )
    assert holds(after["b-1"], [("cadence", "burst"), ("tenant", "acme")])
    assert not holds(after["b-0"], [("cadence", "burst")])

    with session_scope() as session:
        rows = session.execute(
            select(models.SamplingDecision, models.TrafficEvent.event_id)
            .join(models.TrafficEvent, models.TrafficEvent.id == models.SamplingDecision.event_pk)
            .where(models.TrafficEvent.event_id.like("b-%"))
        ).all()
    bot = [d for d, event_id in rows if int(event_id.split("-")[1]) % 2]
    human = [d for d, event_id in rows if not int(event_id.split("-")[1]) % 2]
    # The burst user's requests: the union probability, the base probability kept, some
    # taken by the exploration draw alone; the person's: the base design only.
    assert len(bot) > 3 * max(len(human), 1)
    assert all(d.base_probability is not None for d in bot)
    assert all(
        d.inclusion_probability == pytest.approx(combined_probability(d.base_probability or 0, 0.5))
        for d in bot
    )
    assert any(not d.base_draw for d in bot)
    assert all(d.base_draw and d.base_probability is None for d in human)


def test_ingest_reads_the_classes_at_most_every_refresh(embedded: str) -> None:
    """Between refreshes the cached map serves ingest: a class stored meanwhile shows only
    after the cache expires (no query per event)."""
    cadence_cache.clear()
    with session_scope() as session:
        assert cadence_cache.get(session) == {}
        session.add(
            models.UserCadence(
                user_key="bot",
                cadence="burst",
                requests=500,
                active_hours=2,
                window_end=datetime.now(UTC),
            )
        )
        session.flush()
        assert cadence_cache.get(session) == {}
        cadence_cache.clear()
        assert cadence_cache.get(session) == {"bot": "burst"}
