"""Judge selection per segment."""

from __future__ import annotations

import pytest

from shadowgap.config import Settings
from shadowgap.judging.answer_match import AnswerMatchJudge
from shadowgap.judging.factory import judge_by_name, judge_for_segment, judge_name_for_segment


def test_longest_prefix_wins() -> None:
    settings = Settings(
        judge="answer-match",
        judge_by_segment={"tenant=acme": "pairwise", "tenant=acme|team=admin": "reference"},
    )
    assert judge_name_for_segment("tenant=globex", settings) == "answer-match"
    assert judge_name_for_segment("tenant=acme|team=support", settings) == "pairwise"
    assert judge_name_for_segment("tenant=acme|team=admin", settings) == "reference"


def test_default_judge_is_answer_match_and_cached() -> None:
    settings = Settings()
    judge = judge_for_segment("tenant=anyone", settings)
    assert isinstance(judge, AnswerMatchJudge)
    assert judge is judge_for_segment("tenant=other", settings)


def test_unknown_judge_name_is_rejected() -> None:
    # When the settings load, not when the segment's first pair is judged.
    with pytest.raises(ValueError, match="unknown judge"):
        Settings(judge_by_segment={"tenant=x": "coin-flip"})
    with pytest.raises(ValueError, match="unknown judge"):
        judge_by_name("coin-flip", Settings())
