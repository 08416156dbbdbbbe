"""Bounded work per request (issue 22), the parts that must not change results.

Redaction reads a long text in pieces (shadowgap/privacy/redaction.py): ``re`` holds the GIL
for a whole scan, and one scan of a 1,000,000-character hostile message held it for over a
second. The pieces are cut only where no pattern can match across the cut, so redacting them
one by one must give exactly the text redacted whole; these tests check that on texts built
to put PII, digit groups, ``key = value`` pairs and ``bearer`` tokens on every side of every
possible cut. The prompt hash is computed a chunk at a time, and must equal the hash recorded
answers were keyed by. A body's nesting is checked without recursion, at any depth."""

from __future__ import annotations

import hashlib
import random

import pytest

from shadowgap.errors import InvalidInput
from shadowgap.ingest import store
from shadowgap.ingest.body import MAX_ITEM_NESTING, json_items, too_deep
from shadowgap.ingest.litellm import litellm_payloads
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


def test_prompt_hash_in_chunks_is_the_hash_of_the_joined_words(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rng = random.Random(3)
    words = ["a", "bb", " ", "  ", "\n", "\t", "x y", "é", "\u3000", "\x1f"]
    texts = ["".join(rng.choice(words) for _ in range(rng.randint(0, 15))) for _ in range(5000)]
    expected = [hashlib.sha256(" ".join(t.split()).encode()).hexdigest() for t in texts]
    monkeypatch.setattr(store, "_HASH_CHUNK", 3)
    assert [store.prompt_hash(t) for t in texts] == expected
    monkeypatch.undo()
    long = "What is 2+2? " * 20_000
    assert store.prompt_hash(long) == hashlib.sha256(" ".join(long.split()).encode()).hexdigest()


def _nested(depth: int) -> str:
    return "[" * depth + "1" + "]" * depth


def test_nesting_is_measured_at_any_depth() -> None:
    assert too_deep([[1]], limit=2) is None
    assert too_deep([[[1]]], limit=2) == "[0][0]"
    assert too_deep({"a": [{"b": [2]}]}, limit=3) == "a[0].b"
    payload = '{"id": "x", "model_parameters": {"deep": ' + _nested(1000) + "}}"
    with pytest.raises(InvalidInput) as refused:
        litellm_payloads(payload.encode())
    assert refused.value.field is not None
    assert refused.value.field.startswith("model_parameters.deep[0][0]")
    assert f"nests deeper than {MAX_ITEM_NESTING} levels" in refused.value.message


def test_nul_is_replaced_at_any_depth() -> None:
    body = '[{"k\\u0000": ' + "[" * 1000 + '"a\\u0000"' + "]" * 1000 + "}]"
    (item,) = json_items(body.encode())
    value = item["k\ufffd"]
    for _ in range(1000):
        (value,) = value
    assert value == "a\ufffd"
