"""The one interface every judge implements, and what the LLM judges share."""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from shadowgap.enums import Winner
from shadowgap.llm.base import ChatClient
from shadowgap.schemas import Verdict

WINNERS: tuple[Winner, ...] = (Winner.FLAGSHIP, Winner.TIE, Winner.CHEAP)
# Signed score of each outcome: positive when the flagship is better.
WINNER_SCORE: dict[Winner, float] = {Winner.FLAGSHIP: 1.0, Winner.TIE: 0.0, Winner.CHEAP: -1.0}


@runtime_checkable
class Judge(Protocol):
    """Decides whether the flagship's answer beats the cheap model's answer to ``question``."""

    name: str
    model: str | None
    prompt_version: str | None

    def judge(self, question: str, cheap: str, flagship: str) -> Verdict: ...


def rule_verdict(
    judge: Judge, winner: Winner, rationale: str, raw: dict[str, Any], started: float
) -> Verdict:
    """The verdict of a judge that calls no model (answer match, structured output, tool
    calls): the score is the winner's, no tokens or cost, latency since ``started``
    (``time.perf_counter()``)."""
    return Verdict(
        winner=winner,
        gap_score=WINNER_SCORE[winner],
        rationale=rationale,
        raw=raw,
        judge=judge.name,
        judge_model=None,
        prompt_version=judge.prompt_version,
        latency_ms=(time.perf_counter() - started) * 1000.0,
    )


@dataclass(frozen=True, slots=True)
class Prices:
    """USD per 1k tokens of the model a judge calls (zero for a local model)."""

    prompt_per_1k: float = 0.0
    completion_per_1k: float = 0.0

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (
            prompt_tokens * self.prompt_per_1k + completion_tokens * self.completion_per_1k
        ) / 1000.0


_JSON_OBJECT = re.compile(r"\{[^{}]*\}", re.DOTALL)


def find_json_object(text: str) -> dict[str, Any] | None:
    """The first flat JSON object in ``text`` that parses (models wrap JSON in prose/fences)."""
    for match in _JSON_OBJECT.finditer(text):
        try:
            value = json.loads(match.group(0))
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict):
            return value
    return None


def clip(text: str, limit: int) -> str:
    """At most ``limit`` characters: long answers must not overflow a small judge's context."""
    return text if len(text) <= limit else text[: limit - 15].rstrip() + "\n[...truncated]"


MAX_ANSWER_CHARS = 2000
MAX_QUESTION_CHARS = 1200


class LLMJudge:
    """What the pairwise and the reference-graded judges share: a chat client asked one
    system + user prompt at temperature 0, with answers clipped to fit a small context."""

    system_prompt: str = ""

    def __init__(
        self,
        client: ChatClient,
        *,
        max_tokens: int = 96,
        prices: Prices | None = None,
        max_answer_chars: int = MAX_ANSWER_CHARS,
    ) -> None:
        self.client = client
        self.model: str | None = client.model
        self.max_tokens = max_tokens
        self.prices = prices or Prices()
        self.max_answer_chars = max_answer_chars
        self.max_question_chars = max_answer_chars * MAX_QUESTION_CHARS // MAX_ANSWER_CHARS

    def _complete(self, user_content: str) -> dict[str, Any]:
        """Ask once; the raw output with its token counts and latency."""
        messages = [
            {"role": "system", "content": self.system_prompt},
            {"role": "user", "content": user_content},
        ]
        completion = self.client.complete(messages, max_tokens=self.max_tokens, temperature=0.0)
        return {
            "output": completion.text,
            "prompt_tokens": completion.prompt_tokens,
            "completion_tokens": completion.completion_tokens,
            "latency_ms": completion.latency_ms,
        }
