"""Reading a multiple-choice answer, however the model phrased it.

Chat models state a choice in many ways: ``B. Paris``, ``(B) Paris``, ``b)``, ``**B**``,
``[B]``, ``Answer: B``, ``The answer is (B).``, ``I'd go with B because ...``, ``Option B``,
``B is correct``, or a final-answer line after their reasoning. :func:`read_choice` finds the
letter, most explicit statement first:

1. a statement: "answer is / answer: / final answer", "the correct option is", "I'd go with",
   "B is the correct answer", "it's B." (the last one in the text: models conclude at the end);
2. a line that starts with the letter and a delimiter (``B.``, ``B)``, ``(B)``, ``[B]``,
   ``B:``, ``B -``) or is the bare letter: the answer's first line (answer-first style) or its
   last (a final-answer line) - unless that line opens or closes a list of options, which
   is an analysis of the options, not an answer;
3. a mention such as "option B" that is not negated ("option A is wrong"), and, when the
   question lists options, "situation c)" or "statement (b)" and a bare letter ending the
   answer ("... Paris it is.\nB.").

The article "A" and a letter inside a word are never a choice: an upper-case letter must be
followed by a delimiter, the end of the text, or a word that cannot continue a noun phrase
("A train leaves" is prose, "A because ..." is a choice); a lower-case letter counts only with
a delimiter ("b)", "(b)", "answer: b.").

:func:`parse_options` reads the options a question lists (one per line, or inline), so that an
answer naming only the option's text can be mapped onto its letter, and so that letters
beyond E (``F``..``J``) are read only when the question offers them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

DEFAULT_LETTERS = "ABCDE"

# Words that may follow a choice letter in a statement ("I'd go with B because ..."); any
# other lower-case word after it makes the letter an article ("the answer is a total ...").
# Not "and", "or", "for": "choose A and B" names variables, not an option.
_CONNECTORS = (
    "because|since|as|which|here|then|so|but|is|was|would|should|seems|looks|"
    "too|instead|overall|though|although|given|due|based"
)
_MARKDOWN = re.compile(r"\*+|`+|(?<!\w)_+|_+(?!\w)")
_LATEX_LETTER = re.compile(r"\\(?:text|textbf|mathrm|mathbf|mathit)\s*\{\s*([A-Ja-j])\s*\}")
_DOLLAR_LETTER = re.compile(r"\$\s*([A-Ja-j])\s*\$")
_NEGATED = re.compile(
    r"\s*(?:is|are|was|seems|would\s+be)\s+(?:not\b|in(?:correct|valid)\b|wrong\b|false\b)"
    r"|\s*isn't\b|\s*can(?:not|'t)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class Options:
    """The options a question lists: letter -> option text."""

    texts: dict[str, str]

    @property
    def letters(self) -> str:
        return "".join(self.texts)


@dataclass(frozen=True, slots=True)
class Choice:
    letter: str
    rule: str  # "choice-statement", "choice-line", "choice-mention"


def plain(text: str) -> str:
    """``text`` without markdown emphasis and LaTeX wrappers around a letter."""
    text = _LATEX_LETTER.sub(r"\1", text)
    text = _DOLLAR_LETTER.sub(r"\1", text)
    return _MARKDOWN.sub("", text)


@dataclass(frozen=True)
class _Patterns:
    statements: tuple[re.Pattern[str], ...]
    line: re.Pattern[str]
    mention: re.Pattern[str]
    listed_mention: re.Pattern[str]
    ending: re.Pattern[str]


def _token(upper: str, strict: bool) -> str:
    """A choice letter in running text; groups p (bracketed), u (upper), w (lower).

    ``strict`` (after a weak cue such as "it's") takes an upper-case letter only when a
    sentence end or a delimiter before the option's text follows ("it's B - Paris")."""
    lower = upper.lower()
    bracketed = rf"[(\[](?P<p>[{upper}{lower}])[)\]]"
    if strict:
        upper_alone = rf"(?P<u>[{upper}])(?![\w'])(?=[.!]?[ \t]*(?:\n|$)|[.!:,]\s|\s+[-–—]\s)"
    else:
        upper_alone = (
            rf"(?P<u>[{upper}])(?![\w'])"
            rf"(?!\s+(?!(?:{_CONNECTORS})\b)[a-z])"  # "A train": an article, not a choice
        )
    lower_alone = rf"(?P<w>[{lower}])(?=\s*(?:[.)\]:,;!]|$))(?![\w'])"
    return rf"(?<![\w'])(?:{bracketed}|{upper_alone}|{lower_alone})"


