"""Signed dashboard session cookies and the CSRF tokens tied to them.

A session is ``base64url(json).base64url(hmac)``: the user's name, the fingerprint of the key
they signed in with, the scope it had, a random session id and an expiry. Nothing secret is in
it and nothing is stored server-side; the HMAC makes it unforgeable. The signing secret is
``SHADOWGAP_SESSION_SECRET``, or one derived from the configured keys, so that every worker
process agrees on it and changing the keys signs everyone out.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass

from shadowgap.config import Settings

COOKIE_NAME = "shadowgap_session"


@dataclass(frozen=True)
class Session:
    user: str
    key_fingerprint: str
    scope: str  # read | admin: what the key had at sign-in
    session_id: str
    expires_at: float


def _secret(settings: Settings) -> bytes:
    if settings.session_secret is not None:
        return settings.session_secret.get_secret_value().encode()
    material = "\n".join(sorted(k.get_secret_value() for k in settings.api_keys))
    return hashlib.sha256(b"shadowgap-session\n" + material.encode()).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(settings: Settings, purpose: str, payload: str) -> str:
    return _b64(hmac.new(_secret(settings), f"{purpose}\n{payload}".encode(), "sha256").digest())


def issue(settings: Settings, user: str, key_fingerprint: str, scope: str) -> tuple[str, Session]:
    """A new session and its cookie value."""
    session = Session(
        user=user,
        key_fingerprint=key_fingerprint,
        scope=scope,
        session_id=secrets.token_urlsafe(16),
        expires_at=time.time() + settings.session_hours * 3600,
    )
    payload = _b64(
        json.dumps(
            {
                "u": session.user,
                "k": session.key_fingerprint,
                "s": session.scope,
                "i": session.session_id,
                "e": session.expires_at,
            }
        ).encode()
    )
    return f"{payload}.{_mac(settings, 'session', payload)}", session


def read(settings: Settings, cookie: str | None, now: float | None = None) -> Session | None:
    """The session in a cookie, or None when it is missing, forged, malformed or expired."""
    if not cookie or "." not in cookie:
        return None
    payload, _, mac = cookie.partition(".")
    if not hmac.compare_digest(mac.encode(), _mac(settings, "session", payload).encode()):
        return None
    try:
        data = json.loads(_unb64(payload))
        session = Session(
            user=str(data["u"]),
            key_fingerprint=str(data["k"]),
            scope=str(data["s"]),
            session_id=str(data["i"]),
            expires_at=float(data["e"]),
        )
    except (ValueError, KeyError, TypeError):
        return None
    if not session.expires_at > (time.time() if now is None else now):
        return None
    return session


def csrf_token(settings: Settings, subject: str) -> str:
    """A per-session (or per-SSO-user) token the page echoes in ``X-CSRF-Token``."""
    return _mac(settings, "csrf", subject)
