"""Hostile text for ingest: strings that made regexes quadratic, and a native event with one
in any text field. Shared by tests/ingest/test_hostile_input.py and
benchmarks/hostile_input.py."""

from __future__ import annotations

from typing import Any

from tests.support.factories import native_event

# Each ~60,000 characters: runs without the character a pattern waits for, repeated
# separators, openers without closers, digit groups.
PATHOLOGICAL = {
    "dash-digits": "1-" * 30_000,
    "letters": "a" * 60_000,
    "letters-then-at": "a" * 60_000 + "@",
    "dots": "a." * 30_000,
    "jwt-starts": "eyJ-" * 15_000,
    "jwt-parts": "eyJab." * 10_000,
    "key-prefixes": "sk-" * 20_000,
    "mixed-ids": "ab1-" * 15_000,
    "curly-quotes": "\u201c" * 60_000,
    "quotes": '"a' * 30_000,
    "digit-groups": "12-" * 20_000,
    "digits": "1" * 60_000,
    "spaced-digits": "4111 " * 12_000,
    "at-signs": "a@" * 30_000,
    "colons": "a1:" * 20_000,
    "key-values": "token=" * 10_000,
    "digit-dots": "1." * 30_000,
    "uuid-middles": "-abcd" * 12_000,
    "letter-digit-run": "a1" * 30_000,
}


def with_text(field: str, text: str) -> dict[str, Any]:
    """A native event with ``text`` in one text field (cut to the field's limit)."""
    event = native_event(f"hostile-{field}-{len(text)}")
    short = text[:128]
    if field == "user message":
        event["request"]["messages"][0]["content"] = text
    elif field == "system message":
        event["request"]["messages"].insert(0, {"role": "system", "content": text})
    elif field == "content part":
        event["request"]["messages"][0]["content"] = [{"type": "text", "text": text}]
    elif field == "answer":
        event["answer"] = text
    elif field == "error":
        event.update(status="error", error=text[:10_000])
    elif field == "route.reason":
        event["route"]["reason"] = text[:2000]
    elif field == "route.tier":
        event["route"]["tier"] = short
    elif field == "route.model":
        event["route"]["model"] = text[:256]
    elif field in ("tenant", "team", "user", "api_key_alias"):
        event["attributes"][field] = text[:256]
    elif field == "tags":
        event["attributes"]["tags"] = [text[:256]]
    elif field == "metadata":
        event["attributes"]["metadata"] = {"note": text}
    elif field == "params":
        event["request"]["params"] = {"stop": text}
    elif field == "event_id":
        event["event_id"] = text[:200]
    return event


FIELDS = [
    "user message",
    "system message",
    "content part",
    "answer",
    "error",
    "route.reason",
    "route.tier",
    "route.model",
    "tenant",
    "team",
    "user",
    "api_key_alias",
    "tags",
    "metadata",
    "params",
    "event_id",
]
