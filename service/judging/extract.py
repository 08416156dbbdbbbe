"""Final-answer extraction from free-form model output.

Rules, most explicit first: a JSON ``"answer"`` value, GSM8K's ``#### n``, LaTeX ``\\boxed{}``,
a multiple-choice letter, "the answer is ...", and finally the last number of the text's
concluding sentence (models put the result at the end). Numbers lose currency signs, thousands
separators, percent signs and units, so "$1,200.00" and "1200" compare equal.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Literal

Kind = Literal["number", "choice", "text", "none"]


@dataclass(frozen=True, slots=True)
class Extracted:
    kind: Kind
    value: str  # normalised: "18", "2.5", "B", "paris"; "" when nothing was found
    rule: str  # which rule found it (kept in the verdict's raw record for audits)

    def same_as(self, other: Extracted) -> bool:
        if self.kind == "none" or other.kind == "none" or self.kind != other.kind:
            return False
        if self.kind == "number":
            return _numbers_equal(self.value, other.value)
        return self.value == other.value


NONE = Extracted("none", "", "none")

# GSM8K calculator annotations such as <<9*2=18>> restate intermediate results.
_CALCULATOR = re.compile(r"<<[^<>]*>>")
_NUMBER = re.compile(
    r"(?<![\w.])(?P<sign>-)?\$?\s?"
    r"(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?(?:/\d+(?:\.\d+)?)?|\.\d+)"
)
_GSM8K = re.compile(r"####\s*(?P<value>[^\n]+)")
_BOXED = re.compile(r"\\boxed\s*\{")
# Keywords are case-insensitive, the letter is not: "the answer is a total of 18" is no choice.
_CHOICE = re.compile(
    r"(?i:\banswer\b(?:\s+is)?|\boption\b|\bchoice\b)\s*[:\-]?\s*"
    r"(?:\((?P<paren>[A-E])\)|(?P<letter>[A-E])(?![\w']))"
)
_BARE_CHOICE = re.compile(r"^\s*\(?(?P<letter>[A-E])\)?[.)]?\s*$")
_ANSWER_IS = re.compile(
    r"(?:\bfinal answer\b|\bthe answer\b|\banswer\b)\s*(?:is|=|:)\s*:?\s*(?P<value>[^\n]+)",
    re.IGNORECASE,
)
_JSON_ANSWER = re.compile(r"\"answer\"\s*:\s*(?P<value>\"(?:[^\"\\]|\\.)*\"|[^,}\s]+)")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z(\"'])|\n+")


def normalise_number(raw: str) -> str | None:
    """'1,200.50' -> '1200.5', '5/2' -> '2.5', '-3' -> '-3'; None when not a number."""
    text = raw.replace(",", "").replace("$", "").strip()
    try:
        if "/" in text:
            top, bottom = text.split("/", 1)
            value = Decimal(top) / Decimal(bottom)
        else:
            value = Decimal(text)
    except (InvalidOperation, ZeroDivisionError, ValueError):
        return None
    value = value.normalize()
    # normalize() gives "1E+3" for 1000: print integers plainly.
    if value == value.to_integral_value():
        return str(int(value))
    return format(value, "f")


def _numbers_equal(left: str, right: str) -> bool:
    a, b = Decimal(left), Decimal(right)
    return abs(a - b) <= Decimal("1e-6") * max(Decimal(1), abs(a), abs(b))


def _first_number(text: str) -> str | None:
    match = _NUMBER.search(text)
    return _number_from(match) if match else None


def _last_number(text: str) -> str | None:
    matches = list(_NUMBER.finditer(text))
    return _number_from(matches[-1]) if matches else None


def _number_from(match: re.Match[str]) -> str | None:
    value = normalise_number(match.group("num"))
    if value is not None and match.group("sign") and value != "0":
        value = "-" + value
    return value


def _normalise_text(text: str) -> str:
    return re.sub(r"[^\w]+", " ", text.lower()).strip()


def _boxed(text: str) -> str | None:
    """Content of the last ``\\boxed{...}``, nested braces included."""
    starts = list(_BOXED.finditer(text))
    if not starts:
        return None
    position, depth = starts[-1].end(), 1
    for index in range(position, len(text)):
        if text[index] == "{":
            depth += 1
        elif text[index] == "}":
            depth -= 1
            if depth == 0:
                return text[position:index]
    return None


def _from_value(value: str, rule: str) -> Extracted:
    """A found answer string as a number, a choice letter or normalised text."""
    value = value.strip().strip("*").strip()
    bare = _BARE_CHOICE.match(value)
    if bare:
        return Extracted("choice", bare.group("letter").upper(), rule)
    number = _first_number(value)
    if number is not None:
        return Extracted("number", number, rule)
    text = _normalise_text(value)
    return Extracted("text", text, rule) if text else NONE


def _json_answer(text: str) -> Extracted | None:
    match = _JSON_ANSWER.search(text)
    if not match:
        return None
    try:
        value = json.loads(match.group("value"))
    except json.JSONDecodeError:
        value = match.group("value")
    return _from_value(str(value), "json")


def _concluding_number(text: str) -> str | None:
    """The last number of the last sentence that has one."""
    sentences = [s for s in _SENTENCE_END.split(text.strip()) if s.strip()]
    for sentence in reversed(sentences):
        number = _last_number(sentence)
        if number is not None:
            return number
    return None


def extract_answer(text: str | None) -> Extracted:
    """The final answer stated in ``text`` (see the module docstring for the rules).

    >>> extract_answer("so 9 * $2 = $<<9*2=18>>18.\\n#### 18")
    Extracted(kind='number', value='18', rule='gsm8k')
    >>> extract_answer("She makes 9 * $2 = $18 every day at the farmers' market.").value
    '18'
    >>> extract_answer("The answer is (B).")
    Extracted(kind='choice', value='B', rule='choice')
    """
    if not text or not text.strip():
        return NONE
    text = _CALCULATOR.sub("", text)
    found = _json_answer(text)
    if found is not None and found.kind != "none":
        return found
    gsm = _GSM8K.findall(text)
    if gsm:
        return _from_value(gsm[-1], "gsm8k")
    boxed = _boxed(text)
    if boxed is not None:
        return _from_value(boxed, "boxed")
    choices = list(_CHOICE.finditer(text))
    if choices:
        last = choices[-1]
        return Extracted("choice", last.group("paren") or last.group("letter"), "choice")
    stated = list(_ANSWER_IS.finditer(text))
    if stated:
        found = _from_value(stated[-1].group("value"), "answer-is")
        if found.kind != "none":
            return found
    bare = _BARE_CHOICE.match(text)
    if bare:
        return Extracted("choice", bare.group("letter").upper(), "choice")
    number = _concluding_number(text)
    if number is not None:
        return Extracted("number", number, "last-number")
    return Extracted("text", _normalise_text(text), "text")
