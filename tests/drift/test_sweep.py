"""drift.sweep's catch-up list: segments with events or verdicts their detectors have not
seen, on SQLite and PostgreSQL."""

from __future__ import annotations

from fastapi.testclient import TestClient

from shadowgap.config import get_settings
from shadowgap.db.engine import session_scope
from shadowgap.drift.store import segments_with_new_data, update_segment
from tests.support.factories import native_event
from tests.support.settings import auth


def _ids_by_key() -> dict[str, int]:
    from sqlalchemy import select

    from shadowgap.db import models

    with session_scope() as session:
        return dict(session.execute(select(models.Segment.key, models.Segment.id)).all())


def test_segments_with_new_data_follows_the_watermarks(any_db: str, client: TestClient) -> None:
    events = [native_event(f"a-{i}", tenant="acme", row=i) for i in range(20)]
    events += [native_event(f"g-{i}", tenant="globex", row=i) for i in range(5)]
    client.post("/v1/events", json=events, headers=auth())
    ids = _ids_by_key()
    with session_scope() as session:
        assert segments_with_new_data(session) == sorted(ids.values())
        update_segment(session, ids["tenant=acme"], get_settings())
    with session_scope() as session:
        assert segments_with_new_data(session) == [ids["tenant=globex"]]
    client.post("/v1/events", json=[native_event("a-new", tenant="acme")], headers=auth())
    with session_scope() as session:
        assert segments_with_new_data(session) == sorted(ids.values())
