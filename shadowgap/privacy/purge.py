"""Purge for deletion requests: every event of a segment or of a user, and what was derived
from it, deleted; a tombstone of each event id kept so a redelivery is a duplicate.

Deleted: the events, their sampling decisions, slice features, shadow runs, verdicts and
pending originals, a purged user's cadence class (``user_cadence``), and every registered copy
of their text (``shadowgap.privacy.copies``): their examples in alert evidence (whatever
segment the alert is filed under: a slice alert quotes events of several), the payloads that
quoted them (pending ones are rendered again without them when sent) and the outbox files
written from those payloads. Kept: segment rows (counters are lowered), detector states and
drift events (aggregates that name no request), cost ledger rows. The tombstones say which
filter was used, never its value: a user id is what the request asked to forget, and a segment
key can hold one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import String, any_, bindparam, case, delete, func, insert, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from shadowgap.config import get_settings
from shadowgap.db import models
from shadowgap.errors import InvalidInput, NotFound
from shadowgap.privacy import copies

BATCH = 1000


@dataclass
class PurgeResult:
    events: int = 0
    shadow_runs: int = 0
    verdicts: int = 0
    alerts: int = 0
    deliveries: int = 0
    outbox_files: int = 0


def _event_ids(
    session: Session, segment: str | None, user: str | None
) -> list[tuple[int, str, int]]:
    E = models.TrafficEvent
    query = select(E.id, E.event_id, E.segment_id)
    if segment is not None:
        segment_id = session.scalar(select(models.Segment.id).where(models.Segment.key == segment))
        if segment_id is None:
            raise NotFound(f"no segment with key {segment!r}", {"field": "segment"})
        query = query.where(E.segment_id == segment_id)
    if user is not None:
        query = query.where(E.attributes["user"].as_string() == user)
    return [(int(pk), str(event_id), int(seg)) for pk, event_id, seg in session.execute(query)]


def purge(
    session: Session,
    now: datetime,
    *,
    segment: str | None = None,
    user: str | None = None,
    outbox_dir: str | None = None,
) -> PurgeResult:
    """Delete the matching events (both filters: events matching both). Never commits; the
    outbox files that quoted them are deleted at once. ``outbox_dir`` resolves the file names
    registered before paths were stored absolute (default: the configured directory)."""
    if segment is None and user is None:
        raise InvalidInput("name a --segment or a --user to purge", field="segment")
    reason = "purge by " + " and ".join(
        name for name, value in (("segment", segment), ("user", user)) if value is not None
    )
    rows = _event_ids(session, segment, user)
    result = PurgeResult(events=len(rows))
    if outbox_dir is None:
        outbox_dir = get_settings().alert_outbox_dir
    forgotten = copies.forget(session, [pk for pk, _, _ in rows], "purge", outbox_dir)
    result.alerts = forgotten.alerts
    result.deliveries = forgotten.deliveries
    result.outbox_files = forgotten.outbox_files
    for start in range(0, len(rows), BATCH):
        chunk = rows[start : start + BATCH]
        chunk_pks = [pk for pk, _, _ in chunk]
        _lower_counters(session, chunk_pks)
        session.execute(
            insert(models.PurgedEvent),
            [{"event_id": eid, "purged_at": now, "reason": reason[:256]} for _, eid, _ in chunk],
        )
        for model in (*models.EVENT_DEPENDANTS, models.SliceFeatures):
            deleted = _deleted(session.execute(delete(model).where(model.event_pk.in_(chunk_pks))))
            if model is models.Verdict:
                result.verdicts += deleted
            elif model is models.ShadowRun:
                result.shadow_runs += deleted
        session.execute(delete(models.TrafficEvent).where(models.TrafficEvent.id.in_(chunk_pks)))
    if user is not None:  # stored as the slice feature is, clipped (shadowgap/slices/features.py)
        uc = models.UserCadence
        session.execute(delete(uc).where(uc.user_key == user[:128]))
    return result


def _deleted(result: object) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


def _lower_counters(session: Session, pks: list[int]) -> None:
    E, D = models.TrafficEvent, models.SamplingDecision
    per_segment = session.execute(
        select(
            E.segment_id,
            func.count(),
            func.sum(case((E.is_cheap, 1), else_=0)),
            func.count(D.id),
        )
        .outerjoin(D, D.event_pk == E.id)
        .where(E.id.in_(pks))
        .group_by(E.segment_id)
    ).all()
    S = models.Segment
    for segment_id, total, cheap, sampled in per_segment:
        session.execute(
            update(S)
            .where(S.id == segment_id)
            .values(
                event_count=S.event_count - int(total),
                cheap_count=S.cheap_count - int(cheap or 0),
                sampled_count=S.sampled_count - int(sampled or 0),
            )
        )


def purged_ids(session: Session, event_ids: list[str]) -> set[str]:
    """Which of these event ids were purged (their redelivery is a duplicate)."""
    if not event_ids:
        return set()
    P = models.PurgedEvent
    if session.get_bind().dialect.name == "postgresql":
        # One array parameter: an IN list is compiled anew for every batch length (ingest
        # calls this on every batch).
        ids = bindparam("event_ids", event_ids, type_=ARRAY(String))
        return set(session.scalars(select(P.event_id).where(P.event_id == any_(ids))))
    return set(session.scalars(select(P.event_id).where(P.event_id.in_(event_ids))))
