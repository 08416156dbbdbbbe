"""Tool-call judge: compares the cheap model's function calls with the flagship's.

It sees the request's tools (their JSON Schemas), the cheap answer and the flagship answer,
never a ground truth. Steps:

1. Each call's arguments are parsed and checked against its tool's schema: JSON that does not
   parse (or is not an object) is ``invalid_arguments_json``; a missing required argument is
   ``missing_argument``; a value of the wrong JSON type ``wrong_type``; a value outside the
   schema's ``enum`` ``wrong_value``; an argument the schema does not have (when it forbids
   others) ``unexpected_argument``; a function that is not among the tools ``wrong_function``.
2. Calls are matched as a multiset (order-free): equivalent calls first, then the closest
   call of the same function. A flagship call left over is ``missing_call``, a cheap call left
   over ``extra_call``, a matched pair naming different functions ``wrong_function``. A call
   against prose is ``prose_instead_of_call`` (flagship called, cheap wrote text) or
   ``call_where_none_fits`` (flagship wrote text, cheap called).
3. Matched calls compare argument by argument after normalisation: key order, whitespace in
   the JSON text and number spelling (``1`` / ``1.0``) never count, and an omitted argument
   equals the schema's ``default``.

How a difference counts:

- Broken form is decided without doubt: when only the cheap side breaks the request (any kind
  above), the flagship wins (gap 1); when only the flagship's side does, the cheap answer wins
  (gap -1). A break both share (the same kind at the same argument of the same function)
  cancels out; otherwise the side whose worst break comes first in :data:`KINDS` loses, and
  the same worst kind on both sides is a tie. A value sent at the schema's ``default`` never
  breaks the schema (tool authors write ``"default": "false"`` for booleans and defaults
  outside their enums), and a call sent at a default equals the call that omits it.
- Both calls schema-valid but with different values: one flagship call cannot say which value
  is right. BFCL's ground truth accepts both "San Francisco, CA" and "San Francisco" for some
  requests ("NYC" / "New York", "2022-05-03" / "May 3rd, 2022", "Seattle" / "Seattle, WA")
  and rejects "San Francisco" for others where only "San Francisco, CA" is listed: the two
  strings are the same city and nothing in one request tells the cases apart. So under the
  default policy ``compatible`` a difference that :func:`shadowgap.judging.values.compatible`
  accepts (same words in another order or case, initials, a prefix, a less precise name, the
  same date), and an optional argument one side leaves out (no default), are a tie marked
  ``values_differ``: no evidence against the cheap call. One exception uses the request:
  when the cheap value keeps only some words of a flagship value the user wrote word for word
  ("Chennai" where the user wrote "Chennai, Tamil Nadu"), it drops what the user said and is a
  ``wrong_value``. Any other value difference (another number, the other boolean, another
  entity) is ``wrong_value`` and the flagship wins. Policy ``strict`` makes every value
  difference a flagship win; ``lenient`` makes every schema-valid value difference a tie.
  ``judge-eval --dataset bfcl`` measures all three against the BFCL ground truth (full run,
  seed 21): ``compatible`` agrees on 97.2% of acceptable and 99.5% of unacceptable cheap
  calls; on the other-acceptable-value stratum it agrees in 62.5% and on wrong values in
  96.6%. ``strict`` gets 2.4% and 99.6% there, ``lenient`` 97.6% and 0.3%: a tie for every
  value difference would hide wrong values, a flagship win for every one would call most
  acceptable alternatives regressions.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from shadowgap.judging.base import Winner, rule_verdict
from shadowgap.judging.json_schema import canonical, tool_schemas, validate
from shadowgap.judging.values import compatible, drops_stated_detail
from shadowgap.schemas import Answer, ToolCall, Verdict, content_text

PROMPT_VERSION = "tool-calls-v1"
ValuePolicy = Literal["compatible", "strict", "lenient"]
VALUE_POLICIES: tuple[ValuePolicy, ...] = ("compatible", "strict", "lenient")

# Most telling first: the verdict's ``difference`` is the first kind found in this order.
KINDS = (
    "prose_instead_of_call",
    "call_where_none_fits",
    "wrong_function",
    "missing_call",
    "extra_call",
    "invalid_arguments_json",
    "missing_argument",
    "wrong_type",
    "unexpected_argument",
    "wrong_value",
    "values_differ",
)
_VIOLATION_KIND = {
    "required": "missing_argument",
    "type": "wrong_type",
    "enum": "wrong_value",
    "additional": "unexpected_argument",
}
# A schema violation's kind as the findings name it (ingest's answer checks use it too).
VIOLATION_KINDS = _VIOLATION_KIND


@dataclass(frozen=True, slots=True)
class Finding:
    """One difference: ``side`` is whose answer is at fault (``None``: nobody can tell)."""

    kind: str
    side: Literal["cheap", "flagship"] | None
    call: int | None = None  # index of the flagship call (cheap call for extra_call)
    path: str | None = None
    detail: str = ""
    function: str | None = None

    @property
    def where(self) -> tuple[str, str | None, str | None]:
        return (self.kind, self.function, self.path)


@dataclass(slots=True)
class _Call:
    index: int
    name: str
    raw: str
    arguments: dict[str, Any] | None
    schema: dict[str, Any] | None  # None: the function is not among the tools
    faults: list[Finding] = field(default_factory=list)

    @property
    def key(self) -> str:
        args = canonical(self.arguments) if self.arguments is not None else self.raw
        return f"{self.name}({args})"


def request_tools(request: Mapping[str, Any] | None) -> Any:
    """The tools a request carries: top-level (an OpenAI body) or under ``params`` (stored)."""
    if not request:
        return None
    for holder in (request, request.get("params") or {}):
        if isinstance(holder, Mapping):
            for key in ("tools", "functions"):
                if holder.get(key):
                    return holder[key]
    return None


def declared_default(schema: Mapping[str, Any]) -> Any:
    """A property's ``default``, read in its own type where the author wrote it as a string
    (``"false"`` for a boolean, ``"1"`` for an integer: common in real tool schemas)."""
    default = schema.get("default")
    kinds = schema.get("type")
    kinds = kinds if isinstance(kinds, list) else [kinds]
    if isinstance(default, str):
        if "boolean" in kinds and default.strip().lower() in ("true", "false"):
            return default.strip().lower() == "true"
        if "integer" in kinds or "number" in kinds:
            try:
                number = float(default)
            except ValueError:
                return default
            return int(number) if number.is_integer() else number
    return default


def _at_default(value: Any, schema: Any) -> bool:
    if not isinstance(schema, Mapping) or "default" not in schema:
        return False
    return canonical(value) in (canonical(schema["default"]), canonical(declared_default(schema)))


def user_text(request: Mapping[str, Any] | None) -> str:
    """What the user wrote in the request (every user turn), the judge's evidence for values."""
    messages = (request or {}).get("messages") or []
    return "\n".join(
        content_text(m.get("content"))
        for m in messages
        if isinstance(m, Mapping) and m.get("role") == "user"
    )


