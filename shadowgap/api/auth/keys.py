"""API keys with scopes: ``SHADOWGAP_API_KEYS`` entries are ``[scope:]key``.

Scopes are ``ingest`` (send events), ``read`` (read API, dashboard) and ``admin`` (ack,
resolve, promote; implies ``read``). A bare key may only ingest, so senders configured before
scopes existed keep working. A prefix is a scope only when it names one, so a key that happens
to contain a colon stays whole.

Keys are kept in memory only as SHA-256 digests and compared in constant time; what identifies a
key in the audit log, sessions and logs is a short fingerprint of its digest, never the key.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from functools import lru_cache

from shadowgap.config import Settings

INGEST, READ, ADMIN = "ingest", "read", "admin"
SCOPES = (INGEST, READ, ADMIN)
# What each configured scope grants.
GRANTS = {INGEST: frozenset({INGEST}), READ: frozenset({READ}), ADMIN: frozenset({ADMIN, READ})}


@dataclass(frozen=True)
class KeyGrant:
    """What a presented key may do, and the fingerprint that names it."""

    scopes: frozenset[str]
    fingerprint: str


def digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def fingerprint(key_digest: bytes) -> str:
    return key_digest.hex()[:12]


def parse_entry(entry: str) -> tuple[str, str]:
    """``'read:k2'`` -> ``('read', 'k2')``; ``'k1'`` -> ``('ingest', 'k1')``."""
    prefix, sep, rest = entry.partition(":")
    if sep and rest and prefix in SCOPES:
        return prefix, rest
    return INGEST, entry


@lru_cache(maxsize=8)
def _digests(entries: tuple[str, ...]) -> tuple[tuple[str, bytes], ...]:
    return tuple((scope, digest(key)) for scope, key in map(parse_entry, entries))


def configured(settings: Settings) -> tuple[tuple[str, bytes], ...]:
    """(scope, key digest) for every configured key."""
    return _digests(tuple(key.get_secret_value().strip() for key in settings.api_keys))


def grant_for(token: str, settings: Settings) -> KeyGrant | None:
    """The scopes of a presented key (the union when a key is listed twice), or None."""
    given = digest(token.strip())
    scopes: set[str] = set()
    # Every entry is compared, so the time taken does not depend on which one matched.
    for scope, key_digest in configured(settings):
        if hmac.compare_digest(given, key_digest):
            scopes |= GRANTS[scope]
    if not scopes:
        return None
    return KeyGrant(frozenset(scopes), fingerprint(given))


def fingerprint_has(fp: str, scope: str, settings: Settings) -> bool:
    """Whether a key with this fingerprint is still configured with ``scope``: a session made
    from a key ends when the key is removed or loses the scope."""
    return any(
        hmac.compare_digest(fingerprint(key_digest), fp) and scope in GRANTS[key_scope]
        for key_scope, key_digest in configured(settings)
    )


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, or None."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()
