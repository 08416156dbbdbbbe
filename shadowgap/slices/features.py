"""Slice features: a few short strings per event, computed at ingest, that slice discovery
searches conjunctions of.

=================  ==========================================================================
feature            value
=================  ==========================================================================
tenant, team,      the event's attributes of that name (what segment dimensions can name)
user,
api_key_alias
tag                every tag (a multi-valued feature: a condition means "has this tag")
metadata.<key>     allow-listed metadata keys (``SHADOWGAP_SLICE_METADATA_KEYS``, plus every
                   ``metadata.<key>`` segment dimension)
route_model        the model the router picked
template           fingerprint of the last user message with numbers, quoted strings, ids,
                   e-mails, URLs and whitespace masked: a MinHash of its word 3-shingles over
                   the first 64 tokens (of the first 8 KiB), so prompts filled from one
                   template share it, and two near-duplicate templates share it with
                   probability equal to their shingle Jaccard similarity
system_prompt      fingerprint of the system message(s) (their first 16 KiB), masked the same
                   way, exact; ``none``
prompt_length      bucket of the prompt's characters (all messages): <64, 64-255, 256-1023,
                   1024-4095, >=4096
script             Unicode script of most letters of the last user message (latin, cyrillic,
                   han, arabic, ...), from the first 400 letters of its first 16 KiB;
                   ``none`` without letters
cadence            how often the event's user sends requests, in requests per active hour over
                   the discovery window: occasional (< 2), interactive (2-9), steady (10-59),
                   burst (>= 60), anonymous without a user: scripted traffic from interactive.
                   A property of the user over time, not of one event, so discovery derives it
                   from the ``user_key`` and ``hour`` columns stored at ingest
=================  ==========================================================================

Values are clipped to 128 characters and fingerprints to 12 hex digits, so a row stays a few
hundred bytes whatever the prompt.
"""

from __future__ import annotations

import functools
import hashlib
import re
import unicodedata
from collections.abc import Callable, Iterable
from datetime import datetime
from functools import lru_cache
from typing import Any

from shadowgap.schemas import TrafficEvent, content_text
from shadowgap.textscan import is_word, sub_emails

MAX_VALUE_CHARS = 128
MAX_TAGS = 16
TEMPLATE_TOKENS = 64
# What the masks read: the template's 64 tokens come from far fewer characters than this, and
# a system prompt is fingerprinted by its first 16 KiB; the work per event stays bounded
# whatever a sender puts in a 1,000,000-character message.
TEMPLATE_CHARS = 8192
SYSTEM_CHARS = 16384
SCRIPT_LETTERS = 400
# A prompt of digits or symbols has no letters to stop at: the loop reads this much at most.
SCRIPT_CHARS = 16384
LENGTH_BUCKETS = ((64, "<64"), (256, "64-255"), (1024, "256-1023"), (4096, "1024-4095"))
CADENCE_BUCKETS = ((2.0, "occasional"), (10.0, "interactive"), (60.0, "steady"))
ATTRIBUTE_FEATURES = ("tenant", "team", "user", "api_key_alias")

# Every mask reads the text in linear time: the prompt is the sender's, and a pattern that is
# quadratic on some input (a long run without "@", "1-" * 12000) freezes ingest for seconds.
_EMAIL_DOMAIN = re.compile(r"[\w-]+\.[\w.-]+")
# A whole run of [\w-] that holds a digit (only those can be ids, and prose has few): one
# start per run (the look-behind), so the backtracking to its last digit stays linear. A run
# shorter than 8 characters cannot hold an 8-character id, so the look-ahead skips it without
# a call back into Python (prose's numbers are such runs: "48", "3rd").
_ID_RUN = re.compile(r"(?<![\w-])(?=[\w-]{8})[\w-]*\d[\w-]*")
_DIGIT = re.compile(r"\d")
_ASCII_LETTER = re.compile(r"[a-zA-Z]")


def _email_local(char: str) -> bool:
    return is_word(char) or char in ".+-"


def _email_mask(text: str, placeholder: str) -> str:
    """``[\\w.+-]+@[\\w-]+\\.[\\w.-]+`` (shadowgap/textscan.py)."""
    return sub_emails(text, _email_local, _EMAIL_DOMAIN, placeholder)


