"""Splitting a request body into JSON items: one object, a JSON array, or NDJSON."""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import ValidationError

from shadowgap.errors import InvalidInput
from shadowgap.schemas import MAX_NESTING

# JSON can carry a NUL character only as this escape (a raw NUL byte is invalid JSON).
_NUL_ESCAPE = b"\\u0000"
REPLACEMENT_CHARACTER = "\ufffd"


# How deeply a LiteLLM payload (or JSON text in an OTLP attribute) may nest. The schema bounds
# each free-form value at MAX_NESTING (a 422 naming the field); a payload adds its own levels
# around them (response, choices, message, tool calls). orjson parses ~1,000 levels, and the
# translators recurse before the schema is reached (the walk of secret-named keys, json.dumps
# of tool inputs; orjson.dumps stops at 255), so such a body was a 500. Checked right after
# parsing, without recursion. (A native body goes straight to the schema, which names the field.)
MAX_ITEM_NESTING = MAX_NESTING + 16


def json_items(body: bytes) -> list[Any]:
    """The items of a body that is one JSON value, a JSON array, or newline-delimited JSON."""
    if not body.strip():
        raise InvalidInput("the request body is empty", field="body")
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        items = _ndjson_items(body)
    else:
        items = value if isinstance(value, list) else [value]
    return without_nul(items, body)


def too_deep(value: Any, limit: int = MAX_ITEM_NESTING) -> str | None:
    """The path of the first list or object of ``value`` past ``limit`` levels (``value``
    itself is level 1), or None. Iterative, so any depth can be walked."""
    stack: list[tuple[Any, int, tuple[int | str, ...]]] = [(value, 1, ())]
    while stack:
        item, depth, path = stack.pop()
        if isinstance(item, dict):
            children: Any = item.items()
        elif isinstance(item, list):
            children = enumerate(item)
        else:
            continue
        if depth > limit:
            return field_path(path)
        stack.extend((child, depth + 1, (*path, key)) for key, child in children)
    return None


def refuse_deep(items: list[Any], limit: int = MAX_ITEM_NESTING) -> None:
    """A 422 naming the field of the first item that nests deeper than ``limit`` levels."""
    for index, item in enumerate(items):
        path = too_deep(item, limit)
        if path is not None:
            raise InvalidInput(
                f"item {index}: {path}: nests deeper than {limit} levels of lists and objects",
                field=path,
                item=index,
            )


def without_nul(items: list[Any], body: bytes) -> list[Any]:
    """``items`` (parsed from ``body``) with every NUL character replaced by U+FFFD.

    PostgreSQL cannot store NUL in text or jsonb, and one NUL in a prompt must not cost the
    sender its batch, so it is replaced rather than refused (the same on SQLite, so both
    databases store the same thing). The body is scanned first: a body without the escape
    holds no NUL, and the walk is skipped.
    """
    if _NUL_ESCAPE not in body:
        return items
    return [replace_nul(item) for item in items]


def replace_nul(value: Any) -> Any:
    """A JSON value with NUL replaced by U+FFFD in every string and object key. Lists and
    objects are changed in place (they are the caller's own, fresh from parsing), without
    recursion: a value may nest as deep as the parser allows (~1,000 levels)."""
    if isinstance(value, str):
        return value.replace("\x00", REPLACEMENT_CHARACTER)
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if any(isinstance(key, str) and "\x00" in key for key in item):
                pairs = [(replace_nul(key), child) for key, child in item.items()]
                item.clear()
                item.update(pairs)
            children: Any = item.items()
        elif isinstance(item, list):
            children = enumerate(item)
        else:
            continue
        for key, child in list(children):
            if isinstance(child, str):
                item[key] = child.replace("\x00", REPLACEMENT_CHARACTER)
            elif isinstance(child, dict | list):
                stack.append(child)
    return value


def _ndjson_items(body: bytes) -> list[Any]:
    items: list[Any] = []
    lines = [line for line in body.splitlines() if line.strip()]
    if len(lines) < 2:
        raise InvalidInput("the body is not valid JSON or NDJSON", field="body")
    for number, line in enumerate(lines):
        try:
            items.append(orjson.loads(line))
        except orjson.JSONDecodeError as exc:
            raise InvalidInput(
                f"line {number + 1} of the NDJSON body is not valid JSON: {exc}",
                field="body",
                item=number,
            ) from exc
    return items


def field_path(loc: tuple[int | str, ...]) -> str:
    """('request', 'messages', 0, 'role') -> 'request.messages[0].role'."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path or "body"


def invalid_from_validation(exc: ValidationError, item: int) -> InvalidInput:
    """The first validation error, naming its field and the batch item."""
    first = exc.errors()[0]
    path = field_path(tuple(first["loc"]))
    return InvalidInput(f"item {item}: {path}: {first['msg']}", field=path, item=item)
