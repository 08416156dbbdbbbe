"""PII and secrets in free text replaced by typed placeholders (``[EMAIL]``, ``[CARD]``, ...).

Kinds, each switched on or off by ``SHADOWGAP_REDACT``:

- ``email``   addresses;
- ``phone``   digit groups shaped like a phone number, kept only when ``phonenumbers``
              (Google's libphonenumber metadata) says the number is valid: international
              ``+`` numbers, and national ones of ``SHADOWGAP_REDACT_PHONE_REGION``; dates,
              sums and ids are not valid numbers, which matters for math prompts;
- ``card``    13-19 digit card numbers passing the Luhn check (``stdnum.luhn``);
- ``iban``    IBANs with a valid country format and check digits (``stdnum.iban``);
- ``ip``      IPv4 and IPv6 addresses (validated by ``ipaddress``);
- ``secret``  API keys and tokens: JWTs, ``Bearer`` tokens, well-known key prefixes
              (``sk-``, ``ghp_``, ``xox?-``, ``AKIA``, ...), ``key=value`` pairs whose name
              says password/secret/token/api key, and long high-entropy strings.

Everything is offline and deterministic. Candidates are found by cheap regular expressions
first and validated after, so text without digits or ``@`` costs little. Placeholders never
contain anything from the original.

Bounded work per call. Every pattern runs in time linear in its input, but ``re`` holds the
GIL for a whole scan, and on hostile text (``"1" * 1_000_000``) one scan of a 1,000,000-character
message took over a second, while the server answered nothing else. So a long text is redacted
in pieces of at most ``PIECE_CHARS``, cut only where no pattern can match across the cut (see
:func:`pieces`): the result is the same as redacting it whole, and other threads run between
the scans. A stretch longer than ``WORD_CHARS`` that offers no such cut (no comma, semicolon,
apostrophe or suitable whitespace: a blob, not prose) is replaced whole by ``[SECRET]``, as the
random keys it resembles are.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import phonenumbers
from stdnum import iban as stdnum_iban
from stdnum import luhn

from shadowgap.config import Settings
from shadowgap.textscan import sub_emails, sub_jwts

KINDS = ("email", "phone", "card", "iban", "ip", "secret")
PLACEHOLDERS = {kind: f"[{kind.upper()}]" for kind in KINDS}

# An e-mail is [A-Za-z0-9._%+-]+@ then this domain, found from each "@" in linear time
# (shadowgap/textscan.py: the pattern as one regex is quadratic on a long run without "@").
_EMAIL_LOCAL = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._%+-")
_EMAIL_DOMAIN = re.compile(r"[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}")
# The card and phone patterns start only after a character that is not a word character (or
# "+"): without the look-behind, each position inside a long digit run started a try that read
# up to 19 digits and failed (3.7 s on a 1,000,000-digit text, 40 ms with it).
_CARD = re.compile(r"(?<![A-Za-z0-9_])\d(?:[ \-]?\d){12,18}(?![\d\w])")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]){11,30}\b")
_IPV4 = re.compile(r"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}(?![\d.])")
# Compressed forms ("::") are only looked for when the text has "::"; full forms always.
_IPV6_COMPRESSED = re.compile(r"(?<![\w:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:])")
_IPV6_FULL = re.compile(r"(?<![\w:])(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}(?![\w:])")
# Phone-number candidates: optional +country code, optional (area code), then digit groups
# joined by single separators. phonenumbers then decides (dates and sums are not valid).
# The look-behind (as _CARD's) keeps a try from starting inside a word or after a "+".
_PHONE = re.compile(
    r"(?<![A-Za-z0-9_+])(?:"
    r"\+\d{7,15}(?!\w)"
    r"|\+\d{1,3}[\s.\-]?(?:\(\d{1,4}\)[\s.\-]?)?\d{2,4}(?:[\s.\-]\d{2,5}){1,4}(?!\w)"
    r"|\(\d{1,4}\)[\s.\-]?\d{2,4}(?:[\s.\-]\d{2,5}){1,4}(?!\w)"
    r"|\d{2,4}(?:[\s.\-]\d{2,5}){1,4}(?!\w)"
    r"|\d{7,15}(?!\w))"
)
# Substrings without which no secret pattern can match (checked in C before any regex).
_SECRET_HINTS = (
    "eyj",
    "bearer",
    "sk-",
    # GitHub's prefixes in full: "gh" alone is in a sixth of English texts (eight, through).
    "ghp_",
    "gho_",
    "ghu_",
    "ghs_",
    "ghr_",
    "github_pat_",
    "xox",
    "akia",
    "asia",
    "aiza",
    "_live_",
    "_test_",
    "glpat-",
    "password",
    "passwd",
    "pwd",
    "secret",
    "token",
    "key",
)
_OPAQUE_MIN = 24
# JSON Web Tokens (three base64url parts, the first a JSON header: '{"' = 'eyJ') are found
# by textscan.sub_jwts, in linear time, before these patterns.
_SECRET_PATTERNS = [
    re.compile(r"(?i)(?<=\bbearer )[A-Za-z0-9._~+/\-]{12,}=*"),
    # Well-known prefixes: OpenAI/Anthropic, GitHub, Slack, AWS, Google, Stripe, GitLab.
    re.compile(
        r"\b(?:sk-(?:ant-|proj-)?[A-Za-z0-9_\-]{16,}|gh[pousr]_[A-Za-z0-9]{30,}"
        r"|github_pat_[A-Za-z0-9_]{30,}|xox[abposr]-[A-Za-z0-9\-]{10,}"
        r"|(?:AKIA|ASIA)[A-Z0-9]{16}|AIza[0-9A-Za-z_\-]{35}|[rsp]k_(?:live|test)_[A-Za-z0-9]{16,}"
        r"|glpat-[A-Za-z0-9_\-]{20,})"
    ),
    # password=..., "api_key": "...", secret: ... (the value only; the name stays readable).
    re.compile(
        r"(?i)\b(?:password|passwd|pwd|secret|token|api[_\-]?key|access[_\-]?key"
        r"|client[_\-]?secret|private[_\-]?key)\"?\s*[:=]\s*\"?(?P<value>[^\s\"',;]{6,})"
    ),
]
# Long runs of key-like characters; redacted only when they look random (see _random).
# A part that each match of the IBAN, card, IPv4 and phone patterns contains (all start at a
# digit, so the regex engine skips to digits in C): ``\d\d`` then 11 groups (IBAN, after its
# country letters), 13 digits with single separators (card), ``\d.\d{1,3}.\d`` (IPv4), and a
# digit then a separator and two digits, or 7 digits (every phone alternative has one or the
# other). Text without any of them skips those four scans: prose, and most numbers in it.
_NUMBERISH = re.compile(
    r"\d(?:\d(?: ?[A-Z0-9]){11}|(?:[ \-]?\d){12}|\.\d{1,3}\.\d|[\s.\-]\d\d|\d{6})"
)
_OPAQUE = re.compile(r"(?<![A-Za-z0-9_\-+/])[A-Za-z0-9_\-+/]{24,}={0,2}(?![A-Za-z0-9_\-+/])")


# Pieces redacted by one call each (module doc): the slowest scan reads ~1 us a character on
# hostile text, so a piece holds the GIL for at most ~10 ms per pattern.
PIECE_CHARS = 8192
# The longest stretch without a safe cut that is still scanned (~30 ms per pattern at worst).
WORD_CHARS = 32768
# Where a cut may go: before a comma, semicolon or apostrophe (no pattern reads one), or in a
# run of whitespace (if _safe_whitespace says so). One character class, so that the regex
# engine skips ahead to it in C (an alternation was five times slower); searched a window at a
# time, so that no call holds the GIL for long whatever the text.
_CUT = re.compile(r"[,;'\s]")
_SPACES = re.compile(r"\s+")
_CUT_WINDOW = 65536
# A single whitespace character between these is crossed by the phone, card and IBAN patterns.
_GROUP_BEFORE = frozenset("0123456789)ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_GROUP_AFTER = frozenset("0123456789(ABCDEFGHIJKLMNOPQRSTUVWXYZ")
# `name = value` and `name: "value"` may span whitespace around these (the key=value secrets).
_ASSIGNMENT = frozenset(':="')


def _safe_whitespace(text: str, start: int, end: int) -> bool:
    """Whether no pattern can match across the whitespace run ``text[start:end]`` (a cut
    before it then changes nothing): only single characters between digit groups (phone, card,
    IBAN), a ``:``/``=`` beside it (key=value secrets) and ``bearer <token>`` cross one."""
    before = text[start - 1] if start else ""
    after = text[end] if end < len(text) else ""
    if before in _ASSIGNMENT or after in _ASSIGNMENT:
        return False
    if end - start == 1 and before in _GROUP_BEFORE and after in _GROUP_AFTER:
        return False
    return not (text[start] == " " and text[max(0, start - 6) : start].lower() == "bearer")


def pieces(text: str, size: int = PIECE_CHARS) -> list[str]:
    """``text`` cut into pieces of at most ``size`` characters (longer where no safe cut is
    near) at places no pattern matches across, so that redacting the pieces one by one gives
    the text redacted whole. A cut goes before a comma, semicolon or apostrophe, or anywhere
    in a safe whitespace run; one pass over the text."""
    parts: list[str] = []
    start = 0  # where the current piece starts
    last = 0  # the latest safe cut seen after it (0: none yet)
    for cuts in _cut_places(text, size):
        for cut in cuts:
            if cut - start > size and last > start:
                parts.append(text[start:last])
                start = last
            if cut - start > size:  # a stretch longer than a piece without a cut
                parts.append(text[start:cut])
                start = cut
            last = cut
    if len(text) - start > size and last > start:
        parts.append(text[start:last])
        start = last
    parts.append(text[start:])
    return [part for part in parts if part]


def _cut_places(text: str, size: int) -> Iterator[Sequence[int]]:
    """The safe cuts in order: a separator's position, or places in a safe whitespace run
    (its start, and every ``size`` characters inside a long one)."""
    position = 0
    while position < len(text):
        found = _CUT.search(text, position, position + _CUT_WINDOW)
        if found is None:
            position += _CUT_WINDOW
            continue
        start = found.start()
        if text[start] in ",;'":
            position = start + 1
            yield (start,)
            continue
        end = _SPACES.match(text, start).end()  # type: ignore[union-attr]
        position = end
        if _safe_whitespace(text, start, end):
            yield range(start, end, size)


_LEADING_CUT = re.compile(r"[,;']?\s*")


def _blob(piece: str) -> str:
    """A piece without a safe cut longer than WORD_CHARS: ``[SECRET]`` in place of all but the
    separator and whitespace it starts or ends with."""
    start = _LEADING_CUT.match(piece).end()  # type: ignore[union-attr]
    end = len(piece.rstrip())
    return piece[:start] + PLACEHOLDERS["secret"] + piece[end:]


@lru_cache(maxsize=4096)  # as _valid_phone: repeated candidates are checked once
def _luhn_card(candidate: str) -> bool:
    digits = re.sub(r"[ \-]", "", candidate)
    return 13 <= len(digits) <= 19 and luhn.is_valid(digits)


def _cards(text: str, placeholder: str) -> str:
    """A run of digit groups may hold a card number followed by other numbers ("4111...1111
    10 items"): the longest leading groups that pass the Luhn check are the card."""

    def replace(match: re.Match[str]) -> str:
        run = match.group(0)
        groups = re.split(r"(?<=\d)(?=[ \-])", run)
        # Digits in groups[:end], so that only prefixes of card length are Luhn-checked.
        digits = [0]
        for group in groups:
            digits.append(digits[-1] + sum(c.isdigit() for c in group))
        for end in range(len(groups), 0, -1):
            if 13 <= digits[end] <= 19 and _luhn_card("".join(groups[:end])):
                return placeholder + "".join(groups[end:])
        return run

    return _CARD.sub(replace, text)


def _valid_iban(candidate: str) -> bool:
    return bool(stdnum_iban.is_valid(candidate))


def _valid_ip(candidate: str) -> bool:
    try:
        ipaddress.ip_address(candidate)
    except ValueError:
        return False
    return True


def _random(token: str) -> bool:
    """Mixed letters and digits with high per-character entropy: a key, not a word or an id
    made of one character class (long words, hex hashes of content are kept: ids, not
    secrets, and the judge's answers quote them)."""
    if not (re.search(r"[A-Z]", token) and re.search(r"[a-z]", token) and re.search(r"\d", token)):
        return False
    counts = Counter(token)
    entropy = -sum(n / len(token) * math.log2(n / len(token)) for n in counts.values())
    return entropy >= 4.0


def _sub(
    pattern: re.Pattern[str],
    text: str,
    check: Callable[[str], bool],
    placeholder: str,
    not_after: str = "",
) -> str:
    """Replace the matches that pass ``check`` and do not follow a character of
    ``not_after`` (for the IPv4 pattern a look-behind was several times slower on ordinary
    text: it stops the regex engine from skipping ahead to the first possible character)."""

    def replace(match: re.Match[str]) -> str:
        start = match.start()
        if start and text[start - 1] in not_after:
            return match.group(0)
        return placeholder if check(match.group(0)) else match.group(0)

    return pattern.sub(replace, text)


# Parsing a candidate costs tens of microseconds of Python: a text repeating one digit pattern
# (a hostile or a generated one) asks about the same few candidates thousands of times.
@lru_cache(maxsize=4096)
def _valid_phone(candidate: str, region: str) -> bool:
    if sum(c.isdigit() for c in candidate) < 7:
        return False
    try:
        number = phonenumbers.parse(candidate, region)
    except phonenumbers.NumberParseException:
        return False
    return bool(phonenumbers.is_valid_number(number))


@dataclass(frozen=True)
class Redactor:
    """Redacts the configured kinds. ``Redactor(frozenset())`` changes nothing."""

    kinds: frozenset[str]
    phone_region: str = "US"

    @property
    def enabled(self) -> bool:
        return bool(self.kinds)

    def text(self, text: str) -> str:
        if not self.kinds or not text:
            return text
        if len(text) <= PIECE_CHARS:
            return self._text(text)
        return "".join(
            self._text(piece) if len(piece) <= WORD_CHARS else _blob(piece)
            for piece in pieces(text)
        )

    def for_batch(self) -> Redactor:
        """A redactor with the same results that redacts each distinct text once, for one
        batch (its memory goes with the batch: no text outlives the request)."""
        return BatchRedactor(self.kinds, self.phone_region)

    def _text(self, text: str) -> str:
        # Order: secrets first (a JWT or key may contain digit runs that look like cards),
        # then structured numbers before phones (a card number is also a digit run).
        if "secret" in self.kinds:
            text = self._secrets(text)
        if "email" in self.kinds and "@" in text:
            text = sub_emails(text, _EMAIL_LOCAL.__contains__, _EMAIL_DOMAIN, PLACEHOLDERS["email"])
        digits = _NUMBERISH.search(text) is not None  # else none of four patterns can match
        if digits and "iban" in self.kinds:
            text = _sub(_IBAN, text, _valid_iban, PLACEHOLDERS["iban"])
        if digits and "card" in self.kinds:
            text = _cards(text, PLACEHOLDERS["card"])
        if "ip" in self.kinds:
            if digits and "." in text:
                text = _sub(_IPV4, text, _valid_ip, PLACEHOLDERS["ip"], not_after="0123456789.")
            if "::" in text:
                text = _sub(_IPV6_COMPRESSED, text, _valid_ip, PLACEHOLDERS["ip"])
            elif text.count(":") >= 7:
                text = _sub(_IPV6_FULL, text, _valid_ip, PLACEHOLDERS["ip"])
        if digits and "phone" in self.kinds:
            text = _sub(_PHONE, text, self._valid_phone, PLACEHOLDERS["phone"])
        return text

    def _secrets(self, text: str) -> str:
        placeholder = PLACEHOLDERS["secret"]
        lowered = text.lower()
        if not any(hint in lowered for hint in _SECRET_HINTS):
            return self._opaque(text)
        text = sub_jwts(text, placeholder)
        for pattern in _SECRET_PATTERNS:
            if "value" in pattern.groupindex:  # keep the name, replace the value
                text = pattern.sub(
                    lambda m: m.group(0)[: m.start("value") - m.start(0)] + placeholder, text
                )
            else:
                text = pattern.sub(placeholder, text)
        return self._opaque(text)

    @staticmethod
    def _opaque(text: str) -> str:
        # Only a whitespace-free run of 24+ characters can be a random key.
        if max(map(len, text.split()), default=0) < _OPAQUE_MIN:
            return text
        return _sub(_OPAQUE, text, _random, PLACEHOLDERS["secret"])

    def _valid_phone(self, candidate: str) -> bool:
        return _valid_phone(candidate, self.phone_region)

    def value(self, value: Any) -> Any:
        """Every string inside a JSON-like value (dicts, lists), keys left as they are."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {key: self.value(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self.value(item) for item in value]
        return value


@dataclass(frozen=True)
class BatchRedactor(Redactor):
    """:meth:`Redactor.for_batch`: a batch repeats texts (one system prompt, the router's
    reason, a retried prompt), and each distinct one is redacted once."""

    done: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    def text(self, text: str) -> str:
        found = self.done.get(text)
        if found is None:
            found = self.done[text] = super().text(text)
        return found


@lru_cache(maxsize=16)
def redactor(kinds: tuple[str, ...], phone_region: str = "US") -> Redactor:
    unknown = set(kinds) - set(KINDS)
    if unknown:
        raise ValueError(f"unknown redaction kinds: {sorted(unknown)} (known: {KINDS})")
    return Redactor(frozenset(kinds), phone_region)


def for_settings(settings: Settings) -> Redactor:
    """The deployment's redactor (``SHADOWGAP_REDACT``, ``SHADOWGAP_REDACT_PHONE_REGION``)."""
    return redactor(tuple(sorted(settings.redact)), settings.redact_phone_region)
