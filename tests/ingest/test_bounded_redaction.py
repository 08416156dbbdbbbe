"""Redaction reads a long text in pieces (shadowgap/privacy/redaction.py): ``re`` holds the GIL
for a whole scan, and one scan of a 1,000,000-character hostile message held it for over a
second. The pieces are cut only where no pattern can match across the cut, so redacting them
one by one must give exactly the text redacted whole; these tests check that on texts built
to put PII, digit groups, ``key = value`` pairs and ``bearer`` tokens on every side of every
possible cut."""

from __future__ import annotations

import random

from shadowgap.privacy.redaction import KINDS, PIECE_CHARS, WORD_CHARS, pieces, redactor

REDACT = redactor(KINDS)
# Fragments whose joins make every kind of cut and near-cut: single and double whitespace of
# several kinds between digit groups, names and values of secrets, separators.
FRAGMENTS = [
    "4111",
    "1111",
    " ",
    "  ",
    "\n",
    "\t",
    "\n\n",
    "+1",
    "(202)",
    "555",
    "0143",
    "-",
    ".",
    "DE89",
    "3704",
    "0044",
    "0532",
    "0130",
    "00",
    "password",
    "token",
    "api_key",
    "=",
    ":",
    '"',
    "'",
    ",",
    ";",
    "bearer",
    "Bearer",
    "abcDEF123ghiJKL456mnoPQR789",
    "sk-proj-Abc123Def456Ghi789Jkl012",
    "jane.doe",
    "@",
    "example.com",
    "192.168",
    "10.1",
    "fe80::1",
    "eyJhbGciOi",
    "x",
    "Paris",
    "é",
]


def _texts(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choice(FRAGMENTS) for _ in range(rng.randint(1, 40))) for _ in range(count)]


def test_pieces_redact_like_the_whole_text() -> None:
    for text in _texts(6000, seed=7):
        whole = REDACT._text(text)
        for size in (1, 2, 3, 5, 8, 13):
            cut = pieces(text, size)
            assert "".join(cut) == text
            assert "".join(REDACT._text(piece) for piece in cut) == whole, (text, size, cut)


def test_a_long_message_is_redacted_in_pieces_like_the_whole() -> None:
    rng = random.Random(11)
    sentences = [
        "Call me at +1 202-555-0143 tomorrow.",
        "My card is 4111 1111 1111 1111, thanks;",
        "password = hunter2hunter2",
        "Bearer abcDEF123ghiJKL456mnoPQR789",
        "Write to jane.doe@example.com\n",
        "IBAN DE89 3704 0044 0532 0130 00 please",
        "numbers 12 34 56 78 90\n",
        "the weather in Paris is mild",
    ]
    text = " ".join(rng.choice(sentences) for _ in range(12_000))
    assert len(text) > 20 * PIECE_CHARS
    cut = pieces(text)
    assert "".join(cut) == text
    assert max(map(len, cut)) <= PIECE_CHARS
    assert REDACT.text(text) == REDACT._text(text)


def test_a_stretch_without_a_safe_cut_longer_than_a_word_is_redacted_whole() -> None:
    blob = "1" * (WORD_CHARS + 1)
    assert REDACT.text(f"before, {blob}, after") == "before, [SECRET], after"
    # Up to the limit it is scanned like any text.
    digits = "1" * (WORD_CHARS - 2)
    assert REDACT.text(f"before, {digits}, after") == REDACT._text(f"before, {digits}, after")


def test_no_redaction_kinds_changes_nothing_however_long() -> None:
    blob = "1" * (WORD_CHARS + 1)
    assert redactor(()).text(blob) == blob
