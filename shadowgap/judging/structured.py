"""Structured-output judge: answers to a request with ``response_format`` JSON.

``{"type": "json_schema", "json_schema": {"schema": ...}}`` sends a schema; ``{"type":
"json_object"}`` asks for any JSON object. Each answer is checked first:

- ``invalid_json``: the text does not parse as JSON (a Markdown code fence around it is
  tolerated: models without enforced JSON mode add one, and the JSON inside is what a parser
  downstream would be given after the same stripping);
- ``schema_violation``: it parses but breaks the schema (or is not an object under
  ``json_object``), with the paths that break it.

When only the cheap answer breaks the request the flagship wins; when only the flagship's
does, the cheap answer wins; when both do, the worse break loses (invalid JSON is worse than a
schema violation) and the same kind on both sides is a tie.

When both are valid they compare field by field (leaf paths; key order, whitespace and number
spelling never count; an omitted property equals the schema's ``default``): ``field_differs``
names the differing paths. As for tool arguments (see :mod:`shadowgap.judging.values`), a
difference that may name the same thing ("NYC" / "New York City", the same date) is no
evidence against the cheap answer, and a free-text field (more than ``FREE_TEXT_WORDS`` words
in either answer) is prose that two models never write alike: such fields are listed, not
counted. Any other differing field makes the flagship the winner; ``raw["agreement"]`` is the
share of leaf fields that agree.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from typing import Any

from shadowgap.judging.base import Winner, rule_verdict
from shadowgap.judging.json_schema import canonical, validate
from shadowgap.judging.tool_calls import fill_defaults
from shadowgap.judging.values import compatible
from shadowgap.schemas import Answer, Verdict

PROMPT_VERSION = "structured-v1"
FREE_TEXT_WORDS = 20
_FENCE = re.compile(r"^\s*```(?:json)?\s*\n(?P<body>.*?)\n\s*```\s*$", re.DOTALL | re.IGNORECASE)
# Worst first: the side whose worst break comes first loses.
BREAKS = ("invalid_json", "schema_violation")


def response_format(request: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The request's ``response_format`` when it asks for JSON (top level or under params)."""
    if not request:
        return None
    for holder in (request, request.get("params") or {}):
        if isinstance(holder, Mapping):
            value = holder.get("response_format")
            if isinstance(value, Mapping) and value.get("type") in ("json_schema", "json_object"):
                return dict(value)
    return None


def response_schema(fmt: Mapping[str, Any]) -> dict[str, Any]:
    """The schema to check against: the sent one, or "an object" for ``json_object``."""
    if fmt.get("type") == "json_schema":
        spec = fmt.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, Mapping) else None
        if isinstance(schema, Mapping):
            return dict(schema)
    return {"type": "object"}


def parse_json_answer(text: str) -> tuple[bool, Any]:
    """(parsed?, value) of an answer's text, a surrounding code fence removed."""
    fenced = _FENCE.match(text)
    body = fenced.group("body") if fenced else text
    try:
        return True, json.loads(body)
    except ValueError:
        return False, None


def leaves(value: Any, path: str = "$") -> dict[str, Any]:
    """Path -> leaf value; an empty object or list is a leaf of its own."""
    if isinstance(value, dict) and value:
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(leaves(item, f"{path}.{key}"))
        return out
    if isinstance(value, list) and value:
        out = {}
        for index, item in enumerate(value):
            out.update(leaves(item, f"{path}[{index}]"))
        return out
    return {path: value}


def _free_text(value: Any) -> bool:
    return isinstance(value, str) and len(value.split()) > FREE_TEXT_WORDS


_MISSING = object()


def compare_fields(cheap: Any, flagship: Any) -> tuple[list[str], list[str], list[str], int]:
    """(differing paths, compatible paths, free-text paths, leaf count) of two valid answers."""
    ours, theirs = leaves(cheap), leaves(flagship)
    differs: list[str] = []
    soft: list[str] = []
    free: list[str] = []
    for path in sorted(set(ours) | set(theirs)):
        a, b = ours.get(path, _MISSING), theirs.get(path, _MISSING)
        if a is _MISSING or b is _MISSING:
            differs.append(path)
        elif canonical(a) == canonical(b):
            continue
        elif _free_text(a) or _free_text(b):
            free.append(path)
        elif compatible(a, b):
            soft.append(path)
        else:
            differs.append(path)
    return differs, soft, free, len(set(ours) | set(theirs))


