"""judge.score: judge a shadowed event's answers once its runs have committed."""

from __future__ import annotations

from shadowgap.config import get_settings
from shadowgap.db import models
from shadowgap.db.engine import session_scope
from shadowgap.errors import FlagshipError
from shadowgap.judging.factory import judge_for_segment
from shadowgap.judging.score import judge_plan, plan_scoring, store_verdicts
from shadowgap.worker import queue
from shadowgap.worker.app import app
from shadowgap.worker.retries import MODEL_CALLS


@app.task(name="judge.score", **MODEL_CALLS.task_options(soft_time_limit=600, time_limit=660))
def score(self, event_pk: int) -> int:  # type: ignore[no-untyped-def]
    settings = get_settings()
    with session_scope() as session:
        plan = plan_scoring(session, event_pk)
        if plan is None:
            return 0
        segment = session.get(models.Segment, plan.segment_id)
        assert segment is not None
        judge = judge_for_segment(segment.key, settings)
    try:
        # An LLM judge may be slow: no transaction is open while it runs.
        judged = judge_plan(plan, judge)
    except FlagshipError as exc:
        MODEL_CALLS.retry_transient(self, exc)
        raise
    with session_scope() as session:
        verdicts = store_verdicts(session, plan, judged)
    if verdicts:
        queue.request_drift_update({plan.segment_id})
    return len(verdicts)
