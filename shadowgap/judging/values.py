"""Whether two different argument values may both be right: the judge's only evidence.

A judge that compares the cheap call with one flagship call cannot know which of two different
values is right. Some differences are ways of writing the same thing, and these are what
:func:`compatible` accepts, from the two values alone (never a ground truth):

- strings equal ignoring case, whitespace, punctuation, word order, articles and a
  possessive "'s" ("Acrylic" / "acrylic", "Park Ji Sung" / "Ji Sung Park");
- one string's words found in order in the other's ("San Francisco" / "San Francisco, CA",
  "Louvre" / "Louvre Museum"): the shorter names the same thing less precisely;
- a word that is the initials of the other's words ("SF" / "San Francisco", "NYC" / "New York
  City") or a prefix of at least three letters, or the singular ("Chimp" / "Chimpanzee",
  "mile" / "miles");
- the same date or time of day written two ways ("2022-05-03" / "May 3rd, 2022");
- a number and the string of the same number; lists with the same items in another order, or
  item by item compatible; objects whose values are compatible key by key.

Anything else (another number, the other boolean, another word) is a different value.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time
from typing import Any

from shadowgap.judging.json_schema import canonical

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_ORDINAL = re.compile(r"(\d+)(st|nd|rd|th)\b", re.IGNORECASE)
_DATE_FORMATS = (
    "%Y-%m-%d",
    "%Y/%m/%d",
    "%m/%d/%Y",
    "%d/%m/%Y",
    "%m-%d-%Y",
    "%d.%m.%Y",
    "%B %d, %Y",
    "%B %d %Y",
    "%b %d, %Y",
    "%b %d %Y",
    "%b. %d, %Y",
    "%b.%d,%Y",
    "%d %B %Y",
    "%d %b %Y",
    "%Y%m%d",
)
_TIME_FORMATS = ("%H:%M", "%H:%M:%S", "%I%p", "%I:%M%p", "%I %p", "%I:%M %p")


# Words that change no meaning of a value: articles and the possessive "'s".
_FILLER = frozenset({"a", "an", "the", "s"})


def words(text: str) -> list[str]:
    return [word.casefold() for word in _WORD.findall(text)]


def content_words(text: str) -> list[str]:
    """The words that carry meaning; single letters ("L.A.", "U.S") are one abbreviation."""
    found = words(text)
    if len(found) > 1 and all(len(word) == 1 for word in found):
        return ["".join(found)]
    return [word for word in found if word not in _FILLER]


def _word_matches(short: str, long: list[str], alone: bool = False) -> int:
    """How many words of ``long`` (from its start) ``short`` stands for; 0 when none.

    ``alone``: ``short`` is the whole value, so a two-letter prefix may abbreviate a word
    ("CA" / "California", "EU" / "Europe").
    """
    if not long:
        return 0
    first = long[0]
    if short == first or short + "s" == first or short == first + "s":
        return 1
    shortest_prefix = 2 if alone else 3
    if len(short) >= shortest_prefix and first.startswith(short) and short.isalpha():
        return 1
    if short.isalpha() and len(short) >= 2:
        for span in range(min(len(short), len(long)), 1, -1):
            if "".join(word[0] for word in long[:span]) == short:
                return span
    return 0


def _aligned(short: list[str], long: list[str]) -> bool:
    """Every word of ``short`` stands, in order, for words of ``long`` (others may be skipped)."""
    position = 0
    for word in short:
        while position < len(long):
            used = _word_matches(word, long[position:], alone=len(short) == 1)
            if used:
                position += used
                break
            position += 1
        else:
            return False
    return True


def _as_date(text: str) -> date | time | None:
    cleaned = _ORDINAL.sub(r"\1", text.strip())
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(cleaned, fmt).date()
        except ValueError:
            continue
    compact = cleaned.replace(" ", "").upper()
    for fmt in _TIME_FORMATS:
        try:
            return datetime.strptime(
                compact if "%p" in fmt else cleaned, fmt.replace(" ", "")
            ).time()
        except ValueError:
            continue
    return None


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def compatible_strings(a: str, b: str) -> bool:
    wa, wb = content_words(a), content_words(b)
    if sorted(wa) == sorted(wb) or "".join(wa) == "".join(wb):
        return True
    if wa and wb:
        # The side with fewer words stands for the other; with as many, either way round.
        if len(wa) <= len(wb) and _aligned(wa, wb):
            return True
        if len(wb) <= len(wa) and _aligned(wb, wa):
            return True
    first, second = _as_date(a), _as_date(b)
    return first is not None and first == second


def _contains(haystack: list[str], needle: list[str]) -> bool:
    size = len(needle)
    return size > 0 and any(
        haystack[i : i + size] == needle for i in range(len(haystack) - size + 1)
    )


def drops_stated_detail(cheap: Any, flagship: Any, request_text: str) -> bool:
    """Whether the cheap value keeps only some of the words of a flagship value the request
    states word for word: "Chennai" where the user wrote "Chennai, Tamil Nadu" and the
    flagship sent that. The shorter form then leaves out what the user said, not what the
    flagship added; when the flagship's value is its own expansion ("Seattle, WA" for
    "Seattle") it does not count, nor does an abbreviation ("SF" for "San Francisco")."""
    if not isinstance(cheap, str) or not isinstance(flagship, str):
        return False
    ours, theirs = words(cheap), words(flagship)
    shorter = len(ours) < len(theirs) and set(ours) <= set(theirs)
    return shorter and _contains(words(request_text), theirs)


def compatible(a: Any, b: Any) -> bool:
    """Whether ``a`` and ``b`` may name the same thing (see the module docstring)."""
    if canonical(a) == canonical(b):
        return True
    if isinstance(a, bool) or isinstance(b, bool):
        return False
    if isinstance(a, str) and isinstance(b, str):
        return compatible_strings(a, b)
    number_a, number_b = _as_number(a), _as_number(b)
    if number_a is not None and number_b is not None:
        return number_a == number_b and (isinstance(a, str) or isinstance(b, str))
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return False
        if sorted(map(canonical, a)) == sorted(map(canonical, b)):
            return True
        return all(compatible(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        if set(a) != set(b):
            return False
        return all(compatible(a[key], b[key]) for key in a)
    return False
