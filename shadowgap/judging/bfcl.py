"""The BFCL data in ``../shared/data/bfcl``: cases, their ground truth, and what it accepts.

Each case is a real request with its tools; its ground truth lists, per call, every acceptable
value of each argument (``""`` in the list: the argument may be left out). The irrelevance
file has no ground truth file: no call is acceptable there.

:func:`acceptable` is the oracle judge-eval measures against (the judge never sees it). It
follows BFCL's own checker: strings compare lower-cased without spaces and the characters
``,./-_*^`` (and with ``'`` read as ``"``), an integer is accepted where a float is, lists
compare item by item, a nested object key by key, the calls as a multiset. One extension: an
argument left out counts as its schema ``default``, and an argument sent with the value of its
``default`` as left out, because that is what the function receives.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shadowgap.judging.json_schema import canonical, tool_schemas
from shadowgap.schemas import Answer, ToolCall

DEFAULT_BFCL_DIR = Path("../shared/data/bfcl")
BFCL_FILES = (
    "BFCL_v4_simple_python.json",
    "BFCL_v4_live_simple.json",
    "BFCL_v4_live_multiple.json",
    "BFCL_v4_parallel.json",
    "BFCL_v4_live_irrelevance.json",
)
IRRELEVANCE = "BFCL_v4_live_irrelevance.json"


def file_label(file_name: str) -> str:
    """``BFCL_v4_live_simple.json`` -> ``live_simple``."""
    return file_name.removeprefix("BFCL_v4_").removesuffix(".json")


@dataclass(frozen=True, slots=True)
class BfclCase:
    id: str
    file: str  # label, e.g. live_simple
    messages: list[dict[str, Any]]
    functions: list[dict[str, Any]]
    # One {function name: {argument: [acceptable values]}} per expected call; [] = call none.
    ground_truth: list[dict[str, dict[str, list[Any]]]]

    @property
    def tools(self) -> list[dict[str, Any]]:
        """The functions as OpenAI ``tools`` (schemas as BFCL wrote them; the judge maps types)."""
        return [{"type": "function", "function": function} for function in self.functions]

    @property
    def request(self) -> dict[str, Any]:
        return {"messages": self.messages, "tools": self.tools}

    @property
    def question(self) -> str:
        return "\n".join(
            str(m.get("content") or "") for m in self.messages if m.get("role") == "user"
        )

    def schemas(self) -> dict[str, dict[str, Any]]:
        return tool_schemas(self.functions)


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def load_bfcl(
    data_dir: Path | None = None, limit: int | None = None, files: tuple[str, ...] = BFCL_FILES
) -> list[BfclCase]:
    """Every case of ``files`` with tools (``limit``: evenly spaced cases per file)."""
    from shadowgap.judging.datasets import spread

    base = data_dir or DEFAULT_BFCL_DIR
    cases: list[BfclCase] = []
    for name in files:
        answers: dict[str, list[Any]] = {}
        if name != IRRELEVANCE:
            answers = {
                row["id"]: row["ground_truth"]
                for row in _read_jsonl(base / "possible_answer" / name)
            }
        rows = [row for row in _read_jsonl(base / name) if row.get("function")]
        chosen = [
            BfclCase(
                id=row["id"],
                file=file_label(name),
                messages=list(row["question"][0]),
                functions=list(row["function"]),
                ground_truth=answers.get(row["id"], []),
            )
            for row in rows
        ]
        cases += spread(chosen, limit)
    return cases


def standard_string(text: str) -> str:
    """BFCL's string comparison form: lower case, no spaces or ``,./-_*^``, ``'`` as ``"``."""
    kept = "".join(ch for ch in text if ch not in " ,./-_*^")
    return kept.lower().replace("'", '"')


def options_map(value: Any) -> bool:
    """Whether an acceptable value is a nested object given as a map of acceptable values."""
    return isinstance(value, dict) and all(isinstance(item, list) for item in value.values())


