"""Judges behind one Protocol: answer match, pairwise LLM, reference-graded LLM."""

from service.judging.base import Judge
from service.judging.factory import judge_by_name, judge_for_segment

__all__ = ["Judge", "judge_by_name", "judge_for_segment"]