@lru_cache(maxsize=64)
def _patterns(letters: str) -> _Patterns:
    token = _token(letters, strict=False)
    answer_cue = (
        r"(?i:\b(?:final\s+)?answer\b(?:\s+(?:is|would\s+be|will\s+be|should\s+be)"
        r"(?:\s+(?:therefore|thus|clearly|probably|definitely))?\s*:?|\s*[:=\-–—]|(?=\s*[(\[]))"
        r"|\bfinal\s*:"
        r"|\b(?:correct|right|best)\s+(?:option|choice|letter|one|response)"
        r"(?:\s+(?:is|would\s+be)\s*:?|\s*:)"
        r"|\b(?:go(?:ing)?\s+with|choose|chose|pick|picked|select|selected|opt\s+for)"
        r"|\b(?:my\s+(?:choice|pick|selection)\s+(?:is|would\s+be)\s*:?))\s*"
        # "Answer: Option C", "I'd go with choice (b)".
        r"(?:(?i:option|choice|letter)\s*)?"
    )
    it_is = (
        r"(?i:\b(?:it's|it\s+is|that's|that\s+is|that\s+would\s+be)\s+"
        r"|\b(?:so|thus|hence|therefore)\s*[:,]?\s*)"
    )
    letter_first = (
        rf"(?:(?i:option|choice)\s+)?{token}\s*(?i:is|would\s+be)\s+"
        r"(?i:(?:the\s+)?(?:correct|right|best|true|most\s+(?:accurate|appropriate|likely))"
        r"|(?:the|my)\s+(?:final\s+)?(?:answer|choice|pick))\b"
    )
    lower = letters.lower()
    line = (
        r"^\s*(?:[-+>#]+\s*)?"
        rf"(?:[(\[](?P<p>[{letters}{lower}])[)\]]"
        rf"|(?P<u>[{letters}])(?:[.)\]:](?!\w)|\s+[-–—]\s)"
        rf"|(?P<w>[{lower}])[)\]](?!\w)|(?P<wd>[{lower}])\.(?=\s|$)"
        rf"|(?P<bare>[{letters}{lower}])\s*$)"
    )
    return _Patterns(
        statements=(
            re.compile(answer_cue + token),
            re.compile(it_is + _token(letters, strict=True)),
            re.compile(letter_first),
        ),
        line=re.compile(line),
        mention=re.compile(r"(?i:\b(?:option|choice)\b)\s*:?\s*" + token),
        # Nouns a question may call its options by ("report situation c)"): read only when
        # the question lists options, since "statement A" or "the letter D" occur in prose.
        listed_mention=re.compile(
            r"(?i:\b(?:option|choice|alternative|situation|statement|scenario)\b)\s*:?\s*" + token
        ),
        # A bare letter ending the answer stands alone ("Paris it is.\nB."); after a word it
        # ends a name ("... than Juice Box B.").
        ending=re.compile(
            r"(?:(?:^|(?<=[\n.:!?;]))\s*"
            + _token(letters, strict=True)
            + rf"|[(\[](?P<bare>[{letters}{lower}])[)\]])[.!]?\s*$"
        ),
    )


def _letter(match: re.Match[str]) -> str:
    for name in ("p", "u", "w", "wd", "bare"):
        value = match.groupdict().get(name)
        if value:
            return value.upper()
    raise ValueError("choice pattern matched without a letter")


_WORD_BEFORE = re.compile(r"([A-Za-z][\w-]*)\s+$")


def _part_of_option_name(text: str, match: re.Match[str], options: Options | None) -> bool:
    """An upper-case letter that ends a name an option contains ("Vitamin C is the most
    likely cause" when an option reads "Vitamin C") is not that letter's choice."""
    if options is None or match.groupdict().get("u") is None:
        return False
    start = match.start("u")
    word = _WORD_BEFORE.search(text, max(0, start - 40), start)
    if word is None:
        return False
    name = f"{word.group(1)} {match.group('u')}".lower()
    return any(re.search(rf"\b{re.escape(name)}\b", t.lower()) for t in options.texts.values())


