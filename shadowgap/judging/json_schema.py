"""The JSON Schema subset tool and response schemas use, and JSON normalisation.

No dependency: tool parameters and ``response_format`` schemas use a small part of JSON Schema
(``type``, ``properties``, ``required``, ``additionalProperties``, ``items``, ``enum``,
``default``, ``anyOf``/``oneOf``), and a judge needs the *kind* of each violation (a missing
required key is not a wrong type), which a full validator reports only as prose.

BFCL's function schemas use Python-flavoured types; :func:`to_json_schema` maps them:
``dict`` -> ``object``, ``float`` -> ``number``, ``tuple`` -> ``array``, ``any`` -> no type
constraint, and a property whose ``default`` is ``null`` also accepts ``null`` (Python's
``Optional[...] = None``: sending ``null`` means the default).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

BFCL_TYPES = {
    "dict": "object",
    "float": "number",
    "tuple": "array",
    "list": "array",
    "str": "string",
    "int": "integer",
    "bool": "boolean",
}


def _map_type(value: Any) -> Any:
    if isinstance(value, str):
        return BFCL_TYPES.get(value, value)
    if isinstance(value, list):
        return [_map_type(item) for item in value]
    return value


def to_json_schema(schema: Any) -> Any:
    """A copy of ``schema`` with BFCL's types mapped to JSON Schema (others kept as they are)."""
    if not isinstance(schema, Mapping):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "type":
            if value == "any":
                continue  # no constraint
            out["type"] = _map_type(value)
        elif key == "properties" and isinstance(value, Mapping):
            out["properties"] = {name: to_json_schema(sub) for name, sub in value.items()}
        elif key in ("items", "additionalProperties") and isinstance(value, Mapping):
            out[key] = to_json_schema(value)
        elif key in ("anyOf", "oneOf", "allOf") and isinstance(value, list):
            out[key] = [to_json_schema(sub) for sub in value]
        else:
            out[key] = value
    if "default" in out and out["default"] is None and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    return out


def tool_schemas(tools: Any) -> dict[str, dict[str, Any]]:
    """Function name -> JSON Schema of its parameters, from OpenAI ``tools`` (``{"type":
    "function", "function": {...}}``), legacy ``functions`` or BFCL's function list."""
    schemas: dict[str, dict[str, Any]] = {}
    for tool in tools or []:
        if not isinstance(tool, Mapping):
            continue
        function = tool.get("function") if isinstance(tool.get("function"), Mapping) else tool
        assert isinstance(function, Mapping)
        name = function.get("name")
        if not isinstance(name, str) or not name:
            continue
        parameters = function.get("parameters")
        schemas[name] = to_json_schema(parameters) if isinstance(parameters, Mapping) else {}
    return schemas


@dataclass(frozen=True, slots=True)
class Violation:
    """One way a value breaks a schema: ``kind`` is required, type, enum or additional."""

    kind: str
    path: str
    message: str


def _is_type(value: Any, kind: str) -> bool:
    if kind == "null":
        return value is None
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "integer":
        # JSON Schema counts 1.0 as an integer: it is the number's value, not its spelling.
        return (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, float) and value.is_integer()
        )
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "string":
        return isinstance(value, str)
    if kind == "array":
        return isinstance(value, list)
    if kind == "object":
        return isinstance(value, dict)
    return True  # an unknown type name constrains nothing


def _join(path: str, key: str | int) -> str:
    return f"{path}[{key}]" if isinstance(key, int) else (f"{path}.{key}" if path else key)


class WalkLimit(ValueError):
    """The schema walk would take more steps than its cap (see :func:`validate`)."""


class _Steps:
    """Steps a walk may still take; ``None`` places no cap."""

    __slots__ = ("left",)

    def __init__(self, cap: int | None) -> None:
        self.left = cap

    def take(self) -> None:
        if self.left is None:
            return
        self.left -= 1
        if self.left < 0:
            raise WalkLimit("the value and schema take too many steps to check")


def validate(
    value: Any, schema: Any, path: str = "", *, max_steps: int | None = None
) -> list[Violation]:
    """Every violation of ``schema`` by ``value`` (an empty list when it conforms).

    ``max_steps`` caps the walk: each (value, schema) node visited is a step, ``anyOf`` /
    ``oneOf`` options included, so nested unions cannot make it exponential. Past the cap it
    raises :class:`WalkLimit` (ingest checks every cheap answer with a cap; the judges, which
    see a few sampled pairs, run without one)."""
    return _validate(value, schema, path, _Steps(max_steps))


def _validate(value: Any, schema: Any, path: str, steps: _Steps) -> list[Violation]:
    steps.take()
    if not isinstance(schema, Mapping):
        return []
    for union in ("anyOf", "oneOf"):
        options = schema.get(union)
        if isinstance(options, list) and options:
            if not any(not _validate(value, option, path, steps) for option in options):
                return [Violation("type", path or "$", f"matches none of {union}")]
    kinds = schema.get("type")
    if kinds is not None:
        allowed = kinds if isinstance(kinds, list) else [kinds]
        if not any(_is_type(value, str(kind)) for kind in allowed):
            found = type(value).__name__ if value is not None else "null"
            return [
                Violation(
                    "type", path or "$", f"expected {'|'.join(map(str, allowed))}, got {found}"
                )
            ]
    enum = schema.get("enum")
    if isinstance(enum, list) and enum and value is not None:
        for _ in enum:
            steps.take()
        mine = canonical(value)
        if not any(mine == canonical(member) for member in enum):
            return [Violation("enum", path or "$", f"{value!r} is not one of {enum!r}")]
    violations: list[Violation] = []
    if isinstance(value, dict):
        properties = schema.get("properties")
        properties = properties if isinstance(properties, Mapping) else {}
        for key in schema.get("required") or []:
            steps.take()
            if key not in value:
                violations.append(Violation("required", _join(path, key), "is required"))
        extra = schema.get("additionalProperties", True)
        for key, item in value.items():
            if key in properties:
                violations += _validate(item, properties[key], _join(path, key), steps)
            elif extra is False:
                steps.take()
                violations.append(Violation("additional", _join(path, key), "is not allowed"))
            elif isinstance(extra, Mapping):
                violations += _validate(item, extra, _join(path, key), steps)
    elif isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        for index, item in enumerate(value):
            violations += _validate(item, schema["items"], _join(path, index), steps)
    return violations


def normalise(value: Any) -> Any:
    """The value with spelling removed: a whole float becomes an int (``1.0`` is ``1``)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key: normalise(item) for key, item in value.items()}
    if isinstance(value, list):
        return [normalise(item) for item in value]
    return value


def canonical(value: Any) -> str:
    """One text per JSON value: key order, number spelling and whitespace do not show."""
    return json.dumps(normalise(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