def fill_defaults(value: Any, schema: Any) -> Any:
    """``value`` with every omitted property that has a ``default`` set to it (recursively)."""
    if not isinstance(schema, Mapping):
        return value
    if isinstance(value, dict):
        properties = schema.get("properties")
        if not isinstance(properties, Mapping):
            return value
        out = {key: fill_defaults(item, properties.get(key)) for key, item in value.items()}
        for key, sub in properties.items():
            if key not in out and isinstance(sub, Mapping) and "default" in sub:
                out[key] = declared_default(sub)
            elif key in out and _at_default(out[key], sub):
                out[key] = declared_default(sub)
        return out
    if isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        return [fill_defaults(item, schema["items"]) for item in value]
    return value


def _parse(index: int, call: ToolCall, schemas: dict[str, dict[str, Any]] | None) -> _Call:
    schema = None if schemas is None else schemas.get(call.name)
    parsed = _Call(index, call.name, call.arguments, None, schema)
    side_unknown = schemas is not None and schema is None
    try:
        arguments = call.parsed_arguments()
    except ValueError as exc:
        parsed.faults.append(
            Finding("invalid_arguments_json", None, index, None, str(exc), call.name)
        )
        return parsed
    if not isinstance(arguments, dict):
        detail = f"arguments are a JSON {type(arguments).__name__}, not an object"
        parsed.faults.append(
            Finding("invalid_arguments_json", None, index, None, detail, call.name)
        )
        return parsed
    parsed.arguments = arguments
    if side_unknown:
        detail = f"{call.name!r} is not among the request's tools"
        parsed.faults.append(Finding("wrong_function", None, index, None, detail, call.name))
    elif schema:
        # A value equal to the declared default is the omitted argument, even where the tool's
        # author declared a default outside the schema ("N/A" for an enum, "1" for an integer).
        for violation in validate(drop_defaults(arguments, schema), schema):
            kind = _VIOLATION_KIND[violation.kind]
            parsed.faults.append(
                Finding(kind, None, index, violation.path, violation.message, call.name)
            )
    return parsed


