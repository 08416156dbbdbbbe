"""The ingest pipeline's faster stages give exactly what the code before them gave.

Each cheaper path (the per-batch memos of redaction and slice fingerprints, the numeric
pre-scan of redaction, the template hash in C, the id and UUID masks, the ASCII script
shortcut, the slice features written as one JSON document on PostgreSQL) is compared with a
reference written the way it was before, on random and adversarial texts built from every PII
shape the redaction tests cover, and on the real GSM8K, MT-Bench and BFCL texts.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import json
import random
import re
import unicodedata
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from shadowgap.config import get_settings
from shadowgap.db import models
from shadowgap.db.engine import session_scope
from shadowgap.ingest.store import prepare_request, store_requests
from shadowgap.privacy import redaction
from shadowgap.privacy.redaction import KINDS, PLACEHOLDERS, Redactor, redactor
from shadowgap.schemas import TrafficEvent
from shadowgap.shadow import sampling
from shadowgap.slices import features
from shadowgap.slices.features import compute_features
from shadowgap.textscan import sub_emails
from tests.support.factories import native_event
from tests.support.settings import DATA_DIR

SHARED_DATA = DATA_DIR.parent
PII = [
    "jane.doe+work@example.co.uk",
    "+44 20 7946 0958",
    "(415) 555-2671",
    "+1-202-555-0143",
    "+12025550143",
    "+1 (202) 555-0143",
    "(202) 555 0143",
    "202.555.0143",
    "4111 1111 1111 1111",
    "4111111111111111 10 items",
    "5500-0000-0000-0004",
    "4111 1111 1111 1112",
    "DE89 3704 0044 0532 0130 00",
    "DE00 3704 0044 0532 0130 00",
    "GB82WEST12345698765432",
    "192.168.10.77",
    "999.300.1.1",
    "2001:db8::8a2e:370:7334",
    "a:b:c:d:e:f:a:b",
    "fe80::1",
    "3:4:5",
    "sk-proj-abcdEFGH1234ijklMNOP5678",
    "ghp_ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghij",
    "AKIAIOSFODNN7EXAMPLE",
    "Bearer abc.DEF-123_xyz456789",
    '{"password": "hunter2-hunter2"}',
    "api_key=Zx9kQ2mN7pL4",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    "Xk29PqLm7Vb3Nw8Rt5Yz1Hc6Jd4Fg0Ks",
    "sha 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "9f8e7d6c-aaaa-bbbb-cccc-0123456789ab",
    "order-4f3a9c21",
    "--ab12cd34ef--",
    "https://x.io/a?b=1",
    "www.example.com",
    "'quoted 12'",
    '"dq 3"',
    "`code 4`",
    "\u201ccurly 5\u201d",
    "1,250,000.5e-3",
    "16 - 3 - 4 = 9",
    "2026-11-02 at 12:30:45",
    "version 1.2.3.4567",
    "\u0663\u0664\u0665\u0666\u0667\u0668\u0669\u0660\u0661\u0662",
    "\uff11\uff12\uff13",
    "\u0421\u043a\u043e\u043b\u044c\u043a\u043e?",
    "\u9e21\u86cb\u6709\u51e0\u4e2a",
    "na\u00efve",
    "\u2028",
    "\x1c",
    "token: abcdef123",
    "secret=xyz",
    "I'll",
    "you\u2019re",
]
SEPARATORS = ["", " ", "-", ".", ",", "\n", ":", "  ", "\t", "/", "+", "(", ")", "="]
ALPHABET = "aAbZ09_-.@:+/ =,;'\"`\u201c\u201d\n\t\u0100\u0663\u03be\u4e2d()"
HOSTILE = [
    "a" * 9000,
    "1" * 9000,
    "1-" * 4000,
    "1." * 4000,
    "-abcd" * 1500,
    "a1" * 4000,
    "4111 " * 1600,
    "\u201c" * 5000,
    "a@" * 4000,
    "ab12-" * 1600,
]


def _random_texts(count: int, seed: int) -> Iterator[str]:
    rng = random.Random(seed)
    for i in range(count):
        if i % 3 == 0:  # shapes joined by words
            yield " ".join(rng.choice(PII) for _ in range(rng.randint(0, 10)))
        elif i % 3 == 1:  # shapes glued by separators (digit groups meet across them)
            yield "".join(
                rng.choice(PII) + rng.choice(SEPARATORS) for _ in range(rng.randint(0, 8))
            )
        else:  # characters
            yield "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 160)))


def _strings(value: Any) -> Iterator[str]:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            stack += item.values()
        elif isinstance(item, list):
            stack += item


def _real_texts() -> list[str]:
    """Every text cell of the GSM8K and MT-Bench data, and the BFCL questions and answers."""
    texts: list[str] = []
    for path in sorted(SHARED_DATA.rglob("*")):
        if path.suffix == ".csv":
            with path.open(newline="") as handle:
                for row in csv.DictReader(handle):
                    texts += (v for v in row.values() if isinstance(v, str))
        elif path.suffix in (".json", ".jsonl"):
            data = path.read_text(errors="replace")
            try:
                values = [json.loads(data)]
            except json.JSONDecodeError:
                values = [json.loads(line) for line in data.splitlines() if line.strip()]
            for value in values:
                texts += _strings(value)
    return texts


@pytest.fixture(scope="module")
def corpus() -> list[str]:
    real = _real_texts()
    if len(real) < 1000:
        pytest.fail(f"the shared data sets are missing under {SHARED_DATA}")
    return [*_random_texts(20_000, seed=24), *HOSTILE, *real]


# --- references: the code before ------------------------------------------------------------


def _old_redact(redact: Redactor, text: str) -> str:
    """Redactor._text without the numeric pre-scan."""
    if "secret" in redact.kinds:
        text = redact._secrets(text)
    if "email" in redact.kinds and "@" in text:
        text = sub_emails(
            text,
            redaction._EMAIL_LOCAL.__contains__,
            redaction._EMAIL_DOMAIN,
            PLACEHOLDERS["email"],
        )
    if "iban" in redact.kinds:
        text = redaction._sub(redaction._IBAN, text, redaction._valid_iban, PLACEHOLDERS["iban"])
    if "card" in redact.kinds:
        text = redaction._cards(text, PLACEHOLDERS["card"])
    if "ip" in redact.kinds:
        valid, ip = redaction._valid_ip, PLACEHOLDERS["ip"]
        if "." in text:
            text = redaction._sub(redaction._IPV4, text, valid, ip, not_after="0123456789.")
        if "::" in text:
            text = redaction._sub(redaction._IPV6_COMPRESSED, text, valid, ip)
        elif text.count(":") >= 7:
            text = redaction._sub(redaction._IPV6_FULL, text, valid, ip)
    if "phone" in redact.kinds:
        text = redaction._sub(redaction._PHONE, text, redact._valid_phone, PLACEHOLDERS["phone"])
    return text


_OLD_UUID = re.compile(
    r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.IGNORECASE
)
_OLD_ID = re.compile(r"\b(?=[\w-]*\d)(?=[\w-]*[a-zA-Z])[\w-]{8,}\b")


def _old_mask(text: str) -> str:
    quotes, url = features._MASKS[0][0], features._MASKS[1][0]
    assert isinstance(quotes, re.Pattern) and isinstance(url, re.Pattern)
    text = quotes.sub(" <str> ", text)
    text = url.sub(" <url> ", text)
    text = features._email_mask(text, " <email> ")
    text = _OLD_UUID.sub(" <id> ", text)
    text = _OLD_ID.sub(" <id> ", text)
    text = re.sub(r"[-+]?\d[\d,]*(?:\.\d+)?(?:e[-+]?\d+)?", " <num> ", text, flags=re.I)
    return " ".join(features._TOKEN.findall(text.lower()))


def _old_hash(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


def _old_template(text: str) -> str:
    tokens = _old_mask(text[: features.TEMPLATE_CHARS]).split()[: features.TEMPLATE_TOKENS]
    if len(tokens) < 3:
        return f"{_old_hash(' '.join(tokens)):016x}"[:12]
    shingles = (" ".join(tokens[i : i + 3]) for i in range(len(tokens) - 2))
    return f"{min(_old_hash(s) for s in shingles):016x}"[:12]


def _old_script(text: str) -> str:
    counts: dict[str, int] = {}
    letters = [ch for ch in text[: features.SCRIPT_CHARS] if ch.isalpha()]
    for ch in letters[: features.SCRIPT_LETTERS]:
        if ch.isascii():
            script = "latin"
        else:
            name = unicodedata.name(ch, "")
            script = name.split(" ", 1)[0].lower() if name else "other"
            script = "han" if script == "cjk" else script
        counts[script] = counts.get(script, 0) + 1
    if not counts:
        return "none"
    return max(counts.items(), key=lambda item: item[1])[0][:32]


# --- the comparisons ------------------------------------------------------------------------


def _mismatches(
    texts: list[str], new: Callable[[str], str], old: Callable[[str], str]
) -> list[str]:
    return [text for text in texts if new(text) != old(text)][:3]


def test_redaction_matches_the_code_before(corpus: list[str]) -> None:
    texts = [t for t in corpus if len(t) <= redaction.PIECE_CHARS]
    every = redactor(KINDS)
    assert _mismatches(texts, every.text, lambda t: _old_redact(every, t) if t else t) == []
    for kind in ("iban", "card", "ip", "phone"):  # each numeric kind alone: no other masks it
        one = redactor((kind,))
        old = functools.partial(_old_redact, one)
        assert _mismatches(texts[:20_000], one.text, lambda t, old=old: old(t) if t else t) == []


def test_a_batch_redactor_gives_the_same_text(corpus: list[str]) -> None:
    every = redactor(KINDS)
    batch = every.for_batch()
    twice = corpus[:5000] + corpus[:5000] + corpus[-2000:]
    assert [batch.text(t) for t in twice] == [every.text(t) for t in twice]
    assert len(batch.done) < len(twice)  # repeats were looked up, not redacted again


def test_masks_and_fingerprints_match_the_code_before(corpus: list[str]) -> None:
    assert _mismatches(corpus, features.mask, _old_mask) == []
    assert _mismatches(corpus, features.template_fingerprint, _old_template) == []
    assert _mismatches(corpus, features.script_of, _old_script) == []
    assert features.template_fingerprint("") == _old_template("")
    assert features.template_fingerprint("a b") == _old_template("a b")


def _event(index: int, prompt: str, system: str) -> TrafficEvent:
    messages = [{"role": "user", "content": prompt or "x"}]
    if system:
        messages.insert(0, {"role": "system" if index % 2 else "developer", "content": system})
    if index % 5 == 0:
        messages += [{"role": "assistant", "content": "ok"}, {"role": "user", "content": "more"}]
    return TrafficEvent.model_validate(
        native_event(f"m-{index}", request={"messages": messages}, attributes={"user": "u"})
    )


def test_features_with_a_batch_memo_are_the_features_alone(corpus: list[str]) -> None:
    systems = ["You are helpful.", "", "Du bist 42 hilfreich", "x\x00y"]
    prompts = corpus[:300] + corpus[-300:]
    events = [_event(i, prompts[i % 400], systems[i % 4]) for i in range(len(prompts))]
    memo: dict[tuple[str, ...], Any] = {}
    with_memo = [compute_features(event, ["k"], memo) for event in events]
    assert with_memo == [compute_features(event, ["k"]) for event in events]
    for event, found in zip(events, with_memo, strict=True):
        assert found["template"] == _old_template(event.prompt_text())
        assert found["script"] == _old_script(event.prompt_text())


def test_stored_features_read_back_as_computed(any_db: str) -> None:
    settings = get_settings()
    rows = [native_event(f"pg-{i}", row=i, attributes={"user": f"u{i % 3}"}) for i in range(50)]
    events = [TrafficEvent.model_validate(row) for row in rows]
    prepared = prepare_request(events, "native", settings)
    with session_scope() as session:
        store_requests(session, [prepared], settings, datetime.now(UTC))
    with session_scope() as session:
        stored = session.execute(
            select(models.TrafficEvent.event_id, models.SliceFeatures).join(
                models.SliceFeatures, models.SliceFeatures.event_pk == models.TrafficEvent.id
            )
        ).all()
        read = {event_id: (f.features, f.user_key, f.hour, f.occurred_at) for event_id, f in stored}
    assert len(read) == len(events)
    for event in prepared.events:
        expected = compute_features(event, [])
        assert read[event.event_id] == (
            expected,
            expected["user"],
            features.epoch_hour(event.timestamp),
            event.timestamp,
        )


def test_the_numeric_pre_scan_finds_every_numeric_kind() -> None:
    # A match of each numeric pattern contains a pre-scan match (the module's comment), so the
    # pre-scan skipping a text means no pattern would have matched it.
    every = redactor(KINDS)
    for text in ("4111 1111 1111 1111", "GB82WEST12345698765432", "10.0.0.1", "(415) 555-2671"):
        assert redaction._NUMBERISH.search(text), text
        assert every.text(text) != text, text
    assert redaction._NUMBERISH.search("16 - 3 - 4 = 9 eggs at $2 each") is None


def test_explored_decisions_match_the_code_before() -> None:
    settings = get_settings().model_copy(update={"noise_floor_fraction": 0.3})
    rng = random.Random(5)
    for i in range(20_000):
        p_base, p_explore = rng.random(), rng.choice([0.0, rng.random()])
        event_id = f"d-{i}"
        base = sampling.decide(event_id, p_base, settings)  # the draw as it was made before
        salt = settings.sampling_salt
        explore = p_explore > 0 and sampling.hash_unit(salt + ":explore", event_id) < p_explore
        noise = sampling.hash_unit(salt + ":noise", event_id) < settings.noise_floor_fraction
        assert sampling.decide_explored(event_id, p_base, p_explore, settings) == (
            sampling.ExploredDecision(
                base=base.sampled,
                explore=explore,
                probability=sampling.combined_probability(p_base, p_explore),
                hash_value=base.hash_value,
                replicates=2 if (base.sampled or explore) and noise else 1,
            )
        )


def _old_prompt_hash(text: str) -> str:
    return hashlib.sha256(" ".join(text.split()).encode()).hexdigest()


def test_prompt_hash_is_the_hash_of_the_joined_words(corpus: list[str]) -> None:
    from shadowgap.ingest.store import _HASH_CHUNK, prompt_hash

    # Short texts take one call, long ones the chunk loop: both hash the words joined by spaces.
    rng = random.Random(7)
    joined = [" ".join(rng.choice(corpus) for _ in range(2000)) for _ in range(6)]
    long = [text[: rng.randint(_HASH_CHUNK, 3 * _HASH_CHUNK)] for text in joined]
    edges = ["", " ", "a", " a b ", "x" * _HASH_CHUNK, "x" * _HASH_CHUNK + " y", "\u2028a\x1cb"]
    assert _mismatches([*corpus, *long, *edges], prompt_hash, _old_prompt_hash) == []


def _insert_document(session: Any, events: list[TrafficEvent]) -> str:
    from shadowgap.ingest import store

    segment = store._segment_cache.resolve(session, {"all": {}}, datetime.now(UTC))["all"]
    rows = [store._event_row(e, segment, "native", True, datetime.now(UTC)) for e in events]
    return store.orjson.dumps(rows).decode()


def _batch(prefix: str, count: int, at: datetime) -> list[TrafficEvent]:
    return [
        TrafficEvent.model_validate(native_event(f"{prefix}-{i}", row=i, at=at))
        for i in range(count)
    ]


def test_the_event_insert_skips_redeliveries_without_taking_ids(production: str) -> None:
    """A batch of new events and redeliveries inserts the new ones only, in the batch's
    order, with no sequence value taken by a redelivery (so they leave no id holes)."""
    from sqlalchemy import text

    from shadowgap.ingest import store

    day = datetime(2026, 11, 2, 12, tzinfo=UTC)
    stored = _batch("old", 3000, day)
    settings = get_settings()
    with session_scope() as session:
        store_requests(session, [prepare_request(stored, "native", settings)], settings, day)
    # 100 new events, 100 redeliveries, and 20 old ids at another time (new events).
    batch = [*_batch("new", 100, day), *stored[:100], *_batch("old", 20, day + timedelta(days=1))]
    with session_scope() as session:
        document = _insert_document(session, batch)
        inserted = session.execute(text(str(store._PG_INSERT_EVENTS)), {"rows": document}).all()
    expected = [e.event_id for e in batch[:100]] + [e.event_id for e in batch[200:]]
    ids, event_ids = zip(*inserted, strict=True)
    assert list(event_ids) == expected
    assert list(ids) == list(range(ids[0], ids[0] + len(expected)))  # no id skipped


def test_event_rows_with_a_batch_memo_are_the_rows_alone(corpus: list[str]) -> None:
    from shadowgap.ingest import store

    systems = ["You are helpful.", "", "x\x00y"]
    prompts = corpus[:200] + corpus[:200] + corpus[-100:]  # repeats: the memo's hits
    events = [_event(i, prompts[i], systems[i % 3]) for i in range(len(prompts))]
    now = datetime.now(UTC)
    hashes: dict[str, str] = {}
    with_memo = [store._event_row(e, 1, "native", True, now, None, hashes) for e in events]
    assert with_memo == [store._event_row(e, 1, "native", True, now) for e in events]
    assert [row["prompt_hash"] for row in with_memo] == [
        _old_prompt_hash(e.prompt_text()) for e in events
    ]
    assert len(hashes) < len(events)
