"""The fixed set of cheap answers judge-eval measures the tool-call judge on, per BFCL case.

Built before any judging, from a seed (one random stream per case, so a subset draws the same
variants as the full run). Each variant is the flagship's acceptable call changed one way:

- form (the same call written differently): ``form_order`` (arguments, and parallel calls,
  shuffled), ``form_number`` (``1`` <-> ``1.0`` where the schema type is number),
  ``form_whitespace`` (the JSON text re-spaced), ``form_default`` (an argument left out that
  the flagship sent at its schema default, or sent explicitly at its default);
- other acceptable answers: ``omitted_optional`` (an optional argument whose ground truth
  allows leaving it out, which the flagship sent), ``alt_value`` (another acceptable value
  where the ground truth lists more than one);
- error kinds: ``wrong_function`` (another candidate function), ``missing_argument`` (a
  required one dropped), ``wrong_value`` (a value the ground truth does not list: another
  number or entity from the request, the other enum member or boolean, else a perturbed
  number or a string of another case), ``wrong_type`` (a number sent as a string, a string
  as a list, ...), ``invalid_json``, ``prose`` (text instead of a call), ``extra_call``,
  ``missing_call`` (parallel cases), ``call_where_none_fits`` (irrelevance cases).

Whether each variant is acceptable is not assumed from its kind: :func:`bfcl.acceptable`
decides it from the ground truth.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from shadowgap.judging.bfcl import BfclCase, acceptable, flagship_answer, value_accepted
from shadowgap.judging.json_schema import canonical
from shadowgap.schemas import Answer, ToolCall

FORM_KINDS = ("form_order", "form_number", "form_whitespace", "form_default")
ACCEPTABLE_KINDS = (*FORM_KINDS, "omitted_optional", "alt_value")
ERROR_KINDS = (
    "wrong_function",
    "missing_argument",
    "wrong_value",
    "wrong_type",
    "invalid_json",
    "prose",
    "extra_call",
    "missing_call",
    "call_where_none_fits",
)
KINDS = ACCEPTABLE_KINDS + ERROR_KINDS

_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_QUOTED = re.compile(r"(?<!\w)'([^']{2,60})'(?!\w)|\"([^\"]{2,60})\"")
_PROPER = re.compile(r"\b[A-Z][\w&.-]*(?:\s+[A-Z][\w&.-]*)*")
_PROSE = (
    "Sure, I can help with that. Let me know if you need anything else!",
    "To do this you would use {name} with the details you gave.",
    "I don't have enough information to do that yet. Could you give me more details?",
)


@dataclass(frozen=True, slots=True)
class Variant:
    case: BfclCase
    kind: str
    flagship: Answer
    cheap: Answer
    acceptable: bool  # per the ground truth


def _calls(answer: Answer) -> list[tuple[str, dict[str, Any]]]:
    return [(call.name, json.loads(call.arguments)) for call in answer.tool_calls]


def _answer(calls: list[tuple[str, Any]], dump: Callable[[Any], str] = json.dumps) -> Answer:
    return Answer(
        tool_calls=[
            ToolCall(
                id=f"call_{i}", name=name, arguments=args if isinstance(args, str) else dump(args)
            )
            for i, (name, args) in enumerate(calls)
        ],
        finish_reason="tool_calls",
    )


def _props(case: BfclCase, name: str) -> dict[str, Any]:
    props = (case.schemas().get(name) or {}).get("properties")
    return props if isinstance(props, dict) else {}


def _type(prop: Any) -> str | None:
    kind = prop.get("type") if isinstance(prop, Mapping) else None
    if isinstance(kind, list):
        kinds = [k for k in kind if k != "null"]
        return kinds[0] if len(kinds) == 1 else None
    return kind if isinstance(kind, str) else None


def _options(case: BfclCase, index: int) -> dict[str, list[Any]]:
    if index >= len(case.ground_truth):
        return {}
    ((_, options),) = case.ground_truth[index].items()
    return options


# --- acceptable variants ---------------------------------------------------------------------


def _form_order(case: BfclCase, calls: list[Any], rng: random.Random) -> Answer | None:
    shuffled = []
    for name, args in calls:
        keys = list(args)
        rng.shuffle(keys)
        shuffled.append((name, {key: args[key] for key in keys}))
    if len(shuffled) > 1:
        rng.shuffle(shuffled)
    changed = [list(a) for _, a in shuffled] != [list(a) for _, a in calls] or shuffled != calls
    return _answer(shuffled) if changed else None


def _floats(value: Any, prop: Any) -> Any:
    kind = _type(prop)
    if kind == "number" and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if kind == "number" and isinstance(value, float) and value.is_integer():
        return int(value)
    if kind == "array" and isinstance(value, list):
        return [_floats(item, prop.get("items")) for item in value]
    if kind == "object" and isinstance(value, dict):
        props = prop.get("properties") or {}
        return {key: _floats(item, props.get(key)) for key, item in value.items()}
    return value


def _form_number(case: BfclCase, calls: list[Any], rng: random.Random) -> Answer | None:
    changed = [
        (name, {k: _floats(v, _props(case, name).get(k)) for k, v in args.items()})
        for name, args in calls
    ]
    texts = [json.dumps(args) for _, args in changed]
    return _answer(changed) if texts != [json.dumps(args) for _, args in calls] else None


def _form_whitespace(case: BfclCase, calls: list[Any], rng: random.Random) -> Answer | None:
    if not any(args for _, args in calls):
        return None
    style = rng.choice(({"indent": 2}, {"separators": (" , ", " : ")}, {"separators": (",", ":")}))
    return _answer(calls, lambda args: "\n " + json.dumps(args, **style) + " \n")


def _form_default(case: BfclCase, calls: list[Any], rng: random.Random) -> Answer | None:
    choices = []
    for index, (name, args) in enumerate(calls):
        for key, prop in _props(case, name).items():
            if not isinstance(prop, Mapping) or "default" not in prop:
                continue
            if key in args and canonical(args[key]) == canonical(prop["default"]):
                choices.append((index, key, None))  # leave it out
            elif key not in args:
                choices.append((index, key, prop["default"]))  # send the default
    if not choices:
        return None
    index, key, value = rng.choice(choices)
    changed = [(name, dict(args)) for name, args in calls]
    if value is None and key in changed[index][1]:
        del changed[index][1][key]
    else:
        changed[index][1][key] = value
    return _answer(changed)


def _omitted_optional(case: BfclCase, calls: list[Any], rng: random.Random) -> Answer | None:
    choices = []
    schemas = case.schemas()
    for index, (name, args) in enumerate(calls):
        props = _props(case, name)
        required = (schemas.get(name) or {}).get("required") or []
        for key in args:
            prop = props.get(key)
            if key in required:
                continue
            at_default = (
                isinstance(prop, Mapping)
                and "default" in prop
                and canonical(prop["default"]) == canonical(args[key])
            )
            if "" in _options(case, index).get(key, []) and not at_default:
                choices.append((index, key))
    if not choices:
        return None
    index, key = rng.choice(choices)
    changed = [(name, dict(args)) for name, args in calls]
    del changed[index][1][key]
    return _answer(changed)


def _alt_value(case: BfclCase, calls: list[Any], rng: random.Random) -> Answer | None:
    choices = []
    for index, (_, args) in enumerate(calls):
        for key, options in _options(case, index).items():
            if key not in args or isinstance(args[key], dict):
                continue
            others = [
                o for o in options if o not in ("", None) and canonical(o) != canonical(args[key])
            ]
            choices += [(index, key, other) for other in others]
    if not choices:
        return None
    index, key, value = rng.choice(choices)
    changed = [(name, dict(args)) for name, args in calls]
    changed[index][1][key] = value
    return _answer(changed)


# --- error variants --------------------------------------------------------------------------


def _placeholder(prop: Any, question: str) -> Any:
    """A value a model might fill in for an argument of another function."""
    if isinstance(prop, Mapping) and isinstance(prop.get("enum"), list) and prop["enum"]:
        return prop["enum"][0]
    kind = _type(prop)
    numbers = _NUMBER.findall(question)
    if kind in ("integer", "number"):
        return int(float(numbers[0])) if numbers else 1
    if kind == "boolean":
        return True
    if kind == "array":
        return []
    if kind == "object":
        return {}
    names = _PROPER.findall(question)
    return names[0] if names else " ".join(question.split()[:4])


def _call_for(
    function: Mapping[str, Any], case: BfclCase, reuse: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    name = function["name"]
    props = _props(case, name)
    required = (case.schemas().get(name) or {}).get("required") or []
    return name, {
        key: reuse[key] if key in reuse else _placeholder(props.get(key), case.question)
        for key in required
    }


def _wrong_function(case: BfclCase, calls: list[Any], rng: random.Random) -> Answer | None:
    called = {name for name, _ in calls}
    others = [f for f in case.functions if f["name"] not in called]
    if not others or not calls:
        return None
    index = rng.randrange(len(calls))
    changed = list(calls)
    changed[index] = _call_for(rng.choice(others), case, calls[index][1])
    return _answer(changed)


def _missing_argument(case: BfclCase, calls: list[Any], rng: random.Random) -> Answer | None:
    schemas = case.schemas()
    choices = [
        (index, key)
        for index, (name, args) in enumerate(calls)
        for key in (schemas.get(name) or {}).get("required") or []
        if key in args
    ]
    if not choices:
        return None
    index, key = rng.choice(choices)
    changed = [(name, dict(args)) for name, args in calls]
    del changed[index][1][key]
    return _answer(changed)


def _question_values(case: BfclCase, kind: str) -> list[Any]:
    """Values of that JSON type the request mentions: what a model may wrongly pick."""
    text = case.question
    if kind in ("integer", "number"):
        found = [float(n) for n in _NUMBER.findall(text)]
        return [
            int(n) if kind == "integer" or n.is_integer() else n
            for n in found
            if kind == "number" or n.is_integer()
        ]
    if kind == "string":
        quoted = [a or b for a, b in _QUOTED.findall(text)]
        return quoted + _PROPER.findall(text)
    return []


def _wrong(
    value: Any, prop: Any, options: list[Any], case: BfclCase, rng: random.Random, pool: list[str]
) -> Any:
    """A value that none of ``options`` accepts, or None when none can be made."""

    def bad(candidate: Any) -> bool:
        return not any(o != "" and value_accepted(candidate, o) for o in options)

    kind = _type(prop)
    if isinstance(prop, Mapping) and isinstance(prop.get("enum"), list):
        members = [m for m in prop["enum"] if bad(m)]
        if members:
            return rng.choice(members)
    if kind == "boolean" and isinstance(value, bool):
        return not value if bad(not value) else None
    if kind in ("integer", "number", "string"):
        mentioned = [v for v in _question_values(case, kind) if bad(v)]
        if mentioned:
            return rng.choice(mentioned)
    if kind == "integer" and isinstance(value, int):
        return next(c for c in (value + 1, value + 2, value * 10 + 3) if bad(c))
    if kind == "number" and isinstance(value, int | float):
        return next(c for c in (round(value * 1.5 + 1, 2), value + 7.25) if bad(c))
    if kind == "string":
        strings = [s for s in pool if bad(s)]
        return rng.choice(strings) if strings else None
    if kind == "array" and isinstance(value, list) and value:
        if len(value) > 1:
            return value[:-1]
        firsts = [o[0] for o in options if isinstance(o, list) and len(o) == 1]
        item = _wrong(value[0], prop.get("items"), firsts, case, rng, pool)
        return [item] if item is not None else None
    return None


def _wrong_value_call(
    case: BfclCase, calls: list[Any], rng: random.Random, pool: list[str]
) -> tuple[int, str, Any] | None:
    choices = []
    for index, (name, args) in enumerate(calls):
        props = _props(case, name)
        for key, value in args.items():
            options = _options(case, index).get(key, [value])
            wrong = _wrong(value, props.get(key), options, case, rng, pool)
            if wrong is not None:
                choices.append((index, key, wrong))
    return rng.choice(choices) if choices else None


def _with(calls: list[Any], index: int, key: str, value: Any) -> list[Any]:
    changed = [(name, dict(args)) for name, args in calls]
    changed[index][1][key] = value
    return changed


def _wrong_type_value(value: Any, kind: str | None) -> Any:
    if (
        kind in ("integer", "number")
        and isinstance(value, int | float)
        and not isinstance(value, bool)
    ):
        return str(value)
    if kind == "boolean" and isinstance(value, bool):
        return "true" if value else "false"
    if kind == "string" and isinstance(value, str):
        try:
            return json.loads(value) if isinstance(json.loads(value), int | float) else [value]
        except ValueError:
            return [value]
    if kind == "array" and isinstance(value, list):
        return ", ".join(str(item) for item in value)
    if kind == "object" and isinstance(value, dict):
        return json.dumps(value)
    return None


def _wrong_type(case: BfclCase, calls: list[Any], rng: random.Random) -> Answer | None:
    choices = []
    for index, (name, args) in enumerate(calls):
        props = _props(case, name)
        for key, value in args.items():
            changed = _wrong_type_value(value, _type(props.get(key)))
            if changed is not None:
                choices.append((index, key, changed))
    if not choices:
        return None
    return _answer(_with(calls, *rng.choice(choices)))


def _invalid_json(case: BfclCase, calls: list[Any], rng: random.Random) -> Answer | None:
    if not calls:
        return None
    index = rng.randrange(len(calls))
    name, args = calls[index]
    text = json.dumps(args)
    broken = rng.choice((repr(args), text[:-1], text[:-1] + ",}" if args else "{,}"))
    try:
        json.loads(broken)
    except ValueError:
        pass
    else:
        broken = text[:-1]
    changed: list[Any] = list(calls)
    changed[index] = (name, broken)
    return _answer(changed)


def build_variants(case: BfclCase, seed: int, pool: list[str]) -> list[Variant]:
    """Every variant of one case (see the module docstring), from the case's own stream."""
    rng = random.Random(f"{seed}:{case.id}")
    flagship = flagship_answer(case)
    made: list[tuple[str, Answer | None]] = []
    if not case.ground_truth:
        function = rng.choice(case.functions)
        made.append(("call_where_none_fits", _answer([_call_for(function, case, {})])))
    else:
        calls = _calls(flagship)
        for kind, build in (
            ("form_order", _form_order),
            ("form_number", _form_number),
            ("form_whitespace", _form_whitespace),
            ("form_default", _form_default),
            ("omitted_optional", _omitted_optional),
            ("alt_value", _alt_value),
            ("wrong_function", _wrong_function),
            ("missing_argument", _missing_argument),
            ("wrong_type", _wrong_type),
            ("invalid_json", _invalid_json),
        ):
            made.append((kind, build(case, calls, rng)))
        wrong = _wrong_value_call(case, calls, rng, pool)
        made.append(("wrong_value", _answer(_with(calls, *wrong)) if wrong else None))
        name = calls[0][0]
        made.append(("prose", Answer.from_text(rng.choice(_PROSE).format(name=name))))
        extra = rng.randrange(len(calls))
        duplicate = _with(calls, *wrong) if wrong and wrong[0] == extra else list(calls)
        made.append(("extra_call", _answer([*calls, duplicate[extra]])))
        if len(calls) > 1:
            dropped = list(calls)
            dropped.pop(rng.randrange(len(calls)))
            made.append(("missing_call", _answer(dropped)))
    return [
        Variant(case, kind, flagship, cheap, acceptable(cheap, case))
        for kind, cheap in made
        if cheap is not None
    ]


def string_pool(cases: list[BfclCase]) -> list[str]:
    """Every short string the flagship calls send: the source of hallucinated values."""
    pool = set()
    for case in cases:
        for call in flagship_answer(case).tool_calls:
            for value in json.loads(call.arguments).values():
                if isinstance(value, str) and 2 <= len(value) <= 40:
                    pool.add(value)
    return sorted(pool)


def build_all(cases: list[BfclCase], seed: int, pool: list[str] | None = None) -> list[Variant]:
    """The fixed variant set of ``cases``, built before anything is judged.

    ``pool`` (hallucinated strings) should come from every case of the files, so that a
    subset draws the same variants as the full run.
    """
    pool = string_pool(cases) if pool is None else pool
    return [variant for case in cases for variant in build_variants(case, seed, pool)]