def drop_defaults(value: Any, schema: Any) -> Any:
    """``value`` without the properties sent at their schema ``default`` (recursively)."""
    if not isinstance(schema, Mapping) or not isinstance(value, dict):
        return value
    properties = schema.get("properties")
    if not isinstance(properties, Mapping):
        return value
    out = {}
    for key, item in value.items():
        sub = properties.get(key)
        if _at_default(item, sub):
            continue
        out[key] = drop_defaults(item, sub)
    return out


def _with_side(findings: list[Finding], side: Literal["cheap", "flagship"]) -> list[Finding]:
    return [Finding(f.kind, side, f.call, f.path, f.detail, f.function) for f in findings]


def _arguments(call: _Call) -> dict[str, Any]:
    filled = fill_defaults(call.arguments or {}, call.schema)
    return filled if isinstance(filled, dict) else {}


def _soft(cheap: Any, flagship: Any, policy: ValuePolicy, request_text: str) -> bool:
    """Whether a value difference is no evidence against the cheap call (see the policies)."""
    if policy == "lenient":
        return True
    if policy == "strict":
        return False
    return compatible(cheap, flagship) and not drops_stated_detail(cheap, flagship, request_text)


def _value_findings(
    cheap: _Call, flagship: _Call, policy: ValuePolicy, request_text: str = ""
) -> list[Finding]:
    """Argument-by-argument differences of two parsed calls of the same function."""
    ours, theirs = _arguments(cheap), _arguments(flagship)
    faulted = {f.path for f in cheap.faults} | {f.path for f in flagship.faults}
    required = set((flagship.schema or {}).get("required") or [])
    findings: list[Finding] = []
    for key in sorted(set(ours) | set(theirs)):
        if key in faulted:
            continue  # already named by the schema check
        index = flagship.index
        if key not in ours or key not in theirs:
            # An optional argument one side leaves out (a required one is a schema fault).
            omits: Literal["cheap", "flagship"] = "cheap" if key not in ours else "flagship"
            detail = f"the {omits} call omits optional argument {key!r}"
            if key in required:
                findings.append(
                    Finding("missing_argument", omits, index, key, detail, flagship.name)
                )
            elif policy == "strict":
                findings.append(Finding("wrong_value", "cheap", index, key, detail, flagship.name))
            else:
                findings.append(Finding("values_differ", None, index, key, detail, flagship.name))
            continue
        if canonical(ours[key]) == canonical(theirs[key]):
            continue
        detail = f"cheap {ours[key]!r} vs flagship {theirs[key]!r}"
        soft = _soft(ours[key], theirs[key], policy, request_text)
        if soft:
            findings.append(Finding("values_differ", None, index, key, detail, flagship.name))
        else:
            findings.append(Finding("wrong_value", "cheap", index, key, detail, flagship.name))
    return findings


def _distance(cheap: _Call, flagship: _Call) -> float:
    """Matching cost: 0 for equivalent calls, small for the same function, large otherwise."""
    if cheap.name != flagship.name:
        return 100.0
    if cheap.arguments is None or flagship.arguments is None:
        return 50.0
    ours, theirs = _arguments(cheap), _arguments(flagship)
    keys = set(ours) | set(theirs)
    differing = sum(
        1 for key in keys if canonical(ours.get(key, None)) != canonical(theirs.get(key, None))
    )
    return differing / (len(keys) or 1)


