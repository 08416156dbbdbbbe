"""Pairwise LLM judge: which of two answers is better, asked in both orders.

LLM judges prefer whichever answer they read first (position bias). Each pair is therefore
judged twice, cheap-as-A then flagship-as-A, and only a preference that survives the swap counts:
when the two orders disagree the verdict is a tie. ``gap_score`` is the mean of the two orders'
signed scores (+1 flagship, 0 tie, -1 cheap), so it keeps partial evidence: 0.5 when one order
prefers the flagship and the other calls a tie, 0 when the orders contradict each other.
"""

from __future__ import annotations

import re
import time
from typing import Any, Literal

from shadowgap.judging.base import WINNER_SCORE, LLMJudge, Winner, clip, find_json_object
from shadowgap.schemas import Verdict

PROMPT_VERSION = "pairwise-v1"
Letter = Literal["A", "B", "tie"]

SYSTEM_PROMPT = (
    "You are an impartial judge. Compare two answers to the user's question and decide which "
    "one is better: correct first, then helpful and clear. Do not let the order of the "
    "answers or their length influence you. Reply with JSON only: "
    '{"winner": "A" or "B" or "tie", "reason": "<one short sentence>"}'
)
USER_TEMPLATE = (
    "[Question]\n{question}\n\n[Answer A]\n{a}\n[End of Answer A]\n\n"
    "[Answer B]\n{b}\n[End of Answer B]\n\nWhich answer is better? Reply with JSON only."
)
# Defaults keep the prompt and reply inside SmolLM2's 2048-token context (~3.5 chars/token);
# a judge on a large-context endpoint is built with larger limits.

_BRACKETED = re.compile(r"\[\[\s*(A|B|C|tie)\s*\]\]", re.IGNORECASE)
_LABELLED = re.compile(
    r"(?i:winner|better answer|better one|verdict|choice)\s*(?:is|:|=)?\s*[\"'(\[]*\s*"
    r"(?:(?i:answer|assistant)\s+)?(?P<v>A|B|(?i:tie))\b"
)
_PREFERS = re.compile(
    r"\b(?:(?i:answer|assistant)\s+)?(?P<v>A|B)\s+(?i:is\s+(?:the\s+)?"
    r"(?:better|more|superior|preferred|correct))"
)
_NAMED = re.compile(r"\b(?i:answer|assistant)\s+(?P<v>A|B)\b")


def _letter(value: Any) -> Letter | None:
    if not isinstance(value, str):
        return None
    cleaned = value.strip().strip("\"'()[].").strip()
    cleaned = re.sub(r"^(?i:answer|assistant)\s+", "", cleaned)
    if cleaned in ("A", "a"):
        return "A"
    if cleaned in ("B", "b"):
        return "B"
    if cleaned.lower() in ("tie", "c", "both", "equal", "neither", "draw"):
        return "tie"
    return None


def parse_choice(text: str) -> tuple[Letter | None, str]:
    """The judge's pick from its reply (JSON first, then prose) and its stated reason."""
    found = find_json_object(text)
    if found is not None:
        letter = _letter(found.get("winner"))
        if letter is not None:
            return letter, str(found.get("reason", "")).strip()
    bracketed = _BRACKETED.search(text)
    if bracketed:
        return _letter(bracketed.group(1)), text.strip()
    for pattern in (_LABELLED, _PREFERS):
        match = pattern.search(text)
        if match:
            return _letter(match.group("v")), text.strip()
    # Prose that names exactly one answer ("Answer B is more accurate") picks it.
    named = {match.group("v") for match in _NAMED.finditer(text)}
    if len(named) == 1:
        return _letter(named.pop()), text.strip()
    stripped = text.strip()
    return _letter(stripped) if len(stripped) <= 6 else None, stripped


class PairwiseJudge(LLMJudge):
    """Any :class:`ChatClient` as a pairwise judge (the flagship itself, or a local model)."""

    name = "pairwise"
    prompt_version: str | None = PROMPT_VERSION
    system_prompt = SYSTEM_PROMPT

    def _ask(self, question: str, a: str, b: str) -> dict[str, Any]:
        result = self._complete(
            USER_TEMPLATE.format(
                question=clip(question, self.max_question_chars),
                a=clip(a, self.max_answer_chars),
                b=clip(b, self.max_answer_chars),
            )
        )
        result["choice"], result["reason"] = parse_choice(result["output"])
        return result

    def judge(self, question: str, cheap: str, flagship: str) -> Verdict:
        started = time.perf_counter()
        first = self._ask(question, cheap, flagship)  # A = cheap, B = flagship
        second = self._ask(question, flagship, cheap)  # A = flagship, B = cheap
        first["winner"] = _to_winner(first["choice"], a=Winner.CHEAP, b=Winner.FLAGSHIP)
        second["winner"] = _to_winner(second["choice"], a=Winner.FLAGSHIP, b=Winner.CHEAP)
        winners: tuple[Winner, Winner] = (first["winner"], second["winner"])
        winner: Winner = winners[0] if winners[0] == winners[1] else Winner.TIE
        gap = (WINNER_SCORE[winners[0]] + WINNER_SCORE[winners[1]]) / 2.0
        prompt_tokens = first["prompt_tokens"] + second["prompt_tokens"]
        completion_tokens = first["completion_tokens"] + second["completion_tokens"]
        if winners[0] != winners[1]:
            rationale = f"orders disagree ({winners[0]} then {winners[1]}): position bias, tie"
        else:
            rationale = first["reason"] or second["reason"] or f"{winner} in both orders"
        return Verdict(
            winner=winner,
            gap_score=gap,
            rationale=rationale[:2000],
            raw={
                "orders": [
                    {"a": "cheap", "b": "flagship", **first},
                    {"a": "flagship", "b": "cheap", **second},
                ],
                "consistent": winners[0] == winners[1],
            },
            judge=self.name,
            judge_model=self.model,
            prompt_version=self.prompt_version,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            cost_usd=self.prices.cost(prompt_tokens, completion_tokens),
            latency_ms=(time.perf_counter() - started) * 1000.0,
        )


def _to_winner(choice: Letter | None, *, a: Winner, b: Winner) -> Winner:
    # An unparsable reply counts as no preference: it must not decide the pair.
    if choice == "A":
        return a
    if choice == "B":
        return b
    return Winner.TIE
