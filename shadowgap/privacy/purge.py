"""Purge for deletion requests: every event of a segment or of a user, and what was derived
from it, deleted; a tombstone of each event id kept so a redelivery is a duplicate.

Deleted: the events, their sampling decisions, shadow runs, verdicts and pending originals,
their examples in alert evidence, and the rendered payloads of those alerts' sent
notifications. Kept: segment rows (counters are lowered), detector states and drift events
(aggregates that name no request), cost ledger rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, delete, func, insert, select, update
from sqlalchemy.orm import Session

from shadowgap.db import models
from shadowgap.enums import DeliveryStatus
from shadowgap.errors import InvalidInput, NotFound
from shadowgap.privacy.retention import EXPIRED_PAYLOAD

BATCH = 1000


@dataclass
class PurgeResult:
    events: int = 0
    shadow_runs: int = 0
    verdicts: int = 0
    alerts: int = 0


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
    session: Session, now: datetime, *, segment: str | None = None, user: str | None = None
) -> PurgeResult:
    """Delete the matching events (both filters: events matching both). Never commits."""
    if segment is None and user is None:
        raise InvalidInput("name a --segment or a --user to purge", field="segment")
    reason = " ".join(
        part
        for part in (f"segment={segment}" if segment else "", f"user={user}" if user else "")
        if part
    )
    rows = _event_ids(session, segment, user)
    result = PurgeResult(events=len(rows))
    pks = {pk for pk, _, _ in rows}
    for start in range(0, len(rows), BATCH):
        chunk = rows[start : start + BATCH]
        chunk_pks = [pk for pk, _, _ in chunk]
        _lower_counters(session, chunk_pks)
        session.execute(
            insert(models.PurgedEvent),
            [{"event_id": eid, "purged_at": now, "reason": reason[:256]} for _, eid, _ in chunk],
        )
        for model in (
            models.PendingOriginal,
            models.SamplingDecision,
            models.SliceFeatures,
            models.ReverseSample,
        ):
            session.execute(delete(model).where(model.event_pk.in_(chunk_pks)))
        result.verdicts += _deleted(
            session.execute(delete(models.Verdict).where(models.Verdict.event_pk.in_(chunk_pks)))
        )
        result.shadow_runs += _deleted(
            session.execute(
                delete(models.ShadowRun).where(models.ShadowRun.event_pk.in_(chunk_pks))
            )
        )
        session.execute(delete(models.TrafficEvent).where(models.TrafficEvent.id.in_(chunk_pks)))
    result.alerts = _forget_examples(session, {seg for _, _, seg in rows}, pks)
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


def _forget_examples(session: Session, segment_ids: set[int], pks: set[int]) -> int:
    """Remove purged events from alert examples; blank those alerts' sent payloads."""
    changed = 0
    if not segment_ids:
        return 0
    for alert in session.scalars(
        select(models.Alert).where(models.Alert.segment_id.in_(segment_ids))
    ):
        evidence = alert.evidence or {}
        examples = evidence.get("examples")
        if not isinstance(examples, list):
            continue
        kept = [e for e in examples if not (isinstance(e, dict) and e.get("event_pk") in pks)]
        if len(kept) == len(examples):
            continue
        alert.evidence = {**evidence, "examples": kept}
        changed += 1
        session.execute(
            update(models.Delivery)
            .where(
                models.Delivery.alert_id == alert.id,
                models.Delivery.status != DeliveryStatus.PENDING,
            )
            .values(payload=dict(EXPIRED_PAYLOAD, reason="purge"))
        )
    return changed


def purged_ids(session: Session, event_ids: list[str]) -> set[str]:
    """Which of these event ids were purged (their redelivery is a duplicate)."""
    if not event_ids:
        return set()
    P = models.PurgedEvent
    return set(session.scalars(select(P.event_id).where(P.event_id.in_(event_ids))))
