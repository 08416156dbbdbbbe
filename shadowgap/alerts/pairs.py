"""A judged pair side by side, as alert evidence and the segment page show it.

For a pair of tool-call answers: one row per pair of calls the tool-call judge matched (cheap
call beside the flagship call; a call the other side did not make beside nothing), each with
its function and its arguments as indented JSON, and the differences the judge named
(``wrong_function``, ``missing_argument``, ``wrong_value``, ... see
:data:`shadowgap.judging.tool_calls.KINDS`). For JSON answers (the structured-output judge):
which fields differ, and which side breaks the response format. Which judge decided is the
example's ``judge``.

Everything is read from stored rows (the redacted answers and the verdict's redacted ``raw``),
and bounded here so that stored evidence stays small; each notifier trims further to its own
limits, and pages isolate the values' bidi controls when they print them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from shadowgap.alerts.schemas import CallPair, CallView, Comparison, Difference
from shadowgap.judging.tool_calls import pair_calls
from shadowgap.schemas import Answer, ToolCall

MAX_PAIRS = 8
MAX_ARGUMENTS_CHARS = 1500
MAX_DIFFERENCES = 8
MAX_DETAIL_CHARS = 300
MAX_FIELDS = 20
MAX_TEXT_CHARS = 1000
MAX_NAME_CHARS = 200


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def pretty_arguments(arguments: str) -> tuple[str, bool]:
    """(arguments as indented JSON in the order sent, whether they parse); text that is not
    JSON is shown as sent, since that is the finding."""
    try:
        value = json.loads(arguments) if arguments.strip() else {}
    except ValueError:
        return clip(arguments, MAX_ARGUMENTS_CHARS), False
    return clip(json.dumps(value, indent=2, ensure_ascii=False), MAX_ARGUMENTS_CHARS), True


def call_view(call: ToolCall) -> CallView:
    arguments, valid = pretty_arguments(call.arguments)
    return CallView(name=clip(call.name, MAX_NAME_CHARS), arguments=arguments, valid_json=valid)


def _answer(text: str | None, tool_calls: list[Any] | None) -> Answer:
    calls = [call for call in tool_calls or [] if isinstance(call, dict)]
    return Answer.from_openai_message({"content": text, "tool_calls": calls})


def _text(answer: Answer) -> str | None:
    return clip(answer.text, MAX_TEXT_CHARS) if answer.text.strip() else None


def _strings(values: Any, limit: int = MAX_FIELDS) -> list[str]:
    return [clip(str(v), MAX_DETAIL_CHARS) for v in (values or [])[:limit]]


def _differences(raw: Mapping[str, Any]) -> tuple[list[Difference], int | None]:
    found = [f for f in raw.get("differences") or [] if isinstance(f, Mapping)]
    shown = [
        Difference(
            kind=f.get("kind"),
            side=f.get("side"),
            function=f.get("function"),
            path=f.get("path"),
            detail=clip(str(f.get("detail") or ""), MAX_DETAIL_CHARS) or None,
        )
        for f in found[:MAX_DIFFERENCES]
    ]
    return shown, (len(found) - MAX_DIFFERENCES if len(found) > MAX_DIFFERENCES else None)


def _structured(comparison: Comparison, raw: Mapping[str, Any]) -> None:
    cheap, flagship = raw.get("cheap") or {}, raw.get("flagship") or {}
    comparison.differing_fields = _strings(raw.get("differing_fields"))
    comparison.compatible_fields = _strings(raw.get("compatible_fields"))
    comparison.free_text_fields = _strings(raw.get("free_text_fields"))
    comparison.cheap_break = cheap.get("break") if isinstance(cheap, Mapping) else None
    comparison.flagship_break = flagship.get("break") if isinstance(flagship, Mapping) else None
    # The violations of the side that breaks first (the cheap side's when both do).
    breaking = cheap if comparison.cheap_break else flagship
    if isinstance(breaking, Mapping):
        comparison.violations = _strings(breaking.get("violations"), 5)


def compare_pair(
    request: Mapping[str, Any] | None,
    cheap_text: str | None,
    cheap_calls: list[Any] | None,
    flagship_text: str | None,
    flagship_calls: list[Any] | None,
    raw: Mapping[str, Any] | None,
) -> Comparison | None:
    """The side-by-side view of a pair; None for two prose answers judged as text (their
    text and the rationale say it all)."""
    raw = raw or {}
    mode = raw.get("mode")
    cheap, flagship = _answer(cheap_text, cheap_calls), _answer(flagship_text, flagship_calls)
    if mode not in ("tool-calls", "structured-output") and not (
        cheap.tool_calls or flagship.tool_calls
    ):
        return None
    comparison = Comparison(
        mode=str(mode or "text"),
        difference=raw.get("difference"),
        cheap_text=_text(cheap),
        flagship_text=_text(flagship),
    )
    if cheap.tool_calls or flagship.tool_calls:
        rows = pair_calls(request, cheap.tool_calls, flagship.tool_calls)
        comparison.pairs = [
            CallPair(
                cheap=call_view(cheap.tool_calls[c]) if c is not None else None,
                flagship=call_view(flagship.tool_calls[f]) if f is not None else None,
            )
            for c, f in rows[:MAX_PAIRS]
        ]
    if mode == "tool-calls":
        comparison.differences, more = _differences(raw)
        if more:
            comparison.more_differences = more
    elif mode == "structured-output":
        _structured(comparison, raw)
    return comparison
