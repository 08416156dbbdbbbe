"""The registry of request-text copies (table ``text_copies``), and forgetting them.

An event's text is stored in its own rows (``traffic_events``, its ``shadow_runs``,
``verdicts`` and ``pending_originals``, all keyed by the event) and copied into three places
keyed by something else: an alert's evidence (its example requests), a delivery's payload (the
rendered Slack / PagerDuty / webhook / outbox body) and the outbox file a delivery wrote. Each
copy is registered here, in the transaction that writes it, with the events it quotes, so that
purge and retention find every copy by the events (by their ids, or by their event time),
whatever segment the alert is filed under and whenever the copy was made. Reports quote no
request text (aggregates only), so they have nothing to register.

What forgetting does to a copy (the copy may also quote events that are kept):

* alert evidence: purge removes the purged events' examples (the others stay); retention
  empties the expired examples' text and keeps their ids, model names, winner and score;
* delivery payloads: a rendered message cannot be cut per example, so the whole payload is
  replaced by a tombstone (``{"expired": "purge" | "retention"}``). A delivery that is still
  pending stays pending: :mod:`shadowgap.alerts.delivery` renders it again from the alert's
  (already scrubbed) evidence when its turn comes, so the notification still goes out;
* outbox files: deleted (the file of a delivery still pending is written again, without the
  text, when it is sent).
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from shadowgap.db.models import Alert, Delivery, TextCopy

ALERT, DELIVERY, OUTBOX_FILE = "alert", "delivery", "outbox_file"
# What an example keeps when retention empties it: identifiers, model names and the verdict.
# Any other field (today prompt, answers and rationale) is text, so a field added later is
# emptied too unless it is named here.
EXAMPLE_KEPT = frozenset(
    (
        "event_pk",
        "event_id",
        "occurred_at",
        "route_tier",
        "route_model",
        "flagship_model",
        "winner",
        "gap_score",
        "judge",
    )
)
TOMBSTONE_KEY = "expired"
BATCH = 1000

Mode = Literal["purge", "retention"]


def tombstone(reason: Mode) -> dict[str, Any]:
    """What a payload becomes once it quoted forgotten text."""
    return {TOMBSTONE_KEY: reason}


def is_tombstone(payload: Mapping[str, Any] | None) -> bool:
    """A payload already emptied (older purges wrote ``{"expired": ..., "reason": ...}``);
    no rendered message has this key."""
    return isinstance(payload, Mapping) and TOMBSTONE_KEY in payload


def _examples(evidence: Mapping[str, Any] | None) -> list[Any]:
    examples = (evidence or {}).get("examples")
    return examples if isinstance(examples, list) else []


def _has_text(example: Mapping[str, Any]) -> bool:
    return any(value not in (None, "") for key, value in example.items() if key not in EXAMPLE_KEPT)


def quoted_events(evidence: Mapping[str, Any] | None) -> set[int]:
    """The events whose text the evidence's examples hold."""
    return {
        example["event_pk"]
        for example in _examples(evidence)
        if isinstance(example, Mapping)
        and isinstance(example.get("event_pk"), int)
        and _has_text(example)
    }


def _add(
    session: Session, kind: str, copy_id: int, events: Iterable[int], path: str | None = None
) -> None:
    session.add_all(
        TextCopy(kind=kind, copy_id=copy_id, path=path, event_pk=event_pk)
        for event_pk in sorted(set(events))
    )


def register_alert(session: Session, alert: Alert) -> None:
    """Record the events the alert's evidence quotes now (call after every write of it)."""
    quoted = quoted_events(alert.evidence)
    known = set(
        session.scalars(
            select(TextCopy.event_pk).where(TextCopy.kind == ALERT, TextCopy.copy_id == alert.id)
        )
    )
    if known - quoted:
        session.execute(
            delete(TextCopy).where(
                TextCopy.kind == ALERT,
                TextCopy.copy_id == alert.id,
                TextCopy.event_pk.in_(known - quoted),
            )
        )
    _add(session, ALERT, alert.id, quoted - known)


