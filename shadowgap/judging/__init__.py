"""Judges behind one Protocol: answer match, pairwise LLM, reference-graded LLM."""

from shadowgap.judging.base import Judge
from shadowgap.judging.factory import judge_by_name, judge_for_segment

__all__ = ["Judge", "judge_by_name", "judge_for_segment"]
