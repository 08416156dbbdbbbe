"""Splitting a request body into JSON items: one object, a JSON array, or NDJSON."""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import ValidationError

from shadowgap.errors import InvalidInput

# JSON can carry a NUL character only as this escape (a raw NUL byte is invalid JSON).
_NUL_ESCAPE = b"\\u0000"
REPLACEMENT_CHARACTER = "\ufffd"


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
    """A JSON value with NUL replaced by U+FFFD in every string and object key."""
    if isinstance(value, str):
        return value.replace("\x00", REPLACEMENT_CHARACTER)
    if isinstance(value, list):
        return [replace_nul(item) for item in value]
    if isinstance(value, dict):
        return {replace_nul(key): replace_nul(item) for key, item in value.items()}
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