def _id_mask(text: str, placeholder: str) -> str:
    """Hex or alphanumeric ids: 8+ characters mixing letters and digits (order-4f3a9c21,
    sk_91x...). The same matches as ``\\b(?=[\\w-]*\\d)(?=[\\w-]*[a-zA-Z])[\\w-]{8,}\\b``,
    whose look-aheads re-read a run of ``[\\w-]`` from each word boundary inside it: per run,
    the id spans its first to its last word character (dashes around it are kept)."""
    if _DIGIT.search(text) is None:
        return text

    def replace(found: re.Match[str]) -> str:
        run = found.group(0)
        core = run.strip("-")
        if len(core) < 8 or not _ASCII_LETTER.search(core):
            return run
        start = len(run) - len(run.lstrip("-"))
        return run[:start] + placeholder + run[start + len(core) :]

    return _ID_RUN.sub(replace, text)


_UUID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.I)
# Every UUID holds this; it starts with a literal, which re finds by a fast scan, while the
# UUID pattern itself is tried at every word boundary.
_UUID_MIDDLE = re.compile(r"-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-", re.I)


def _uuid_mask(text: str, placeholder: str) -> str:
    if _UUID_MIDDLE.search(text) is None:
        return text
    return _UUID.sub(placeholder, text)


Mask = re.Pattern[str] | Callable[[str, str], str]

# Order matters: quoted strings and URLs first (they contain the rest), numbers last.
_MASKS: list[tuple[Mask, str]] = [
    # A curly-quoted string holds no opening curly quote: otherwise "“" * n reads 400
    # characters from each of them (the straight quotes close themselves, so they cannot).
    (re.compile(r"\"[^\"\n]{0,400}\"|'[^'\n]{0,400}'|`[^`\n]{0,400}`|“[^“”\n]{0,400}”"), " <str> "),
    (re.compile(r"https?://\S+|www\.\S+"), " <url> "),
    (_email_mask, " <email> "),
    (_uuid_mask, " <id> "),
    (_id_mask, " <id> "),
    (re.compile(r"[-+]?\d[\d,]*(?:\.\d+)?(?:e[-+]?\d+)?", re.I), " <num> "),
]
_TOKEN = re.compile(r"<\w+>|\w+|[^\w\s]", re.UNICODE)


def mask(text: str) -> str:
    """The prompt with its variable parts replaced by placeholders, lower-cased, whitespace
    collapsed.

    >>> mask('Order #4521 for "Jane Doe" ships in 3 days, id 9f8e7d6c-aaaa-bbbb-cccc-0123456789ab')
    'order # <num> for <str> ships in <num> days , id <id>'
    """
    for pattern, placeholder in _MASKS:
        if isinstance(pattern, re.Pattern):
            text = pattern.sub(placeholder, text)
        else:
            text = pattern(text, placeholder)
    return " ".join(_TOKEN.findall(text.lower()))


def _hash64(text: str) -> int:
    return int.from_bytes(_blake64(text.encode()).digest(), "big")


_blake64 = functools.partial(hashlib.blake2b, digest_size=8)
# A fresh BLAKE2b-64 state, copied for each shingle: a copy skips the constructor's argument
# parsing and parameter block, about a third of the cost of hashing a short shingle.
_BLAKE64_EMPTY = hashlib.blake2b(digest_size=8)


def _digest64(data: bytes) -> bytes:
    """``hashlib.blake2b(data, digest_size=8).digest()``."""
    state = _BLAKE64_EMPTY.copy()
    state.update(data)
    return state.digest()


def template_fingerprint(text: str) -> str:
    """MinHash (one hash) of the masked prompt's word 3-shingles over its first 64 tokens.

    >>> template_fingerprint("Summarise ticket 123 for acme") == template_fingerprint(
    ...     "Summarise  ticket 98765 for   acme")
    True
    """
    # The masked text's tokens are joined by single spaces and hold no whitespace, so its
    # UTF-8 bytes split at b" " give the tokens' bytes. Digests of equal length compare as
    # the big-endian numbers they are, and their hex is that number's: the shingles are
    # joined, hashed and compared in C.
    masked = mask(text[:TEMPLATE_CHARS])
    tokens = masked.encode().split(b" ")[:TEMPLATE_TOKENS] if masked else []
    if len(tokens) < 3:
        return _blake64(b" ".join(tokens)).hexdigest()[:12]
    shingles = map(b" ".join, zip(tokens, tokens[1:], tokens[2:], strict=False))
    return min(map(_digest64, shingles)).hex()[:12]


