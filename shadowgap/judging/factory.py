"""Picks the judge for a segment: ``judge_by_segment`` (longest matching prefix) or ``judge``."""

from __future__ import annotations

import threading

from shadowgap.config import JUDGE_NAMES, Settings
from shadowgap.judging.answer_match import AnswerMatchJudge
from shadowgap.judging.base import Judge, Prices
from shadowgap.llm.base import ChatClient

LLM_JUDGES = ("pairwise", "reference")

_JUDGES: dict[tuple[object, ...], Judge] = {}
_LOCK = threading.Lock()


def judge_name_for_segment(segment_key: str, settings: Settings) -> str:
    """The judge configured for ``segment_key``: the longest matching prefix wins."""
    matches = [prefix for prefix in settings.judge_by_segment if segment_key.startswith(prefix)]
    if not matches:
        return settings.judge
    return settings.judge_by_segment[max(matches, key=len)]


def judges_on_embedded_model(settings: Settings) -> bool:
    """Whether an LLM judge the settings name would run on the embedded model."""
    names = {settings.judge, *settings.judge_by_segment.values()}
    return bool(names & set(LLM_JUDGES)) and settings.flagship_client in (None, "recorded")


def uses_embedded_model(settings: Settings) -> bool:
    """Whether a worker with these settings loads the embedded llama.cpp model."""
    return (
        settings.flagship_client == "llama-cpp"
        or settings.cheap_client == "llama-cpp"
        or judges_on_embedded_model(settings)
    )


def judge_client(settings: Settings) -> tuple[ChatClient, Prices]:
    """The model LLM judges call, and its prices.

    The flagship judges when it is a live model. A recorded flagship can only replay answers,
    so the local SmolLM2 model judges instead (free: it runs in-process).
    """
    from shadowgap.llm.factory import make_flagship_client

    # No live flagship (a recorded one, or none configured, as for judge-eval): the local model.
    if settings.flagship_client in (None, "recorded"):
        from shadowgap.llm.llama_cpp_client import LlamaCppClient

        return LlamaCppClient(settings.llama_model_path), Prices()
    prices = Prices(
        settings.flagship_usd_per_1k_prompt_tokens, settings.flagship_usd_per_1k_completion_tokens
    )
    return make_flagship_client(settings), prices


# A remote judge model has a large context: let it read long answers whole.
REMOTE_MAX_ANSWER_CHARS = 16_000


def build_judge(name: str, settings: Settings) -> Judge:
    """A new judge by name (uncached)."""
    if name == "answer-match":
        return AnswerMatchJudge()
    if name not in ("pairwise", "reference"):
        raise ValueError(f"unknown judge {name!r} (known: {', '.join(JUDGE_NAMES)})")
    client, prices = judge_client(settings)
    limits = {"max_answer_chars": REMOTE_MAX_ANSWER_CHARS} if client.name == "openai" else {}
    if name == "pairwise":
        from shadowgap.judging.pairwise import PairwiseJudge

        return PairwiseJudge(client, prices=prices, **limits)
    from shadowgap.judging.reference import ReferenceJudge

    return ReferenceJudge(client, prices=prices, **limits)


def judge_by_name(name: str, settings: Settings) -> Judge:
    """The process-wide judge of that name (LLM judges hold a loaded model)."""
    key = (
        name,
        settings.flagship_client,
        settings.flagship_base_url,
        settings.flagship_model,
        settings.llama_model_path,
    )
    with _LOCK:
        judge = _JUDGES.get(key)
        if judge is None:
            judge = _JUDGES[key] = build_judge(name, settings)
        return judge


def judge_for_segment(segment_key: str, settings: Settings) -> Judge:
    return judge_by_name(judge_name_for_segment(segment_key, settings), settings)