def match_calls(cheap: list[_Call], flagship: list[_Call]) -> list[tuple[int, int]]:
    """(cheap index, flagship index) pairs, closest first; order of the calls is ignored."""
    costs = sorted((_distance(c, f), f.index, c.index) for c in cheap for f in flagship)
    used_cheap: set[int] = set()
    used_flagship: set[int] = set()
    pairs: list[tuple[int, int]] = []
    for _, f_index, c_index in costs:
        if c_index not in used_cheap and f_index not in used_flagship:
            used_cheap.add(c_index)
            used_flagship.add(f_index)
            pairs.append((c_index, f_index))
    return sorted(pairs, key=lambda pair: pair[1])


def pair_calls(
    request: Mapping[str, Any] | None, cheap: list[ToolCall], flagship: list[ToolCall]
) -> list[tuple[int | None, int | None]]:
    """(cheap index, flagship index) rows as the judge matched the calls, for showing them
    side by side: matched pairs in the flagship's order, then each side's unmatched calls
    against ``None``."""
    tools = request_tools(request)
    schemas = tool_schemas(tools) if tools else None
    ours = [_parse(i, call, schemas) for i, call in enumerate(cheap)]
    theirs = [_parse(i, call, schemas) for i, call in enumerate(flagship)]
    pairs: list[tuple[int | None, int | None]] = list(match_calls(ours, theirs))
    paired_cheap = {c for c, _ in pairs}
    paired_flagship = {f for _, f in pairs}
    pairs += [(None, f.index) for f in theirs if f.index not in paired_flagship]
    pairs += [(c.index, None) for c in ours if c.index not in paired_cheap]
    return pairs


def _outcome(findings: list[Finding]) -> tuple[Winner, str]:
    """Who wins, and the difference that decided it.

    A fault both sides share (the same kind at the same place of the same function) cancels
    out. Of the rest, the side whose worst fault ranks first in :data:`KINDS` loses; the same
    worst kind on both sides is a tie.
    """
    shared = {f.where for f in findings if f.side == "cheap"} & {
        f.where for f in findings if f.side == "flagship"
    }
    worst: dict[str, int] = {}
    for finding in findings:
        if finding.side is not None and finding.where not in shared:
            rank = KINDS.index(finding.kind)
            worst[finding.side] = min(rank, worst.get(finding.side, len(KINDS)))
    cheap, flagship = worst.get("cheap"), worst.get("flagship")
    if cheap is not None and (flagship is None or cheap < flagship):
        return Winner.FLAGSHIP, KINDS[cheap]
    if flagship is not None and (cheap is None or flagship < cheap):
        return Winner.CHEAP, KINDS[flagship]
    kinds = [f.kind for f in findings]
    return Winner.TIE, (min(kinds, key=KINDS.index) if kinds else "none")


def _describe(call: _Call) -> dict[str, Any]:
    return {
        "name": call.name,
        "arguments": call.arguments if call.arguments is not None else call.raw,
    }


