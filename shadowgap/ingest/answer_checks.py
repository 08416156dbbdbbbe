"""Answer checks that need no flagship, run at ingest on every cheap-routed answer.

The drift detectors of :mod:`shadowgap.drift.signals` watch four rates per segment from what
this module stores in ``traffic_events.answer_checks`` (a small JSON object, NULL when no
check applies). Each key is there only when its check applies to the event, so a detector
sees only events that can tell (and a segment without tool calls has no tool-call detector at
all, which keeps the false-alarm budget's split cheap: see :mod:`shadowgap.drift.budget`):

- ``tool_args`` (answers that call tools): ``{"invalid": bool, "calls": n}`` and, for an
  invalid answer, the first break: ``tool`` (the function), ``kind`` and ``path``. Kinds are
  the tool-call judge's (:mod:`shadowgap.judging.tool_calls`): ``invalid_arguments_json``
  (the arguments do not parse, or are not a JSON object), ``wrong_function`` (the function
  is not among the request's ``tools``), ``missing_argument``, ``wrong_type``,
  ``wrong_value`` (outside an ``enum``), ``unexpected_argument``. Without ``tools`` in the
  request only the JSON is checked. A value sent at the schema's ``default`` never breaks it,
  as for the judge.
- ``schema`` (a text answer to a request whose ``response_format`` asks for JSON):
  ``{"invalid": bool}`` and for an invalid one ``kind`` (``invalid_json``, or
  ``schema_violation`` with the first ``path``). ``json_object`` means "a JSON object".
  A Markdown code fence around the JSON is tolerated, as by the structured-output judge.
- ``truncated`` (an answer whose ``finish_reason`` is known): it is ``length`` (or
  Anthropic's / Gemini's ``max_tokens``).
- ``refusal`` (an answer whose ``finish_reason`` is known, or given as an assistant message):
  an OpenAI ``refusal``, a ``content_filter`` finish (Gemini ``safety``, Anthropic
  ``refusal``), or the sender's ``refused`` flag.

A truncated answer is not checked for JSON or arguments: cutting it broke them, and the
truncation detector already counts it (one cause, one alert). A refusal is not checked for
JSON either.

**Bounded.** Every check reads its input once: JSON parsing is linear, the schema walk takes
at most :data:`MAX_SCHEMA_STEPS` steps (:func:`shadowgap.judging.json_schema.validate`), at
most :data:`MAX_CHECKED_CALLS` calls are checked, and a text or arguments longer than
:data:`MAX_CHECKED_CHARS` is not parsed. An answer past a cap (or nested past the parser's
depth) is left unchecked: the key is absent, so it counts neither way.

The checks run before redaction (a redacted number inside arguments would read as broken
JSON), on the sender's text; what they store is redacted like any text at rest.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from shadowgap.enums import EventStatus
from shadowgap.judging.json_schema import WalkLimit, to_json_schema, validate
from shadowgap.judging.structured import response_format, response_schema
from shadowgap.judging.tool_calls import VIOLATION_KINDS, drop_defaults, request_tools
from shadowgap.schemas import AssistantMessage, TrafficEvent

MAX_CHECKED_CHARS = 100_000
MAX_SCHEMA_STEPS = 10_000
MAX_CHECKED_CALLS = 16
MAX_PATH_CHARS = 200

TRUNCATED_FINISHES = frozenset({"length", "max_tokens"})
REFUSAL_FINISHES = frozenset({"content_filter", "safety", "refusal"})


class _Unchecked(Exception):
    """An input past a cap: the check does not apply to this answer."""


def check_answer(event: TrafficEvent) -> dict[str, Any] | None:
    """The checks that apply to ``event``'s answer (see the module docstring), or None.

    The caller runs it on cheap-routed events only: the detectors watch the cheap path."""
    if event.status == EventStatus.ERROR:
        return None
    text = event.answer_text()
    if text is None:
        return None
    out: dict[str, Any] = {}
    finish = event.answer_finish_reason()
    finish_key = finish.strip().lower() if finish else None
    message = event.answer if isinstance(event.answer, AssistantMessage) else None
    structured = message is not None
    truncated = finish_key in TRUNCATED_FINISHES
    refused = bool(event.refused or finish_key in REFUSAL_FINISHES or (message and message.refusal))
    if finish_key is not None:
        out["truncated"] = truncated
    if finish_key is not None or structured:
        out["refusal"] = refused
    if not truncated:
        params = event.request.params
        calls = event.answer_tool_calls()
        if calls:
            tool_args = _check_calls(calls, params)
            if tool_args is not None:
                out["tool_args"] = tool_args
        elif not refused:
            fmt = response_format(params)
            if fmt is not None:
                schema = _check_json(text, response_schema(fmt))
                if schema is not None:
                    out["schema"] = schema
    return out or None


def _check_calls(calls: list[dict[str, Any]], params: Mapping[str, Any]) -> dict[str, Any] | None:
    """The first break among the answer's function calls, or None when none could be read."""
    tools = request_tools(params)
    known = _tools_by_name(tools) if tools else None
    checked = 0
    for call in calls[:MAX_CHECKED_CALLS]:
        function = call.get("function") if isinstance(call, Mapping) else None
        if not isinstance(function, Mapping):
            continue  # a custom (free-form) tool call has no JSON arguments to check
        name = str(function.get("name") or "")
        try:
            fault = _check_call(name, str(function.get("arguments") or ""), known)
        except _Unchecked:
            continue
        checked += 1
        if fault is not None:
            kind, path = fault
            return {
                "invalid": True,
                "calls": len(calls),
                "tool": name[:MAX_PATH_CHARS],
                "kind": kind,
                "path": path[:MAX_PATH_CHARS] if path else None,
            }
    if not checked:
        return None
    return {"invalid": False, "calls": len(calls)}