def system_fingerprint(texts: Iterable[str]) -> str:
    joined = "\n".join(t[:SYSTEM_CHARS] for t in texts if t)
    if not joined.strip():
        return "none"
    return f"{_hash64(mask(joined[:SYSTEM_CHARS])):016x}"[:12]


def length_bucket(chars: int) -> str:
    for limit, name in LENGTH_BUCKETS:
        if chars < limit:
            return name
    return ">=4096"


def script_of(text: str) -> str:
    """The Unicode script of most letters (the first word of each letter's Unicode name).

    >>> [script_of(t) for t in ("Wie viele Eier hat sie?", "Сколько яиц?", "鸡蛋有几个", "42")]
    ['latin', 'cyrillic', 'han', 'none']
    """
    # The letters are found by a C scan (a superset of str.isalpha, filtered by it), and each
    # distinct letter's name is looked up once: a loop over every character was most of the
    # slice features' cost at ingest.
    head = text[:SCRIPT_CHARS]
    if head.isascii():  # its letters are A-Z and a-z, all Latin
        return "latin" if _ASCII_LETTER.search(head) else "none"
    found = _LETTERISH.findall(head)
    if "".join(found).isascii():  # ASCII matches are all letters, all Latin
        return "latin" if found else "none"
    letters = [ch for ch in found if ch.isalpha()]
    counts: dict[str, int] = {}
    for ch in letters[:SCRIPT_LETTERS]:
        script = _script_of_letter(ch)
        counts[script] = counts.get(script, 0) + 1
    if not counts:
        return "none"
    return max(counts.items(), key=lambda item: item[1])[0][:32]


# Every str.isalpha() character: a letter is alphanumeric (\w) and never a decimal digit.
_LETTERISH = re.compile(r"[^\W\d_]")


@lru_cache(maxsize=4096)
def _script_of_letter(ch: str) -> str:
    if ch.isascii():
        return "latin"
    name = unicodedata.name(ch, "")
    script = name.split(" ", 1)[0].lower() if name else "other"
    return "han" if script == "cjk" else script


def cadence_bucket(requests: int, active_hours: int) -> str:
    """Requests per active hour -> bucket (module doc)."""
    rate = requests / max(active_hours, 1)
    for limit, name in CADENCE_BUCKETS:
        if rate < limit:
            return name
    return "burst"


def _clip(value: Any) -> str:
    return str(value)[:MAX_VALUE_CHARS]


def metadata_keys(slice_keys: list[str], segment_dimensions: list[str]) -> list[str]:
    """The allow-list: the setting's keys plus every metadata.<key> segment dimension."""
    declared = [d[len("metadata.") :] for d in segment_dimensions if d.startswith("metadata.")]
    return list(dict.fromkeys([*slice_keys, *declared]))


def compute_features(
    event: TrafficEvent, allowed_metadata: list[str], memo: dict[tuple[str, ...], Any] | None = None
) -> dict[str, Any]:
    """The slice features of one event (module doc), except cadence. ``memo`` (one batch's,
    empty at first) keeps each distinct prompt's and system prompt's fingerprints, so that a
    batch repeating them computes them once."""
    if memo is None:
        memo = {}
    attrs = event.attributes
    features: dict[str, Any] = {}
    for name in ATTRIBUTE_FEATURES:
        value = getattr(attrs, name)
        if value not in (None, ""):
            features[name] = _clip(value)
    if attrs.tags:
        features["tag"] = sorted({_clip(tag) for tag in attrs.tags})[:MAX_TAGS]
    for key in allowed_metadata:
        value = attrs.metadata.get(key)
        if value not in (None, "") and not isinstance(value, dict | list):
            features[f"metadata.{key}"] = _clip(value)
    features["route_model"] = _clip(event.route.model)
    prompt = event.prompt_text()
    messages = event.request.messages
    texts = [content_text(m.content) for m in messages]
    system = [t for m, t in zip(messages, texts, strict=True) if m.role in _SYSTEM_ROLES]
    prompt_key = ("prompt", prompt)
    if prompt_key not in memo:
        memo[prompt_key] = (template_fingerprint(prompt), script_of(prompt))
    system_key = ("system", *system)
    if system_key not in memo:
        memo[system_key] = system_fingerprint(system)
    features["template"], script = memo[prompt_key]
    features["system_prompt"] = memo[system_key]
    features["prompt_length"] = length_bucket(sum(map(len, texts)))
    features["script"] = script
    return features


_SYSTEM_ROLES = ("system", "developer")


def epoch_hour(moment: datetime) -> int:
    return int(moment.timestamp() // 3600)
