"""How much of a segment's traffic its judge can actually compare.

answer-match compares stated results; an open-ended flagship answer (an essay, a story, an
explanation with no stated result) gives it nothing to compare, so such a pair is a tie with
mode ``open-ended`` (:mod:`shadowgap.judging.answer_match`). A segment where most pairs are
open-ended has a quality gap that says little: it needs a pairwise judge. This counts them
over the segment's latest judged pairs so the API and the segment page can say so.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from shadowgap.db.models import Verdict
from shadowgap.enums import VerdictKind

# The latest gap verdicts the coverage is read from.
RECENT_PAIRS = 500
# From this share of open-ended pairs on, the segment is flagged for a pairwise judge.
OPEN_ENDED_WARNING_SHARE = 0.5


def judge_coverage(session: Session, segment_id: int) -> dict[str, Any]:
    """Judges used, open-ended pairs and their share over the latest gap verdicts."""
    recent = (
        select(Verdict.judge, Verdict.raw["mode"].as_string().label("mode"))
        .where(Verdict.segment_id == segment_id, Verdict.kind == VerdictKind.GAP)
        .order_by(Verdict.id.desc())
        .limit(RECENT_PAIRS)
    )
    judges: dict[str, int] = {}
    open_ended = 0
    for judge, mode in session.execute(recent):
        judges[judge] = judges.get(judge, 0) + 1
        open_ended += mode == "open-ended"
    pairs = sum(judges.values())
    share = open_ended / pairs if pairs else None
    advice = None
    if share is not None and share >= OPEN_ENDED_WARNING_SHARE:
        advice = (
            f"{share:.0%} of the latest judged pairs are open-ended answers that answer-match "
            "cannot compare (counted as ties): route this segment to a pairwise judge with "
            "SHADOWGAP_JUDGE_BY_SEGMENT"
        )
    return {
        "pairs": pairs,
        "judges": judges,
        "open_ended": open_ended,
        "open_ended_share": share,
        "advice": advice,
    }
