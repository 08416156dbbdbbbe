"""Dashboard sessions that can be ended, their signed cookies and the CSRF tokens tied to them.

A cookie is ``base64url(json).base64url(hmac)``: the user's name, the fingerprint of the key
they signed in with, the scope it had, a random session id and an expiry. The HMAC makes it
unforgeable, so a forged or tampered cookie is refused without touching the database. A
genuine cookie is valid only while its row in ``dashboard_sessions`` exists (the row is found
by the SHA-256 of the session id, which is never stored itself): every API process reads the
same database, so deleting the row ends the session everywhere at once. Rows are deleted on
sign-out (that session only), when the key the session was made from is removed or loses its
scope (on the session's next request, or at the next sign-in of anyone), and once expired (at
each sign-in).

The signing secret is ``SHADOWGAP_SESSION_SECRET``, or one derived from the configured keys,
so that every API process agrees on it and changing the keys signs everyone out.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import delete
from sqlalchemy.orm import Session as DbSession

from shadowgap.api.auth.keys import configured, fingerprint
from shadowgap.config import Settings
from shadowgap.db.models import DashboardSession

COOKIE_NAME = "shadowgap_session"


@dataclass(frozen=True)
class Session:
    user: str
    key_fingerprint: str
    scope: str  # read | admin: what the key had at sign-in
    session_id: str
    expires_at: float


def signing_secret(settings: Settings) -> bytes:
    """The server's secret for cookies, CSRF tokens and throttle buckets."""
    if settings.session_secret is not None:
        return settings.session_secret.get_secret_value().encode()
    material = "\n".join(sorted(k.get_secret_value() for k in settings.api_keys))
    return hashlib.sha256(b"shadowgap-session\n" + material.encode()).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(settings: Settings, purpose: str, payload: str) -> str:
    mac = hmac.new(signing_secret(settings), f"{purpose}\n{payload}".encode(), "sha256")
    return _b64(mac.digest())


def _id_digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def _utc(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)


def issue(
    db: DbSession,
    settings: Settings,
    user: str,
    key_fingerprint: str,
    scope: str,
    now: float | None = None,
) -> tuple[str, Session]:
    """A new session (its row added to ``db``; the caller commits) and its cookie value.
    Expired sessions, and those of keys no longer configured, are deleted on the way, so the
    table holds live sessions only and putting a removed key back revives none of its."""
    current = time.time() if now is None else now
    session = Session(
        user=user,
        key_fingerprint=key_fingerprint,
        scope=scope,
        session_id=secrets.token_urlsafe(16),
        expires_at=current + settings.session_hours * 3600,
    )
    db.execute(delete(DashboardSession).where(DashboardSession.expires_at <= _utc(current)))
    fingerprints = sorted({fingerprint(key_digest) for _, key_digest in configured(settings)})
    db.execute(
        delete(DashboardSession).where(DashboardSession.key_fingerprint.not_in(fingerprints))
    )
    db.add(
        DashboardSession(
            id_digest=_id_digest(session.session_id),
            user_name=user[:256],
            key_fingerprint=key_fingerprint,
            scope=scope,
            created_at=_utc(current),
            expires_at=_utc(session.expires_at),
        )
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


def read_cookie(settings: Settings, cookie: str | None, now: float | None = None) -> Session | None:
    """The session a cookie names, or None when it is missing, forged, malformed or expired.
    Checks the signature only: :func:`is_live` says whether the session has been ended."""
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


def is_live(db: DbSession, session: Session, now: float | None = None) -> bool:
    """Whether the session has a row that has not expired: not signed out, not ended."""
    row = db.get(DashboardSession, _id_digest(session.session_id))
    if row is None:
        return False
    current = _utc(time.time() if now is None else now)
    return (
        row.expires_at > current
        and row.key_fingerprint == session.key_fingerprint
        and row.scope == session.scope
    )


def end(db: DbSession, session: Session) -> None:
    """End one session (the caller commits); its cookie is refused from then on."""
    db.execute(
        delete(DashboardSession).where(DashboardSession.id_digest == _id_digest(session.session_id))
    )


def end_for_key(db: DbSession, key_fingerprint: str) -> int:
    """End every session made with a key (the caller commits); how many there were."""
    result = db.execute(
        delete(DashboardSession).where(DashboardSession.key_fingerprint == key_fingerprint)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def csrf_token(settings: Settings, subject: str) -> str:
    """A per-session (or per-SSO-user) token the page echoes in ``X-CSRF-Token``."""
    return _mac(settings, "csrf", subject)