def value_accepted(value: Any, accepted: Any) -> bool:
    """Whether ``value`` equals one acceptable value ``accepted`` (BFCL's comparison)."""
    if options_map(accepted):
        # A nested object: each key's acceptable values, "" meaning it may be left out.
        if not isinstance(value, dict) or set(value) - set(accepted):
            return False
        return all(
            (key in value and any(value_accepted(value[key], option) for option in options))
            or (key not in value and "" in options)
            for key, options in accepted.items()
        )
    if isinstance(accepted, bool) or isinstance(value, bool):
        return isinstance(accepted, bool) and isinstance(value, bool) and value == accepted
    if isinstance(accepted, float):
        return isinstance(value, int | float) and float(value) == accepted
    if isinstance(accepted, int):
        whole = isinstance(value, int) or (isinstance(value, float) and value.is_integer())
        return whole and value == accepted
    if isinstance(accepted, str):
        return isinstance(value, str) and standard_string(value) == standard_string(accepted)
    if isinstance(accepted, list):
        return (
            isinstance(value, list)
            and len(value) == len(accepted)
            and all(value_accepted(v, a) for v, a in zip(value, accepted, strict=True))
        )
    if accepted is None:
        return value is None
    return canonical(value) == canonical(accepted)


def _argument_accepted(
    key: str, arguments: dict[str, Any], options: list[Any], schema: Mapping[str, Any]
) -> bool:
    prop = (schema.get("properties") or {}).get(key) or {}
    has_default = isinstance(prop, Mapping) and "default" in prop
    if key not in arguments or (
        has_default and canonical(arguments[key]) == canonical(prop["default"])
    ):
        # Left out, or sent as its default: either is the same call.
        if "" in options:
            return True
        if has_default and any(value_accepted(prop["default"], option) for option in options):
            return True
        if key not in arguments:
            return False
    return any(option != "" and value_accepted(arguments[key], option) for option in options)


def call_accepted(
    call: ToolCall, expected: dict[str, dict[str, list[Any]]], schemas: dict[str, dict[str, Any]]
) -> bool:
    ((name, options),) = expected.items()
    if call.name != name:
        return False
    try:
        arguments = call.parsed_arguments()
    except ValueError:
        return False
    if not isinstance(arguments, dict):
        return False
    schema = schemas.get(name) or {}
    properties = schema.get("properties") or {}
    for key, value in arguments.items():
        if key in options:
            continue
        # An argument the ground truth does not list is accepted only at its default.
        prop = properties.get(key)
        if not (
            isinstance(prop, Mapping)
            and "default" in prop
            and canonical(value) == canonical(prop["default"])
        ):
            return False
    return all(_argument_accepted(key, arguments, opts, schema) for key, opts in options.items())


def acceptable(answer: Answer, case: BfclCase) -> bool:
    """Whether ``answer`` is acceptable per the case's ground truth (calls as a multiset)."""
    if not case.ground_truth:
        return not answer.tool_calls
    if len(answer.tool_calls) != len(case.ground_truth):
        return False
    schemas = case.schemas()
    remaining = list(range(len(answer.tool_calls)))

    def assign(position: int) -> bool:
        if position == len(case.ground_truth):
            return True
        for index in list(remaining):
            if call_accepted(answer.tool_calls[index], case.ground_truth[position], schemas):
                remaining.remove(index)
                if assign(position + 1):
                    return True
                remaining.append(index)
        return False

    return assign(0)


def _first_value(options: list[Any], required: bool) -> tuple[bool, Any]:
    """(send it?, value): the first acceptable value, a required argument's first real one."""
    for option in options:
        if option == "" and not required:
            return False, None
        if option != "":
            return True, first_acceptable(option)
    return False, None


def first_acceptable(option: Any) -> Any:
    """A nested object's acceptable value is itself a map of options: take the first of each."""
    if options_map(option):
        built = {}
        for key, options in option.items():
            send, value = _first_value(options, required=False)
            if send:
                built[key] = value
        return built
    if isinstance(option, list):
        return [first_acceptable(item) for item in option]
    return option


def flagship_answer(case: BfclCase) -> Answer:
    """The flagship's answer: an acceptable call per expected call (first acceptable values;
    ``""`` first means left out, except for a required argument), prose where none fits."""
    if not case.ground_truth:
        return Answer.from_text(
            "None of the available functions can do this, so I cannot call one for this request."
        )
    schemas = case.schemas()
    calls = []
    for index, expected in enumerate(case.ground_truth):
        ((name, options),) = expected.items()
        required = set((schemas.get(name) or {}).get("required") or [])
        arguments: dict[str, Any] = {}
        for key, acceptable_values in options.items():
            send, value = _first_value(acceptable_values, key in required)
            if send:
                arguments[key] = value
        calls.append(ToolCall(id=f"call_{index}", name=name, arguments=json.dumps(arguments)))
    return Answer(tool_calls=calls, finish_reason="tool_calls")
