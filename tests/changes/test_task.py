"""changes.verify on a real Celery worker (PostgreSQL, Redis): the regression is found, the
alert opens and its notification is delivered (to the outbox, the only channel configured)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from shadowgap.db.engine import session_scope
from shadowgap.db.models import Delivery, RouterChange
from shadowgap.enums import ChangeStatus, DeliveryStatus
from tests.changes.conftest import T0, Traffic
from tests.support.processes import Worker, wait_for

AT = T0 + timedelta(days=14)


def test_verify_task_flags_a_bad_change_and_delivers_the_alert(
    production: str,
    configure: Callable[..., None],
    start_worker: Callable[..., Worker],
    tmp_path: Path,
) -> None:
    from shadowgap.worker import queue

    configure(database_url=production, alert_outbox_dir=str(tmp_path / "outbox"))
    with session_scope() as session:
        traffic = Traffic(session, "hooli", seed=9)
        traffic.add(T0, 14, 300)
        traffic.add(AT, 14, 300, win_rate=0.45)
        session.add(
            RouterChange(
                scope="tenant=hooli",
                at=AT,
                description="hooli's hard prompts sent cheap",
                recorded_by="test",
                status=ChangeStatus.PENDING,
                verification={},
            )
        )
    start_worker("reports,alerts")
    queue.send("changes.verify", [])

    def delivered() -> bool:
        with session_scope() as session:
            change = session.query(RouterChange).one()
            if change.status != ChangeStatus.REGRESSED or change.alert_id is None:
                return False
            statuses = [
                d.status for d in session.query(Delivery).filter_by(alert_id=change.alert_id)
            ]
            return bool(statuses) and all(s == DeliveryStatus.DELIVERED for s in statuses)

    wait_for(delivered, timeout=180)
    files = list((tmp_path / "outbox").rglob("*.json"))
    assert files and any("roll back router change 1" in f.read_text() for f in files)
