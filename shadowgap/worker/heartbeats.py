"""Worker heartbeats: which Celery workers are alive, as seen from the database.

Each worker's consumer writes its row every few seconds from its own event loop (see
``shadowgap/worker/steps.py``),
so a worker whose consumer died, hung or lost the broker stops beating.
The API reads the rows for ``/readyz/workers``; nothing here talks to the broker.

Functions take ``session`` first and never commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from shadowgap.db import models

EMBEDDED_MODEL_OK = "ok"


def record_heartbeat(
    session: Session,
    hostname: str,
    pid: int,
    queues: list[str],
    now: datetime,
    embedded_model: str | None = None,
) -> None:
    """Insert or refresh the worker's row (one statement, no read first).

    ``embedded_model`` is the worker's self-check of the embedded model: None when it has not
    needed it, "ok", or the problem found."""
    beat = models.WorkerHeartbeat
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    values = {
        "hostname": hostname[:255],
        "pid": pid,
        "queues": ",".join(sorted(queues)),
        "started_at": now,
        "last_seen_at": now,
        "embedded_model": embedded_model,
    }
    stmt = insert(beat).values(**values)
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=["hostname"],
            set_={
                "pid": stmt.excluded.pid,
                "queues": stmt.excluded.queues,
                "last_seen_at": stmt.excluded.last_seen_at,
                "embedded_model": stmt.excluded.embedded_model,
                # The same process keeps its start time; a restarted one (new pid) starts anew.
                "started_at": case(
                    (beat.pid == stmt.excluded.pid, beat.started_at),
                    else_=stmt.excluded.started_at,
                ),
            },
        )
    )


@dataclass(frozen=True)
class WorkersSeen:
    alive: int
    last_seen_at: datetime | None

    def seconds_since(self, now: datetime) -> float | None:
        if self.last_seen_at is None:
            return None
        return max(0.0, (now - self.last_seen_at).total_seconds())


def workers_seen(session: Session, now: datetime, stale_after: timedelta) -> WorkersSeen:
    """How many workers beat within ``stale_after``, and the latest beat of any."""
    beat = models.WorkerHeartbeat
    alive, latest = session.execute(
        select(
            func.count().filter(beat.last_seen_at >= now - stale_after),
            func.max(beat.last_seen_at),
        )
    ).one()
    return WorkersSeen(alive=int(alive or 0), last_seen_at=latest)


def embedded_model_problems(session: Session, now: datetime, stale_after: timedelta) -> list[str]:
    """The embedded-model problems that live workers report, one line each (host: problem)."""
    beat = models.WorkerHeartbeat
    rows = session.execute(
        select(beat.hostname, beat.embedded_model).where(
            beat.last_seen_at >= now - stale_after,
            beat.embedded_model.is_not(None),
            beat.embedded_model != EMBEDDED_MODEL_OK,
        )
    ).all()
    return [f"{hostname}: {problem}" for hostname, problem in rows]
