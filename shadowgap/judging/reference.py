"""Reference-graded LLM judge: rates the cheap answer 1-10 with the flagship's as reference.

This is MT-Bench's single-answer grading with a reference, aimed at the cheap answer. The
grade maps to ``gap_score = (10 - grade) / 9``: 10 (as good as the reference) is 0, 1 (useless)
is 1, linear in between. The flagship wins when ``grade <= threshold`` (default 5, "worse than
acceptable"), otherwise the pair is a tie; the cheap answer never wins because the flagship is
the yardstick. A reply with no readable grade is a tie with ``raw["grade"] = None``.
"""

from __future__ import annotations

import re
import time
from typing import Any

from shadowgap.judging.base import (
    MAX_ANSWER_CHARS,
    LLMJudge,
    Prices,
    Winner,
    clip,
    find_json_object,
)
from shadowgap.llm.base import ChatClient
from shadowgap.schemas import Verdict

PROMPT_VERSION = "reference-v1"
MIN_GRADE, MAX_GRADE = 1.0, 10.0

SYSTEM_PROMPT = (
    "You are an impartial judge. Rate the assistant's answer to the user's question on a "
    "scale of 1 to 10, using the reference answer as the standard of correctness: 10 means "
    "as correct and helpful as the reference, 1 means wrong or useless. Reply with JSON only: "
    '{"grade": <integer 1-10>, "reason": "<one short sentence>"}'
)
USER_TEMPLATE = (
    "[Question]\n{question}\n\n[Reference Answer]\n{reference}\n[End of Reference Answer]\n\n"
    "[Assistant's Answer]\n{answer}\n[End of Assistant's Answer]\n\n"
    "Grade the assistant's answer from 1 to 10. Reply with JSON only."
)
# Defaults keep the prompt and reply inside SmolLM2's 2048-token context (~3.5 chars/token);
# a judge on a large-context endpoint is built with larger limits.

_NUMBER = r"(?P<g>\d+(?:\.\d+)?)"
_PATTERNS = (
    re.compile(r"\[\[\s*" + _NUMBER + r"\s*\]\]"),
    re.compile(r"(?i:grade|rating|score)\s*(?:is|:|=)?\s*\"?" + _NUMBER),
    re.compile(_NUMBER + r"\s*(?:/|out of)\s*10\b"),
    # Small models often answer with the bare grade first: "10\n\nThe answer is ...".
    re.compile(r"\A\s*" + _NUMBER + r"(?![\d.])"),
)


def _valid(value: Any) -> float | None:
    try:
        grade = float(value)
    except (TypeError, ValueError):
        return None
    return grade if MIN_GRADE <= grade <= MAX_GRADE else None


def parse_grade(text: str) -> tuple[float | None, str]:
    """The 1-10 grade in the judge's reply (JSON, "[[7]]", "Rating: 7", "7/10", leading "7")."""
    found = find_json_object(text)
    if found is not None:
        grade = _valid(found.get("grade", found.get("rating", found.get("score"))))
        if grade is not None:
            return grade, str(found.get("reason", "")).strip()
    for pattern in _PATTERNS:
        match = pattern.search(text)
        if match:
            grade = _valid(match.group("g"))
            if grade is not None:
                return grade, text.strip()
    stripped = text.strip()
    return _valid(stripped) if len(stripped) <= 4 else None, stripped


def gap_from_grade(grade: float) -> float:
    """(10 - grade) / 9: 0 at 10, 1 at 1."""
    return (MAX_GRADE - grade) / (MAX_GRADE - MIN_GRADE)


class ReferenceJudge(LLMJudge):
    """Any :class:`ChatClient` grading the cheap answer against the flagship's."""

    name = "reference"
    prompt_version: str | None = PROMPT_VERSION
    system_prompt = SYSTEM_PROMPT

    def __init__(
        self,
        client: ChatClient,
        *,
        threshold: float = 5.0,
        max_tokens: int = 96,
        prices: Prices | None = None,
        max_answer_chars: int = MAX_ANSWER_CHARS,
    ) -> None:
        super().__init__(
            client, max_tokens=max_tokens, prices=prices, max_answer_chars=max_answer_chars
        )
        self.threshold = threshold

    def grade(self, question: str, answer: str, reference: str) -> dict[str, Any]:
        """One grading call: the parsed grade (or None), the reason and the raw output."""
        result = self._complete(
            USER_TEMPLATE.format(
                question=clip(question, self.max_question_chars),
                reference=clip(reference, self.max_answer_chars),
                answer=clip(answer, self.max_answer_chars),
            )
        )
        result["grade"], result["reason"] = parse_grade(result["output"])
        return result

    def judge(self, question: str, cheap: str, flagship: str) -> Verdict:
        started = time.perf_counter()
        result = self.grade(question, cheap, flagship)
        grade: float | None = result["grade"]
        winner: Winner
        if grade is None:
            winner, gap = Winner.TIE, 0.0
            rationale = "no readable 1-10 grade in the judge's reply"
        else:
            gap = gap_from_grade(grade)
            winner = Winner.FLAGSHIP if grade <= self.threshold else Winner.TIE
            rationale = f"grade {grade:g}/10: {result['reason']}".strip()
        return Verdict(
            winner=winner,
            gap_score=gap,
            rationale=rationale[:2000],
            raw={**result, "threshold": self.threshold},
            judge=self.name,
            judge_model=self.model,
            prompt_version=self.prompt_version,
            prompt_tokens=result["prompt_tokens"],
            completion_tokens=result["completion_tokens"],
            cost_usd=self.prices.cost(result["prompt_tokens"], result["completion_tokens"]),
            latency_ms=(time.perf_counter() - started) * 1000.0,
        )
