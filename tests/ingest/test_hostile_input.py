"""Hostile text at ingest: the linear scans that replaced the regexes find what the regexes
found, every text field accepts pathological text, and the work it costs never runs on the
event loop, so the server keeps answering.

Before: ``"1-" * 12000`` took 10.6 s in the slice-feature id mask, 60,000 ``a`` 7.4 s in the
e-mail masks (features and redaction), ``"eyJ-" * n`` was quadratic in the JWT pattern. How
long hostile text takes (against ordinary text of the same length) and how /healthz answers
meanwhile are measured by ``benchmarks/hostile_input.py``, not asserted here: tests carry no
time bounds.
"""

from __future__ import annotations

import asyncio
import random
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from shadowgap.api.routes import ingest as ingest_routes
from shadowgap.ingest.writer import GroupWriter
from shadowgap.slices import features
from shadowgap.textscan import is_word, sub_emails, sub_jwts
from tests.support.hostile_text import FIELDS, PATHOLOGICAL, with_text
from tests.support.settings import auth

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


def _on_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def test_every_text_field_takes_pathological_text_off_the_event_loop(
    embedded: str, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every text field accepts every hostile text, and what keeps /healthz answering
    meanwhile holds for each request: its CPU-bound work (signature, parsing, redaction, slice
    features: ``_verify_and_parse``; the group write: ``GroupWriter._store``) runs in a worker
    thread, never on the event loop, except the parsing of a body under the inline limit,
    whose cost that limit bounds. Recorded where each call ran, not timed."""
    calls: list[tuple[str, int, bool]] = []  # (step, body bytes or requests, on the loop)
    parse = ingest_routes._verify_and_parse
    store = GroupWriter._store

    def parse_spy(request: Any, body: bytes, *rest: Any) -> Any:
        calls.append(("parse", len(body), _on_event_loop()))
        return parse(request, body, *rest)

    def store_spy(requests: list[Any]) -> Any:
        calls.append(("store", len(requests), _on_event_loop()))
        return store(requests)

    monkeypatch.setattr(ingest_routes, "_verify_and_parse", parse_spy)
    monkeypatch.setattr(GroupWriter, "_store", staticmethod(store_spy))
    for field in FIELDS:
        for name in sorted(PATHOLOGICAL):
            event = with_text(field, PATHOLOGICAL[name])
            response = client.post("/v1/events", json=[event], headers=auth())
            assert response.status_code == 200, (field, name, response.text[:300])
    parsed = [(size, on_loop) for step, size, on_loop in calls if step == "parse"]
    assert len(parsed) == len(FIELDS) * len(PATHOLOGICAL)
    limit = ingest_routes.INLINE_PARSE_MAX_BYTES
    on_loop = [size for size, loop in parsed if loop]
    assert all(size <= limit for size in on_loop), max(on_loop)
    # The fields that keep the whole text (messages, answer, metadata, params) are over it.
    assert sum(size > limit for size, _ in parsed) >= 4 * len(PATHOLOGICAL)
    stores = [on_loop for step, _, on_loop in calls if step == "store"]
    assert stores and not any(stores)