class ToolCallJudge:
    """Judges answers that are tool calls (see the module docstring)."""

    name = "tool-calls"
    model: str | None = None
    prompt_version: str | None = PROMPT_VERSION

    def __init__(self, policy: ValuePolicy = "compatible") -> None:
        if policy not in VALUE_POLICIES:
            raise ValueError(f"unknown value policy {policy!r} (known: {VALUE_POLICIES})")
        self.policy: ValuePolicy = policy

    def judge(self, question: str, cheap: str, flagship: str) -> Verdict:
        """The text-judge interface: answers given as JSON assistant messages, no tools known."""
        return self.judge_answers(None, _answer_from_text(cheap), _answer_from_text(flagship))

    def judge_answers(
        self,
        request: Mapping[str, Any] | None,
        cheap: Answer | str | dict[str, Any] | None,
        flagship: Answer | str | dict[str, Any] | None,
    ) -> Verdict:
        """Judge two answers to ``request`` (an OpenAI body or a stored request with params)."""
        started = time.perf_counter()
        cheap_answer, flagship_answer = Answer.coerce(cheap), Answer.coerce(flagship)
        tools = request_tools(request)
        schemas = tool_schemas(tools) if tools else None
        findings = self.compare(schemas, cheap_answer, flagship_answer, user_text(request))
        winner, difference = _outcome(findings)
        rationale = _rationale(winner, difference, findings)
        raw = {
            "mode": "tool-calls",
            "policy": self.policy,
            "difference": difference,
            "differences": [asdict(f) for f in findings],
            "cheap": _answer_summary(cheap_answer),
            "flagship": _answer_summary(flagship_answer),
            "tools_known": schemas is not None,
        }
        return rule_verdict(self, winner, rationale, raw, started)

    def compare(
        self,
        schemas: dict[str, dict[str, Any]] | None,
        cheap: Answer,
        flagship: Answer,
        request_text: str = "",
    ) -> list[Finding]:
        """Every difference between the two answers' calls (empty: equivalent)."""
        if not flagship.tool_calls and not cheap.tool_calls:
            return []
        if flagship.tool_calls and not cheap.tool_calls:
            names = ", ".join(call.name for call in flagship.tool_calls)
            return [
                Finding("prose_instead_of_call", "cheap", None, None, f"flagship called {names}")
            ]
        if cheap.tool_calls and not flagship.tool_calls:
            names = ", ".join(call.name for call in cheap.tool_calls)
            detail = f"cheap called {names} where the flagship called no function"
            return [Finding("call_where_none_fits", "cheap", None, None, detail)]
        ours = [_parse(i, call, schemas) for i, call in enumerate(cheap.tool_calls)]
        theirs = [_parse(i, call, schemas) for i, call in enumerate(flagship.tool_calls)]
        findings: list[Finding] = []
        for call in ours:
            findings += _with_side(call.faults, "cheap")
        for call in theirs:
            findings += _with_side(call.faults, "flagship")
        pairs = match_calls(ours, theirs)
        for c_index, f_index in pairs:
            mine, reference = ours[c_index], theirs[f_index]
            if mine.name != reference.name:
                detail = f"cheap called {mine.name!r}, flagship {reference.name!r}"
                findings.append(Finding("wrong_function", "cheap", f_index, None, detail))
            elif mine.arguments is not None and reference.arguments is not None:
                findings += _value_findings(mine, reference, self.policy, request_text)
        matched_cheap = {c for c, _ in pairs}
        matched_flagship = {f for _, f in pairs}
        for call in theirs:
            if call.index not in matched_flagship:
                detail = f"the cheap answer has no call matching {call.key}"
                findings.append(Finding("missing_call", "cheap", call.index, None, detail))
        for call in ours:
            if call.index not in matched_cheap:
                detail = f"the flagship made no call matching {call.key}"
                findings.append(Finding("extra_call", "cheap", call.index, None, detail))
        return findings


def _answer_from_text(text: str) -> Answer:
    """An answer stored as text: a JSON assistant message or tool-call list, else prose."""
    stripped = text.strip()
    if stripped[:1] in "{[":
        try:
            value = json.loads(stripped)
        except ValueError:
            return Answer.from_text(text)
        if isinstance(value, dict) and ("tool_calls" in value or "function_call" in value):
            return Answer.from_openai_message(value)
        if isinstance(value, list) and all(isinstance(item, dict) for item in value):
            return Answer.from_openai_message({"tool_calls": value})
    return Answer.from_text(text)


def _answer_summary(answer: Answer) -> dict[str, Any]:
    return {
        "text": answer.text[:500] or None,
        "tool_calls": [
            {"name": call.name, "arguments": call.arguments[:2000]} for call in answer.tool_calls
        ],
        "finish_reason": answer.finish_reason,
    }


def _rationale(winner: Winner, difference: str, findings: list[Finding]) -> str:
    if not findings:
        return "equivalent tool calls (same functions and argument values after normalisation)"
    shown = "; ".join(
        f"{f.kind}{' ' + f.path if f.path else ''}: {f.detail}".strip() for f in findings[:4]
    )
    more = f" (+{len(findings) - 4} more)" if len(findings) > 4 else ""
    if winner == "tie":
        return f"{difference}: no side is shown wrong; {shown}{more}"
    loser = "cheap" if winner == "flagship" else "flagship"
    return f"{difference}: the {loser} call is at fault; {shown}{more}"
