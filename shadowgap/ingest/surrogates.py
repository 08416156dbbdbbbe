"""A faster, exact unpaired-surrogate check for protobuf's JSON parser (OTLP JSON).

``json_format`` checks every string it parses with a regex whose second branch opens with a
look-behind, so the regex engine cannot skip ahead to a surrogate: it tries every position,
120 ms on a 1,000,000-character attribute, in one C call that holds the GIL (``/healthz`` and
every other request wait). The check installed here first looks for any surrogate with one
character class, which the engine skips ahead to in C (~20 ms on the same string), and runs
protobuf's own pattern only when there is one, so it answers exactly as before. (orjson, which
decodes OTLP JSON bodies, refuses lone surrogates, so for them the fallback never runs.)
"""

from __future__ import annotations

import re
from typing import Any

from google.protobuf import json_format

_ANY_SURROGATE = re.compile("[\ud800-\udfff]")


class _UnpairedSurrogates:
    """What ``json_format`` calls: ``search(value)``, None when there is no unpaired one."""

    def __init__(self, exact: re.Pattern[str]) -> None:
        self.exact = exact

    def search(self, value: str, *args: Any) -> re.Match[str] | None:
        if _ANY_SURROGATE.search(value, *args) is None:
            return None
        return self.exact.search(value, *args)


def install() -> None:
    """Put the check in place of protobuf's pattern (once; nothing if protobuf has none)."""
    current = getattr(json_format, "_UNPAIRED_SURROGATE_PATTERN", None)
    if isinstance(current, re.Pattern):
        json_format._UNPAIRED_SURROGATE_PATTERN = _UnpairedSurrogates(current)  # type: ignore[attr-defined]