def _check(text: str, schema: Mapping[str, Any]) -> tuple[str | None, list[str], Any]:
    """(break kind or None, paths or message, parsed value) of one answer."""
    parsed, value = parse_json_answer(text)
    if not parsed:
        return "invalid_json", [], None
    violations = validate(value, schema)
    if violations:
        return "schema_violation", [f"{v.path}: {v.message}" for v in violations[:20]], value
    return None, [], value


class StructuredOutputJudge:
    """Judges answers to a request that asked for JSON (see the module docstring)."""

    name = "structured-output"
    model: str | None = None
    prompt_version: str | None = PROMPT_VERSION

    def judge(self, question: str, cheap: str, flagship: str) -> Verdict:
        """The text-judge interface: no request known, so JSON objects without a schema."""
        request = {"response_format": {"type": "json_object"}}
        return self.judge_answers(request, cheap, flagship)

    def judge_answers(
        self,
        request: Mapping[str, Any] | None,
        cheap: Answer | str | dict[str, Any] | None,
        flagship: Answer | str | dict[str, Any] | None,
    ) -> Verdict:
        started = time.perf_counter()
        fmt = response_format(request) or {"type": "json_object"}
        schema = response_schema(fmt)
        cheap_text, flagship_text = Answer.coerce(cheap).text, Answer.coerce(flagship).text
        cheap_break, cheap_paths, cheap_value = _check(cheap_text, schema)
        flagship_break, flagship_paths, flagship_value = _check(flagship_text, schema)
        raw: dict[str, Any] = {
            "mode": "structured-output",
            "format": fmt.get("type"),
            "cheap": {"break": cheap_break, "violations": cheap_paths},
            "flagship": {"break": flagship_break, "violations": flagship_paths},
        }
        winner: Winner
        if cheap_break or flagship_break:
            cheap_rank = BREAKS.index(cheap_break) if cheap_break else len(BREAKS)
            flagship_rank = BREAKS.index(flagship_break) if flagship_break else len(BREAKS)
            if cheap_rank < flagship_rank:
                winner, difference = Winner.FLAGSHIP, str(cheap_break)
            elif flagship_rank < cheap_rank:
                winner, difference = Winner.CHEAP, str(flagship_break)
            else:
                winner, difference = Winner.TIE, str(cheap_break)
            loser = {"flagship": "cheap answer", "cheap": "flagship's answer"}.get(winner)
            where = "; ".join((cheap_paths if winner != "cheap" else flagship_paths)[:3])
            rationale = (
                f"{difference}: the {loser} breaks the response format"
                if loser
                else f"{difference}: both answers break the response format"
            ) + (f" ({where})" if where else "")
        else:
            differs, soft, free, total = compare_fields(
                fill_defaults(cheap_value, schema), fill_defaults(flagship_value, schema)
            )
            raw.update(
                differing_fields=differs,
                compatible_fields=soft,
                free_text_fields=free,
                agreement=(total - len(differs) - len(soft) - len(free)) / total if total else 1.0,
            )
            if differs:
                winner, difference = Winner.FLAGSHIP, "field_differs"
                rationale = (
                    f"field_differs: {', '.join(differs[:8])} (the flagship is the reference)"
                )
            elif soft or free:
                winner, difference = Winner.TIE, "values_differ"
                rationale = (
                    "values_differ: no field is shown wrong"
                    + (f"; may name the same thing: {', '.join(soft[:8])}" if soft else "")
                    + (f"; free text: {', '.join(free[:8])}" if free else "")
                )
            else:
                winner, difference = Winner.TIE, "none"
                rationale = "equivalent JSON answers (every field agrees after normalisation)"
        raw["difference"] = difference
        return rule_verdict(self, winner, rationale, raw, started)
