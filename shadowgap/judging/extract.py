"""Final-answer extraction from free-form model output.

Rules, most explicit first: a JSON ``"answer"`` value, GSM8K's ``#### n``, LaTeX ``\\boxed{}``,
a multiple-choice letter however it is phrased (``shadowgap/judging/choices.py``), "the answer
is ...", and finally the last number of the text's concluding sentences (models put the result
at the end). An answer with none of these is its own normalised text. Numbers lose currency
signs, thousands separators, percent signs and units, so "$1,200.00" and "1200" compare equal.

Given the question, the options it lists are read too: an answer that names an option only by
its text or value ("Paris", "#### 18") becomes that option's letter, so it compares equal to
an answer that names the letter.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Literal

from shadowgap.judging.choices import Options, parse_options, read_choice

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
_ANSWER_IS = re.compile(
    r"(?:\bfinal answer\b|\bthe answer\b|\banswer\b)\s*(?:is|=|:)\s*:?\s*(?P<value>[^\n]+)",
    re.IGNORECASE,
)
_JSON_ANSWER = re.compile(r"\"answer\"\s*:\s*(?P<value>\"(?:[^\"\\]|\\.)*\"|[^,}\s]+)")
# How many closing sentences may state a worked answer's result (see _concluding_number).
CONCLUDING_SENTENCES = 3
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


def _from_value(value: str, rule: str, options: Options | None) -> Extracted:
    """A found answer string as a choice letter, a number or normalised text."""
    value = value.strip().strip("*").strip()
    choice = read_choice(value, options)
    if choice is not None:
        return Extracted("choice", choice.letter, rule)
    number = _first_number(value)
    if number is not None:
        return Extracted("number", number, rule)
    text = _normalise_text(value)
    return Extracted("text", text, rule) if text else NONE


def _json_answer(text: str, options: Options | None) -> Extracted | None:
    match = _JSON_ANSWER.search(text)
    if not match:
        return None
    try:
        value = json.loads(match.group("value"))
    except json.JSONDecodeError:
        value = match.group("value")
    return _from_value(str(value), "json", options)


def _concluding_number(text: str) -> str | None:
    """The last number of the last sentence that has one, among the concluding sentences.

    A worked answer states its result at the end (on GSM8K, GPT-4's free-form answers have it
    in the last sentence 1,259 times in 1,272 and always within the last three); a number deep
    inside an essay is not its result (of the 220 MT-Bench answers this rule read, 71 had it
    four or more sentences from the end).
    """
    sentences = [s for s in _SENTENCE_END.split(text.strip()) if s.strip()]
    for sentence in reversed(sentences[-CONCLUDING_SENTENCES:]):
        number = _last_number(sentence)
        if number is not None:
            return number
    return None


def extract_answer(text: str | None, question: str | None = None) -> Extracted:
    """The final answer stated in ``text`` (see the module docstring for the rules);
    ``question`` gives the options of a multiple-choice question.

    >>> extract_answer("so 9 * $2 = $<<9*2=18>>18.\\n#### 18")
    Extracted(kind='number', value='18', rule='gsm8k')
    >>> extract_answer("She makes 9 * $2 = $18 every day at the farmers' market.").value
    '18'
    >>> extract_answer("The answer is (B).")
    Extracted(kind='choice', value='B', rule='choice-statement')
    >>> extract_answer("Paris, of course.", "Capital of France?\\nA) Rome\\nB) Paris").value
    'B'
    """
    options = parse_options(question)
    found = _extract(text, options)
    if options is not None and found.kind in ("number", "text"):
        letter = _option_for(found, options)
        if letter is not None:
            return Extracted("choice", letter, f"{found.rule}+option-text")
    return found


def _extract(text: str | None, options: Options | None) -> Extracted:
    if not text or not text.strip():
        return NONE
    text = _CALCULATOR.sub("", text)
    found = _json_answer(text, options)
    if found is not None and found.kind != "none":
        return found
    gsm = _GSM8K.findall(text)
    if gsm:
        return _from_value(gsm[-1], "gsm8k", options)
    boxed = _boxed(text)
    if boxed is not None:
        return _from_value(boxed, "boxed", options)
    choice = read_choice(text, options)
    if choice is not None:
        return Extracted("choice", choice.letter, choice.rule)
    stated = list(_ANSWER_IS.finditer(text))
    if stated:
        found = _from_value(stated[-1].group("value"), "answer-is", options)
        if found.kind != "none":
            return found
    number = _concluding_number(text)
    if number is not None:
        return Extracted("number", number, "last-number")
    return Extracted("text", _normalise_text(text), "text")


def _option_for(found: Extracted, options: Options) -> str | None:
    """The one option whose text states ``found``: the same number, the same text, or
    (for a whole answer read as text) the only option it names."""
    if found.kind == "number":
        hits = [
            letter
            for letter, option in options.texts.items()
            if (value := _sole_number(option)) is not None and _numbers_equal(value, found.value)
        ]
        return hits[0] if len(hits) == 1 else None
    texts = {letter: _normalise_text(option) for letter, option in options.texts.items()}
    exact = [letter for letter, option in texts.items() if option and option == found.value]
    if len(exact) == 1:
        return exact[0]
    # "Paris, because ..." after "the answer is": the longest option the value starts with.
    leading = [
        (len(option), letter)
        for letter, option in texts.items()
        if option and found.value.startswith(option + " ")
    ]
    if leading:
        return max(leading)[1]
    if found.rule == "text":
        # A whole answer with no stated result: it counts when it names exactly one option.
        named = [
            letter
            for letter, option in texts.items()
            if option and re.search(rf"\b{re.escape(option)}\b", found.value)
        ]
        return named[0] if len(named) == 1 else None
    return None


def _sole_number(text: str) -> str | None:
    """The number an option is ("18", "$18", "18 eggs", "2.5 km per hour"); None for an
    option that only mentions a number among other words ("a book published in 2028")."""
    numbers = list(_NUMBER.finditer(text))
    if len(numbers) != 1 or len(_NUMBER.sub(" ", text).split()) > 3:
        return None
    return _number_from(numbers[0])