def register_delivery(session: Session, delivery: Delivery, alert: Alert) -> None:
    """Record a payload just rendered from ``alert``'s evidence: it quotes what that does."""
    session.execute(
        delete(TextCopy).where(TextCopy.kind == DELIVERY, TextCopy.copy_id == delivery.id)
    )
    _add(session, DELIVERY, delivery.id, quoted_events(alert.evidence))


def register_file(session: Session, delivery_id: int, path: Path) -> None:
    """Record the file the delivery is about to write (before it is written, so a sender that
    dies after writing leaves no file unknown): it quotes what the delivery's payload does."""
    absolute = str(path.resolve())
    quoted = session.scalars(
        select(TextCopy.event_pk).where(TextCopy.kind == DELIVERY, TextCopy.copy_id == delivery_id)
    )
    session.execute(
        delete(TextCopy).where(
            TextCopy.kind == OUTBOX_FILE,
            TextCopy.copy_id == delivery_id,
            TextCopy.path == absolute,
        )
    )
    _add(session, OUTBOX_FILE, delivery_id, list(quoted), path=absolute)


def remove_file(path: Path) -> bool:
    """Delete a copy on disk; False when it was not there."""
    try:
        os.remove(path)
    except FileNotFoundError:
        return False
    return True


@dataclass
class Forgotten:
    alerts: int = 0
    deliveries: int = 0
    outbox_files: int = 0


def _scrub_examples(evidence: dict[str, Any], events: set[int], mode: Mode) -> dict[str, Any]:
    kept: list[Any] = []
    for example in _examples(evidence):
        if isinstance(example, Mapping) and example.get("event_pk") in events:
            if mode == "purge":
                continue
            example = {key: (v if key in EXAMPLE_KEPT else None) for key, v in example.items()}
        kept.append(example)
    return {**evidence, "examples": kept}


def forget(
    session: Session, events: Collection[int], mode: Mode, outbox_dir: str | None = None
) -> Forgotten:
    """Scrub every registered copy quoting these events (module doc). Never commits; files
    are deleted at once (a rolled-back transaction leaves them deleted, which is safe)."""
    result = Forgotten()
    ordered = sorted(set(events))
    for start in range(0, len(ordered), BATCH):
        chunk = set(ordered[start : start + BATCH])
        _forget_chunk(session, chunk, mode, outbox_dir, result)
    return result


def _forget_chunk(
    session: Session, events: set[int], mode: Mode, outbox_dir: str | None, result: Forgotten
) -> None:
    rows = session.execute(
        select(TextCopy.kind, TextCopy.copy_id, TextCopy.path)
        .where(TextCopy.event_pk.in_(events))
        .distinct()
    ).all()
    for alert_id in sorted({copy_id for kind, copy_id, _ in rows if kind == ALERT}):
        alert = session.get(Alert, alert_id)
        if alert is not None:
            scrubbed = _scrub_examples(alert.evidence or {}, events, mode)
            if scrubbed != alert.evidence:
                # A new dict (not an in-place edit) so the JSON column is seen as changed.
                alert.evidence = scrubbed
                result.alerts += 1
        session.execute(
            delete(TextCopy).where(
                TextCopy.kind == ALERT, TextCopy.copy_id == alert_id, TextCopy.event_pk.in_(events)
            )
        )
    for delivery_id in sorted({copy_id for kind, copy_id, _ in rows if kind == DELIVERY}):
        delivery = session.get(Delivery, delivery_id)
        if delivery is not None and not is_tombstone(delivery.payload):
            # Pending ones stay pending: the sender renders them again (module doc).
            delivery.payload = tombstone(mode)
            result.deliveries += 1
        session.execute(
            delete(TextCopy).where(TextCopy.kind == DELIVERY, TextCopy.copy_id == delivery_id)
        )
    for path in sorted({path for kind, _, path in rows if kind == OUTBOX_FILE and path}):
        # Rows written before paths were absolute name a file in the outbox directory.
        where = Path(outbox_dir) / path if outbox_dir else Path(path)
        # Any error but a missing file is raised: the row stays, the transaction rolls back.
        result.outbox_files += remove_file(where)
        session.execute(delete(TextCopy).where(TextCopy.kind == OUTBOX_FILE, TextCopy.path == path))
    session.flush()
