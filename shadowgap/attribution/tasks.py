"""shadow.reverse_sample (beat): draw reverse-shadow samples. shadow.reverse: re-run one on the
cheap model and judge it against the flagship answer the router served."""

from __future__ import annotations

import logging
import random
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

log = logging.getLogger(__name__)
MAX_TASK_RETRIES = 5


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
    max_retries=MAX_TASK_RETRIES,
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
            if exc.transient and self.request.retries < MAX_TASK_RETRIES:
                countdown = max(exc.retry_after or 0.0, 30.0 * 2**self.request.retries)
                raise self.retry(exc=exc, countdown=countdown * random.uniform(0.8, 1.2)) from exc
            log.warning("reverse shadow run failed", extra={"sample_id": sample_id})
            return
        with session_scope() as session:
            run = store_rerun(session, request, completion, client)
            session.expunge(run)
    judge = judge_for_segment(segment_key, settings)
    with session_scope() as session:
        judge_reverse(session, request, run, judge)
