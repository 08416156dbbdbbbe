"""Short-lived originals of sampled events (table ``pending_originals``).

The flagship must answer what the cheap model was asked, and the judge must compare what was
really answered; redacted text would bias the gap (a question about "[PHONE]" is a different
question). So for a sampled event whose text redaction changed, the original request and cheap
answer are kept, and the flagship's original answers when redaction changes them, only until
the event's verdicts are stored; then they are deleted. Rows whose verdicts never come (a run
that failed for good) are dropped after ``SHADOWGAP_ORIGINALS_MAX_HOURS`` by the retention job.
Nothing but the shadow and judge stages reads this table.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from shadowgap.db.models import PendingOriginal
from shadowgap.schemas import TrafficEvent

REQUEST, ANSWER = "request", "answer"


def flagship_part(replicate: int) -> str:
    return f"flagship:{replicate}"


def keep_event(session: Session, event_pk: int, event: TrafficEvent, now: datetime) -> None:
    session.add(
        PendingOriginal(
            event_pk=event_pk,
            part=REQUEST,
            content=event.request.model_dump(mode="json"),
            created_at=now,
        )
    )
    answer = event.answer_text()
    if answer is not None:
        session.add(
            PendingOriginal(
                event_pk=event_pk,
                part=ANSWER,
                content=_answer(answer, event.answer_tool_calls()),
                created_at=now,
            )
        )


def _answer(text: str, tool_calls: list[dict[str, Any]] | None) -> dict[str, Any]:
    return {"text": text} if tool_calls is None else {"text": text, "tool_calls": tool_calls}


def keep_text(
    session: Session,
    event_pk: int,
    part: str,
    text: str,
    now: datetime,
    tool_calls: list[dict[str, Any]] | None = None,
) -> None:
    """One more original (a flagship answer: its text and tool calls); a redelivered job's
    second copy is ignored."""
    if session.get(PendingOriginal, (event_pk, part)) is None:
        session.add(
            PendingOriginal(
                event_pk=event_pk, part=part, content=_answer(text, tool_calls), created_at=now
            )
        )


def read(session: Session, event_pk: int) -> dict[str, dict[str, Any]]:
    rows = session.scalars(select(PendingOriginal).where(PendingOriginal.event_pk == event_pk))
    return {row.part: row.content for row in rows}


def text(found: dict[str, dict[str, Any]], part: str, fallback: str) -> str:
    value = found.get(part, {}).get("text")
    return value if isinstance(value, str) else fallback


def tool_calls(
    found: dict[str, dict[str, Any]], part: str, fallback: list[dict[str, Any]] | None
) -> list[dict[str, Any]] | None:
    """The kept tool calls of an answer (unredacted arguments), else ``fallback``."""
    kept = found.get(part)
    if kept is None:
        return fallback
    value = kept.get("tool_calls")
    return value if isinstance(value, list) else None


def drop(session: Session, event_pk: int) -> None:
    session.execute(delete(PendingOriginal).where(PendingOriginal.event_pk == event_pk))


def drop_stale(session: Session, now: datetime, max_hours: float) -> int:
    result = session.execute(
        delete(PendingOriginal).where(PendingOriginal.created_at < now - timedelta(hours=max_hours))
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