def _last_statement(text: str, patterns: _Patterns, options: Options | None) -> str | None:
    found: list[tuple[int, str]] = []
    for pattern in patterns.statements:
        found.extend(
            (m.start(), _letter(m))
            for m in pattern.finditer(text)
            if not _part_of_option_name(text, m, options)
        )
    return max(found)[1] if found else None


_QA_LABEL = re.compile(r"\s*A\s*:")


def _line_choice(text: str, patterns: _Patterns, options: Options | None) -> str | None:
    """The letter that opens the first or the last line, unless that line belongs to a list
    of options (its neighbouring line also starts with a letter). Without options in the
    question, "A:" is the answer label of a "Q: ... A: ..." transcript, not a choice."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        return None
    led = [
        None if options is None and _QA_LABEL.match(line) else patterns.line.match(line)
        for line in lines
    ]
    first, last = led[0], led[-1]
    if last is not None and last.group("bare"):
        return _letter(last)
    if first is not None and (len(lines) == 1 or led[1] is None):
        return _letter(first)
    if last is not None and led[-2] is None:
        return _letter(last)
    return None


def _mention(text: str, pattern: re.Pattern[str]) -> str | None:
    for match in reversed(list(pattern.finditer(text))):
        if not _NEGATED.match(text, match.end()):
            return _letter(match)
    return None


def read_choice(text: str, options: Options | None = None) -> Choice | None:
    """The choice letter stated in ``text`` (see the module docstring), or None."""
    letters = options.letters if options else DEFAULT_LETTERS
    if not letters:
        return None
    patterns = _patterns(letters)
    text = plain(text)
    letter = _last_statement(text, patterns, options)
    if letter is not None:
        return Choice(letter, "choice-statement")
    letter = _line_choice(text, patterns, options)
    if letter is not None:
        return Choice(letter, "choice-line")
    letter = _mention(text, patterns.listed_mention if options else patterns.mention)
    if letter is None and options is not None:
        ending = patterns.ending.search(text)
        if ending and not _part_of_option_name(text, ending, options):
            letter = _letter(ending)
    return Choice(letter, "choice-mention") if letter is not None else None


# An option marker: "A)", "A.", "A:", "(A)", "[A]", optionally bold, at a line start or after
# a space (inline lists such as "(A) 12 (B) 15 (C) 18").
_OPTION_MARKER = re.compile(
    r"(?:^|(?<=[\s:]))[*_]*(?:[(\[](?P<b>[A-Ja-j])[)\]]|(?P<l>[A-Ja-j])[.):])[*_]*[ \t]+",
    re.MULTILINE,
)


def parse_options(question: str | None) -> Options | None:
    """The options ``question`` lists, as consecutive letters from A; None when it lists
    fewer than two. Options on their own lines win over inline markers."""
    if not question:
        return None
    markers = list(_OPTION_MARKER.finditer(question))
    at_line_start = [m for m in markers if _starts_line(question, m.start())]
    for candidates in (at_line_start, markers):
        run = _last_run(candidates)
        if len(run) >= 2:
            return Options(_option_texts(question, run))
    return None


def _starts_line(text: str, position: int) -> bool:
    return not text[text.rfind("\n", 0, position) + 1 : position].strip()


def _marker_letter(match: re.Match[str]) -> str:
    return str(match.group("b") or match.group("l")).upper()


def _last_run(markers: list[re.Match[str]]) -> list[re.Match[str]]:
    """The last sequence of markers lettered A, B, C, ... in order (stray letters between,
    such as "vitamin C." inside an option's text, are skipped)."""
    best: list[re.Match[str]] = []
    run: list[re.Match[str]] = []
    for marker in markers:
        letter = _marker_letter(marker)
        if letter == "A":
            if len(run) >= 2:
                best = run
            run = [marker]
        elif run and ord(letter) == ord(_marker_letter(run[-1])) + 1:
            run.append(marker)
    return run if len(run) >= 2 else best


def _option_texts(question: str, run: list[re.Match[str]]) -> dict[str, str]:
    texts: dict[str, str] = {}
    for index, marker in enumerate(run):
        end = run[index + 1].start() if index + 1 < len(run) else len(question)
        body = question[marker.end() : end]
        texts[_marker_letter(marker)] = plain(body.split("\n", 1)[0]).strip()
    return texts
