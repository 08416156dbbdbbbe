"""Linear-time scans for the few text patterns that Python's backtracking ``re`` would match
in quadratic time on hostile input (shared by redaction and the slice-feature masks).

A pattern like ``[\\w.+-]+@...`` is tried at every position of a run of local-part
characters, and each try reads to the end of the run before it fails: ``"a" * 60_000`` takes
seconds, and ``re`` holds the GIL for the whole call, freezing the server. These scans find
the same matches as the patterns they replace (leftmost first, the same extents) but read
each character a bounded number of times.
"""

from __future__ import annotations

import re
from collections.abc import Callable


def sub_emails(
    text: str, local_char: Callable[[str], bool], domain: re.Pattern[str], replacement: str
) -> str:
    """``re.sub(LOCAL + "+@" + domain, replacement, text)`` where LOCAL is the character
    class ``local_char`` tests, found from each ``@``: its local part is the run of local
    characters just before it (back to the previous match), its domain ``domain.match``
    right after it. Every ``@`` is tried once, and local parts never overlap."""
    if "@" not in text:
        return text
    parts: list[str] = []
    done = 0  # text[:done] is in parts
    at = text.find("@")
    while at != -1:
        start = at
        while start > done and local_char(text[start - 1]):
            start -= 1
        found = domain.match(text, at + 1) if start < at else None
        if found is None:
            at = text.find("@", at + 1)
            continue
        parts += (text[done:start], replacement)
        done = found.end()
        at = text.find("@", done)
    return "".join(parts) + text[done:] if parts else text


def is_word(char: str) -> bool:
    """``re``'s ``\\w`` for str patterns."""
    return char.isalnum() or char == "_"


_JWT_START = re.compile(r"\beyJ")
_JWT_PART = re.compile(r"[A-Za-z0-9_\-]*")
_JWT_PART_MIN = 5


def sub_jwts(text: str, replacement: str) -> str:
    """``re.sub(r"\\beyJ[A-Za-z0-9_\\-]{5,}\\.[A-Za-z0-9_\\-]{5,}\\.[A-Za-z0-9_\\-]{5,}", ...)``.

    A part cannot hold a dot, so a try from ``eyJ`` at ``start`` reads three whole parts;
    when it fails, every later ``eyJ`` of the same first part fails too (same later parts,
    a shorter first one), so the search resumes after that part instead of inside it."""
    if "eyJ" not in text:
        return text
    parts: list[str] = []
    done = 0
    pos = 0
    while (start := _JWT_START.search(text, pos)) is not None:
        first_end = _part_end(text, start.end())
        end = first_end if first_end - start.end() >= _JWT_PART_MIN else None
        for _ in range(2):
            if end is None or text[end : end + 1] != ".":
                end = None
                break
            part_end = _part_end(text, end + 1)
            end = part_end if part_end - (end + 1) >= _JWT_PART_MIN else None
        if end is None:
            pos = max(first_end, start.end())
            continue
        parts += (text[done : start.start()], replacement)
        done = pos = end
    return "".join(parts) + text[done:] if parts else text


def _part_end(text: str, pos: int) -> int:
    found = _JWT_PART.match(text, pos)
    return found.end() if found else pos