def _tools_by_name(tools: Any) -> dict[str, Any]:
    """Function name -> its raw ``parameters`` (converted only when the function is called)."""
    out: dict[str, Any] = {}
    for tool in tools if isinstance(tools, list) else []:
        if not isinstance(tool, Mapping):
            continue
        function = tool.get("function") if isinstance(tool.get("function"), Mapping) else tool
        if isinstance(function, Mapping) and isinstance(function.get("name"), str):
            out[function["name"]] = function.get("parameters")
    return out


def _check_call(
    name: str, arguments: str, known: dict[str, Any] | None
) -> tuple[str, str | None] | None:
    """``(kind, path)`` of the call's first break, or None."""
    if known is not None and name not in known:
        return "wrong_function", None
    ok, value = _parse(arguments, empty_is_object=True)
    if not ok:
        return "invalid_arguments_json", None
    if not isinstance(value, dict):
        return "invalid_arguments_json", None
    parameters = known.get(name) if known is not None else None
    if not isinstance(parameters, Mapping):
        return None
    try:
        schema = to_json_schema(parameters)
        violation = _first_violation(drop_defaults(value, schema), schema)
    except RecursionError as exc:
        raise _Unchecked from exc
    if violation is None:
        return None
    return VIOLATION_KINDS[violation[0]], violation[1]


def _check_json(text: str, schema: Mapping[str, Any]) -> dict[str, Any] | None:
    try:
        ok, value = _parse(_unfenced(text), empty_is_object=False)
        if not ok:
            return {"invalid": True, "kind": "invalid_json"}
        violation = _first_violation(value, schema)
    except _Unchecked:
        return None
    if violation is None:
        return {"invalid": False}
    return {"invalid": True, "kind": "schema_violation", "path": violation[1][:MAX_PATH_CHARS]}


def _first_violation(value: Any, schema: Mapping[str, Any]) -> tuple[str, str] | None:
    try:
        violations = validate(value, schema, max_steps=MAX_SCHEMA_STEPS)
    except (WalkLimit, RecursionError) as exc:
        raise _Unchecked from exc
    if not violations:
        return None
    return violations[0].kind, violations[0].path


def _parse(text: str, *, empty_is_object: bool) -> tuple[bool, Any]:
    """(parsed?, value); raises :class:`_Unchecked` past the size or depth cap."""
    if len(text) > MAX_CHECKED_CHARS:
        raise _Unchecked
    if empty_is_object and not text.strip():
        return True, {}  # OpenAI sends "" for a call without arguments
    try:
        return True, json.loads(text)
    except RecursionError as exc:
        raise _Unchecked from exc
    except ValueError:
        return False, None


def _unfenced(text: str) -> str:
    """``text`` without a surrounding Markdown code fence (```json ... ```), in linear time.

    The structured-output judge strips the same fences with a regular expression; this is the
    same rule without backtracking, for input nobody has bounded yet."""
    body = text.strip()
    if not (body.startswith("```") and body.endswith("```") and len(body) >= 6):
        return text
    first_line_end = body.find("\n")
    if first_line_end == -1:
        return text
    opener = body[3:first_line_end].strip().lower()
    if opener not in ("", "json"):
        return text
    inner = body[first_line_end + 1 : -3]
    # The closing fence must stand on a line of its own.
    return inner if "\n" in inner[len(inner.rstrip()) :] else text
