"""Judges behind one Protocol: answer match, pairwise LLM, reference-graded LLM, and the judges
chosen by answer kind (tool calls, structured outputs; see :mod:`shadowgap.judging.select`)."""

from shadowgap.judging.base import Judge
from shadowgap.judging.factory import judge_by_name, judge_for_segment
from shadowgap.judging.select import answer_kind, judge_pair

__all__ = ["Judge", "answer_kind", "judge_by_name", "judge_for_segment", "judge_pair"]
