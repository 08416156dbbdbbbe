"""The redactor on real-looking PII, and on text that must stay as it is (math, dates, ids)."""

from __future__ import annotations

import pytest

from shadowgap.privacy.redaction import KINDS, redactor

ALL = redactor(KINDS)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mail me at jane.doe+work@example.co.uk today", "mail me at [EMAIL] today"),
        ("call +44 20 7946 0958 or (415) 555-2671", "call [PHONE] or [PHONE]"),
        ("my number is +1-202-555-0143.", "my number is [PHONE]."),
        ("card 4111 1111 1111 1111 exp 12/29", "card [CARD] exp 12/29"),
        ("card 5500-0000-0000-0004", "card [CARD]"),
        ("pay to DE89 3704 0044 0532 0130 00 please", "pay to [IBAN] please"),
        ("iban GB82WEST12345698765432", "iban [IBAN]"),
        ("from 192.168.10.77 and 2001:db8::8a2e:370:7334", "from [IP] and [IP]"),
        ("use sk-proj-abcdEFGH1234ijklMNOP5678 as key", "use [SECRET] as key"),
        ("token ghp_ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghij", "token [SECRET]"),
        ("AWS AKIAIOSFODNN7EXAMPLE", "AWS [SECRET]"),
        ("Authorization: Bearer abc.DEF-123_xyz456789", "Authorization: Bearer [SECRET]"),
        ('config {"password": "hunter2-hunter2"}', 'config {"password": "[SECRET]"}'),
        ("api_key=Zx9kQ2mN7pL4", "api_key=[SECRET]"),
        (
            "jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0."
            "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
            "jwt [SECRET]",
        ),
        ("random Xk29PqLm7Vb3Nw8Rt5Yz1Hc6Jd4Fg0Ks", "random [SECRET]"),
    ],
)
def test_finds_each_kind(text: str, expected: str) -> None:
    assert ALL.text(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        # GSM8K-style arithmetic, dates, times, versions, ids, hashes: none of it is PII.
        "Janet sells 16 - 3 - 4 = 9 eggs at $2 each: 9 * 2 = 18 dollars. #### 18",
        "The meeting is on 2026-11-02 at 12:30:45, room 4.2.1.",
        "A train travels 1,250,000 meters in 3600 seconds.",
        "version 1.2.3.4567 and order 1234567",
        "sha 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "card-like but not Luhn: 4111 1111 1111 1112",
        "IBAN-like but bad check digits: DE00 3704 0044 0532 0130 00",
        "not an ip: 999.300.1.1, a ratio 3:4:5",
        "internationalization_and_localization_are_long_words",
    ],
)
def test_keeps_what_is_not_pii(text: str) -> None:
    assert ALL.text(text) == text


def test_kinds_are_switched_one_by_one() -> None:
    text = "jane@example.com 4111111111111111 10.0.0.1"
    assert redactor(("email",)).text(text) == "[EMAIL] 4111111111111111 10.0.0.1"
    assert redactor(("card", "ip")).text(text) == "jane@example.com [CARD] [IP]"
    assert redactor(()).text(text) == text
    with pytest.raises(ValueError, match="unknown redaction kinds"):
        redactor(("emails",))


def test_json_values_are_redacted_inside() -> None:
    value = {
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "I am bob@example.org"}]}
        ],
        "n": 3,
    }
    assert ALL.value(value) == {
        "messages": [{"role": "user", "content": [{"type": "text", "text": "I am [EMAIL]"}]}],
        "n": 3,
    }


def test_log_lines_are_redacted() -> None:
    import json
    import logging

    from shadowgap.logging_setup import JsonFormatter

    record = logging.makeLogRecord(
        {"msg": "flagship said: %s", "args": ("write to ceo@example.com",), "levelname": "ERROR"}
    )
    record.__dict__["detail"] = "card 4111 1111 1111 1111"
    line = json.loads(JsonFormatter(ALL.text).format(record))
    assert line["msg"] == "flagship said: write to [EMAIL]"
    assert line["detail"] == "card [CARD]"


def test_phone_formats() -> None:
    for number in ("+12025550143", "+1 (202) 555-0143", "(202) 555 0143", "202.555.0143"):
        assert ALL.text(f"ring {number} now") == "ring [PHONE] now", number
