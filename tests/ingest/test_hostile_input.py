"""Hostile text at ingest: every regex that reads request text runs in linear time, so a
pathological prompt costs in proportion to its length, and the server keeps answering.

Before: ``"1-" * 12000`` took 10.6 s in the slice-feature id mask, 60,000 ``a`` 7.4 s in the
e-mail masks (features and redaction), ``"eyJ-" * n`` was quadratic in the JWT pattern.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from shadowgap.privacy.redaction import KINDS, redactor
from shadowgap.schemas import TrafficEvent
from shadowgap.slices import features
from shadowgap.slices.features import compute_features
from shadowgap.textscan import is_word, sub_emails, sub_jwts
from tests.support.factories import native_event
from tests.support.healthz_probe import HealthProbe, live_api
from tests.support.settings import API_KEY, auth

# Each ~60,000 characters: runs without the character a pattern waits for, repeated
# separators, openers without closers, digit groups.
PATHOLOGICAL = {
    "dash-digits": "1-" * 30_000,
    "letters": "a" * 60_000,
    "letters-then-at": "a" * 60_000 + "@",
    "dots": "a." * 30_000,
    "jwt-starts": "eyJ-" * 15_000,
    "jwt-parts": "eyJab." * 10_000,
    "key-prefixes": "sk-" * 20_000,
    "mixed-ids": "ab1-" * 15_000,
    "curly-quotes": "\u201c" * 60_000,
    "quotes": '"a' * 30_000,
    "digit-groups": "12-" * 20_000,
    "digits": "1" * 60_000,
    "spaced-digits": "4111 " * 12_000,
    "at-signs": "a@" * 30_000,
    "colons": "a1:" * 20_000,
    "key-values": "token=" * 10_000,
    "digit-dots": "1." * 30_000,
    "uuid-middles": "-abcd" * 12_000,
    "letter-digit-run": "a1" * 30_000,
}
# Per call on 60,000 characters; the quadratic patterns took 2-50 s here.
BOUND_SECONDS = 1.5


def _timed(function: Callable[[], object]) -> float:
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


@pytest.mark.parametrize("name", sorted(PATHOLOGICAL))
def test_redaction_and_features_take_bounded_time(name: str) -> None:
    text = PATHOLOGICAL[name]
    redact = redactor(KINDS)
    event = TrafficEvent.model_validate(
        native_event(
            "hostile",
            request={
                "messages": [{"role": "system", "content": text}, {"role": "user", "content": text}]
            },
        )
    )
    assert _timed(lambda: redact.text(text)) < BOUND_SECONDS
    assert _timed(lambda: features.mask(text)) < BOUND_SECONDS
    assert _timed(lambda: compute_features(event, [])) < BOUND_SECONDS


# --- the linear scans find what the regexes they replace found -------------------------------

_FEATURE_EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")
_REDACTION_EMAIL = re.compile(
    r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}"
)
_JWT = re.compile(r"\beyJ[A-Za-z0-9_\-]{5,}\.[A-Za-z0-9_\-]{5,}\.[A-Za-z0-9_\-]{5,}")
_ID = re.compile(r"\b(?=[\w-]*\d)(?=[\w-]*[a-zA-Z])[\w-]{8,}\b")
_LOCAL = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._%+-")


def _random_texts(pieces: list[str], count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choice(pieces) for _ in range(rng.randint(0, 24))) for _ in range(count)]


def test_email_scans_match_the_regexes() -> None:
    pieces = [*"ab1-_ @.+%é", "a@b.cd", "x.y", "@a.bc", "user"]
    feature_domain = re.compile(r"[\w-]+\.[\w.-]+")
    redaction_domain = re.compile(r"[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}")
    for text in _random_texts(pieces, 30_000, seed=1):
        local = lambda c: is_word(c) or c in ".+-"  # noqa: E731
        assert sub_emails(text, local, feature_domain, "<E>") == _FEATURE_EMAIL.sub("<E>", text)
        assert sub_emails(text, _LOCAL.__contains__, redaction_domain, "<E>") == (
            _REDACTION_EMAIL.sub("<E>", text)
        )


def test_jwt_scan_matches_the_regex() -> None:
    pieces = ["eyJ", "abcde", "ab", ".", "-", "x", " ", "_", "é", "eyJab"]
    for text in _random_texts(pieces, 30_000, seed=2):
        assert sub_jwts(text, "<J>") == _JWT.sub("<J>", text), text


def test_id_mask_matches_the_regex() -> None:
    pieces = [*"ab1-_ x9é٣", "abc123", "order-", "--", "4f3a9c21"]
    for text in _random_texts(pieces, 30_000, seed=3):
        assert features._id_mask(text, " <id> ") == _ID.sub(" <id> ", text), text


# --- through the API ------------------------------------------------------------------------


def _with(field: str, text: str) -> dict:
    """A native event with ``text`` in one text field (cut to the field's limit)."""
    event = native_event(f"hostile-{field}-{len(text)}")
    short = text[:128]
    if field == "user message":
        event["request"]["messages"][0]["content"] = text
    elif field == "system message":
        event["request"]["messages"].insert(0, {"role": "system", "content": text})
    elif field == "content part":
        event["request"]["messages"][0]["content"] = [{"type": "text", "text": text}]
    elif field == "answer":
        event["answer"] = text
    elif field == "error":
        event.update(status="error", error=text[:10_000])
    elif field == "route.reason":
        event["route"]["reason"] = text[:2000]
    elif field == "route.tier":
        event["route"]["tier"] = short
    elif field == "route.model":
        event["route"]["model"] = text[:256]
    elif field in ("tenant", "team", "user", "api_key_alias"):
        event["attributes"][field] = text[:256]
    elif field == "tags":
        event["attributes"]["tags"] = [text[:256]]
    elif field == "metadata":
        event["attributes"]["metadata"] = {"note": text}
    elif field == "params":
        event["request"]["params"] = {"stop": text}
    elif field == "event_id":
        event["event_id"] = text[:200]
    return event


FIELDS = [
    "user message",
    "system message",
    "content part",
    "answer",
    "error",
    "route.reason",
    "route.tier",
    "route.model",
    "tenant",
    "team",
    "user",
    "api_key_alias",
    "tags",
    "metadata",
    "params",
    "event_id",
]


def test_every_text_field_takes_pathological_text(embedded: str, client: TestClient) -> None:
    for field in FIELDS:
        for name in ("dash-digits", "letters", "jwt-starts", "curly-quotes", "digit-groups"):
            started = time.perf_counter()
            response = client.post(
                "/v1/events", json=[_with(field, PATHOLOGICAL[name])], headers=auth()
            )
            elapsed = time.perf_counter() - started
            assert response.status_code == 200, (field, name, response.text[:300])
            assert elapsed < 3 * BOUND_SECONDS, (field, name, elapsed)


def test_healthz_stays_fast_while_pathological_requests_arrive(tmp_path: Path) -> None:
    headers = {"Authorization": f"Bearer {API_KEY}"}
    with live_api(tmp_path) as url, HealthProbe(url) as probe:
        with httpx.Client(timeout=60) as sender:
            # Every field and text once, then again until the probe has its sample: how many
            # probes one pass collects depends on how fast ingest is, which the test must not.
            for _ in range(20):
                for field in FIELDS:
                    for name in sorted(PATHOLOGICAL):
                        event = _with(field, PATHOLOGICAL[name])
                        response = sender.post(f"{url}/v1/events", json=[event], headers=headers)
                        assert response.status_code == 200, (field, name, response.text[:300])
                if len(probe.seconds) > 100:
                    break
    assert len(probe.seconds) > 100
    assert probe.p99() < 0.1, sorted(probe.seconds)[-10:]
