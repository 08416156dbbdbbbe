"""Sender-supplied text shown on a page, isolated from the text around it.

A tenant named with U+202E (right-to-left override) or U+2066 (left-to-right isolate) and no
closing character reversed the rest of the line it was shown on (the overview's row, the
alerts page, the segment page's title and heading, the weekly report). :func:`isolate` closes
what the value opens, drops closers that would close the page's own, and wraps the value in
U+2068 FIRST STRONG ISOLATE ... U+2069 POP DIRECTIONAL ISOLATE: the same isolation as an HTML
``<bdi>`` element, as plain text, so that it is also safe in ``<title>`` and attribute values.
Text without these characters is returned unchanged.
"""

from __future__ import annotations

import re
from typing import Any

from markupsafe import Markup

_EMBEDDINGS = frozenset("\u202a\u202b\u202d\u202e")  # LRE, RLE, LRO, RLO: closed by PDF
_ISOLATES = frozenset("\u2066\u2067\u2068")  # LRI, RLI, FSI: closed by PDI
PDF, FSI, PDI = "\u202c", "\u2068", "\u2069"
BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")


def isolate(text: str) -> str:
    """``text`` with its explicit bidi controls balanced, wrapped in FSI ... PDI."""
    if not BIDI_CONTROLS.search(text):
        return text
    out: list[str] = []
    open_: list[str] = []  # the closer each open embedding or isolate needs
    for char in text:
        if char in _EMBEDDINGS:
            open_.append(PDF)
        elif char in _ISOLATES:
            open_.append(PDI)
        elif char == PDF:
            if not open_ or open_[-1] != PDF:
                continue  # would close nothing of the value's own
            open_.pop()
        elif char == PDI:
            if PDI not in open_:
                continue  # would close the wrapping isolate, or the page's
            # A PDI also ends the embeddings opened after its isolate (UAX #9).
            while open_.pop() != PDI:
                pass
        out.append(char)
    return FSI + "".join(out) + "".join(reversed(open_)) + PDI


def finalize(value: Any) -> Any:
    """Jinja's ``finalize``: every plain string a template prints is isolated. Markup (HTML
    built by the code, JSON for a script) is left alone."""
    if isinstance(value, str) and not isinstance(value, Markup):
        return isolate(value)
    return value
