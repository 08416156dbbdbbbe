"""The one interface every judge implements, and what the LLM judges share."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

from service.schemas import Verdict

Winner = Literal["flagship", "cheap", "tie"]
WINNERS: tuple[Winner, ...] = ("flagship", "tie", "cheap")
# Signed score of each outcome: positive when the flagship is better.
WINNER_SCORE: dict[Winner, float] = {"flagship": 1.0, "tie": 0.0, "cheap": -1.0}


@runtime_checkable
class Judge(Protocol):
    """Decides whether the flagship's answer beats the cheap model's answer to ``question``."""

    name: str
    model: str | None
    prompt_version: str | None

    def judge(self, question: str, cheap: str, flagship: str) -> Verdict: ...


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
