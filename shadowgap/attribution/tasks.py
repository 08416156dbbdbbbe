"""shadow.reverse_sample (beat): draw reverse-shadow samples. shadow.reverse: re-run one on the
cheap model and judge it against the flagship answer the router served."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from shadowgap.attribution.reverse_shadow import (
    REVERSE_REPLICATE,
    call_cheap,
    judge_reverse,
    mark_sent,
    prepare_reverse,
    sample_reverse,
    store_rerun,
)
from shadowgap.config import get_settings
from shadowgap.db import models
from shadowgap.db.engine import session_scope
from shadowgap.errors import FlagshipError
from shadowgap.judging.factory import judge_for_segment
from shadowgap.llm.factory import cheap_problem, make_cheap_client
from shadowgap.shadow.runs import get_run
from shadowgap.worker import queue
from shadowgap.worker.app import app
from shadowgap.worker.retries import MODEL_CALLS

log = logging.getLogger(__name__)


@app.task(name="shadow.reverse_sample", acks_late=True, soft_time_limit=120, time_limit=150)
def reverse_sample() -> int:
    now = datetime.now(UTC)
    with session_scope() as session:
        ids = sample_reverse(session, get_settings(), now)
    for sample_id in ids:
        queue.send("shadow.reverse", [sample_id])
    if ids:
        with session_scope() as session:
            mark_sent(session, ids, now)
    return len(ids)


@app.task(
    name="shadow.reverse",
    bind=True,
    acks_late=True,
    max_retries=MODEL_CALLS.max_retries,
    soft_time_limit=600,
    time_limit=660,
)
def reverse(self, sample_id: int) -> None:  # type: ignore[no-untyped-def]
    settings = get_settings()
    problem = cheap_problem(settings)
    if problem is not None:  # drawn before the cheap model's settings were removed
        log.warning("reverse shadow run skipped: %s", problem, extra={"sample_id": sample_id})
        return
    with session_scope() as session:
        request = prepare_reverse(session, sample_id, settings)
        if request is None:
            return
        run = get_run(session, request.event_pk, REVERSE_REPLICATE)
        segment = session.get(models.Segment, request.segment_id)
        assert segment is not None
        segment_key = segment.key
    if run is None:
        client = make_cheap_client(settings)
        try:
            # No transaction is open during the call (SQLite's write lock).
            completion = call_cheap(request, client)
        except FlagshipError as exc:
            if exc.transient and MODEL_CALLS.may_retry(self):
                MODEL_CALLS.retry(self, exc, exc.retry_after)
            log.warning("reverse shadow run failed", extra={"sample_id": sample_id})
            return
        with session_scope() as session:
            run = store_rerun(session, request, completion, client)
            session.expunge(run)
    judge = judge_for_segment(segment_key, settings)
    with session_scope() as session:
        judge_reverse(session, request, run, judge)
