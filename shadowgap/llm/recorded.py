"""A flagship that answers from a recorded dataset, for replays, demos and tests.

A JSONL record's ``answer`` may be a string or an OpenAI assistant message object
(``{"content": ..., "tool_calls": [...]}``): a recorded answer that calls tools is returned as
those tool calls (``finish_reason`` "tool_calls"). The request's other parameters (tools,
response format, ...) do not change what is looked up: the recording is the answer.

Answers are keyed by the sha256 of the normalised last user message, so a replayed request
finds its recorded flagship answer whatever the surrounding whitespace. A recorded flagship has
no run-to-run noise: the noise-floor replicate gets the very same answer, and the measured noise
floor of a replay is exactly zero.
"""

from __future__ import annotations

import csv
import json
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from shadowgap.llm.base import Completion, FlagshipCallError, prompt_key
from shadowgap.schemas import content_text, last_user_text

DEFAULT_DATASET = Path("../shared/data/routellm/gsm8k/gsm8k_responses.csv")
# Column names of the RouteLLM GSM8K file: GPT-4's answer is the recorded flagship answer.
GSM8K_PROMPT = "prompt"
GSM8K_FLAGSHIP = "gpt-4-1106-preview_response"
GSM8K_FLAGSHIP_MODEL = "gpt-4-1106-preview"

# The RouteLLM GSM8K file's cheap model, which the reverse shadow replays by default.
GSM8K_CHEAP_MODEL = "mistralai/Mixtral-8x7B-Instruct-v0.1"
GSM8K_CHEAP = f"{GSM8K_CHEAP_MODEL}_response"

# A recorded answer: its text, or an assistant message object (content, tool_calls).
Recorded = str | dict[str, Any]

_CACHE: dict[tuple[Path, str | None], dict[str, Recorded]] = {}
_CACHE_LOCK = threading.Lock()


def _answer_column(fieldnames: list[str]) -> str:
    if "answer" in fieldnames:
        return "answer"
    if GSM8K_FLAGSHIP in fieldnames:
        return GSM8K_FLAGSHIP
    raise ValueError(f"no 'answer' or '{GSM8K_FLAGSHIP}' column (columns: {fieldnames})")


def read_answers(path: Path, column: str | None = None) -> dict[str, Recorded]:
    """prompt_key -> answer from a CSV (prompt + answer columns, or the named ``column``) or
    JSONL file (where an answer may be an assistant message object)."""
    answers: dict[str, Recorded] = {}
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        with path.open(encoding="utf-8") as handle:
            for line_no, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                record: dict[str, Any] = json.loads(line)
                if "prompt" not in record or "answer" not in record:
                    raise ValueError(f"{path}:{line_no}: needs 'prompt' and 'answer'")
                answer = record["answer"]
                answers[prompt_key(str(record["prompt"]))] = (
                    answer if isinstance(answer, dict) else str(answer)
                )
        return answers
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        fieldnames = list(reader.fieldnames or [])
        if GSM8K_PROMPT not in fieldnames:
            raise ValueError(f"{path}: no 'prompt' column (columns: {fieldnames})")
        if column is None:
            column = _answer_column(fieldnames)
        elif column not in fieldnames:
            raise ValueError(f"{path}: no {column!r} column (columns: {fieldnames})")
        for row in reader:
            answers[prompt_key(row[GSM8K_PROMPT])] = row[column]
    return answers


def load_answers(path: Path, column: str | None = None) -> dict[str, Recorded]:
    """:func:`read_answers`, cached per resolved path and column for the life of the process."""
    key = (path.resolve(), column)
    with _CACHE_LOCK:
        if key not in _CACHE:
            _CACHE[key] = read_answers(key[0], column)
        return _CACHE[key]


def _estimate_tokens(text: str) -> int:
    # No tokenizer for a recorded model; ~4 characters per token keeps replay costs indicative.
    return max(1, (len(text) + 3) // 4) if text else 0


class RecordedClient:
    """Looks the last user message up in a recorded dataset.

    Token counts are estimates (about four characters per token), so costs in a replay are
    indicative only. Unknown prompts raise a non-transient :class:`FlagshipCallError`.
    """

    name = "recorded"

    def __init__(
        self,
        path: Path | str | None = None,
        *,
        model: str | None = None,
        answer_column: str | None = None,
    ) -> None:
        self.path = Path(path) if path is not None else DEFAULT_DATASET
        if not self.path.is_file():
            raise FileNotFoundError(f"recorded answers not found: {self.path.resolve()}")
        self.model = model or (GSM8K_FLAGSHIP_MODEL if path is None else self.path.stem)
        self._answers = load_answers(self.path, answer_column)

    def __len__(self) -> int:
        return len(self._answers)

    def complete(
        self,
        messages: list[dict[str, Any]],
        *,
        max_tokens: int,
        temperature: float = 0.0,
        options: Mapping[str, Any] | None = None,
    ) -> Completion:
        started = time.perf_counter()
        question = last_user_text(messages)
        answer = self._answers.get(prompt_key(question))
        if answer is None:
            raise FlagshipCallError(
                f"no recorded answer for this prompt in {self.path.name} "
                f"(key {prompt_key(question)[:12]})",
                transient=False,
            )
        prompt_text = "\n".join(str(m.get("content") or "") for m in messages)
        text, calls = _recorded(answer)
        written = text + "".join(json.dumps(call) for call in calls or [])
        return Completion(
            text=text,
            prompt_tokens=_estimate_tokens(prompt_text),
            completion_tokens=_estimate_tokens(written),
            latency_ms=(time.perf_counter() - started) * 1000.0,
            attempts=1,
            finish_reason="tool_calls" if calls else "stop",
            tool_calls=calls,
        )


def _recorded(answer: Recorded) -> tuple[str, list[dict[str, Any]] | None]:
    """The text and tool calls (OpenAI's shape, arguments as JSON text) of a recorded answer."""
    if isinstance(answer, str):
        return answer, None
    calls: list[dict[str, Any]] = []
    for call in answer.get("tool_calls") or []:
        function = dict(call.get("function") or {})
        if not isinstance(function.get("arguments", ""), str):
            function["arguments"] = json.dumps(function["arguments"])
        calls.append({**call, "type": call.get("type", "function"), "function": function})
    content = answer.get("content")
    return content_text(content), calls or None
