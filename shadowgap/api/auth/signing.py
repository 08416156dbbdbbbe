"""Ingest authentication: a key with the ``ingest`` scope, and optionally an HMAC signature.

The signature is hex HMAC-SHA256 over ``"<timestamp>.<raw body>"`` with the shared secret,
sent as ``X-Shadowgap-Signature: sha256=<hex>`` with ``X-Shadowgap-Timestamp: <unix seconds>``
(a base-10 integer); timestamps outside the replay window are refused. Comparisons are
constant-time and no key or signature is ever echoed back or logged.

Every ingest route (native, LiteLLM, OTLP) awaits :func:`check_api_key` and calls
:func:`check_signature` after reading the body and before parsing it. A valid key is checked
in memory and never throttled; a wrong one is counted (off the event loop: it writes to the
database) and answered 401, or 429 with ``Retry-After`` once its client or key prefix has sent
too many (:mod:`shadowgap.api.auth.throttle`).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from shadowgap.api.auth import throttle
from shadowgap.api.auth.keys import INGEST, bearer_token, grant_for
from shadowgap.config import Settings
from shadowgap.db.engine import get_sessionmaker
from shadowgap.errors import Forbidden, ShadowgapError, Unauthorized

TIMESTAMP_HEADER = "x-shadowgap-timestamp"
SIGNATURE_HEADER = "x-shadowgap-signature"
# Unix seconds as a plain base-10 integer: no sign games, exponents, fractions, nan or inf.
_TIMESTAMP = re.compile(r"[0-9]{1,12}")


async def check_api_key(request: Request, settings: Settings) -> None:
    """401 without a valid key (429 when its sender has sent too many wrong ones), 403 for a
    valid key without the ``ingest`` scope."""
    token = bearer_token(request.headers.get("authorization"))
    if token is None:
        raise Unauthorized("missing API key: send 'Authorization: Bearer <key>'")
    if not settings.api_keys:
        raise Unauthorized("no API keys are configured on this server (SHADOWGAP_API_KEYS)")
    grant = grant_for(token, settings)
    if grant is None:
        host = request.client.host if request.client is not None else None
        raise await run_in_threadpool(_count_wrong_key, settings, host, token)
    if INGEST not in grant.scopes:
        raise Forbidden("this API key may not ingest: it needs the ingest scope")


def _count_wrong_key(settings: Settings, host: str | None, token: str) -> ShadowgapError:
    # Ingest routes hand their events to the group-commit writer and hold no session of
    # their own: the count gets a short transaction.
    with get_sessionmaker()() as session:
        return throttle.wrong_key(session, settings, host, token)


def sign(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def parse_timestamp(value: str) -> int:
    """The signature timestamp as integer unix seconds; anything else is refused.

    A float parse would let ``nan`` through every window check (comparisons with nan are
    false), and ``inf``/exponents/fractions have no business in a timestamp either.
    """
    text = value.strip()
    if not _TIMESTAMP.fullmatch(text):
        raise Unauthorized("X-Shadowgap-Timestamp must be integer unix seconds")
    return int(text)


def check_signature(
    request: Request, body: bytes, settings: Settings, now: float | None = None
) -> None:
    if settings.hmac_secret is None:
        return
    timestamp = request.headers.get(TIMESTAMP_HEADER)
    signature = request.headers.get(SIGNATURE_HEADER)
    if not timestamp or not signature:
        raise Unauthorized(
            "this server requires signed requests: send X-Shadowgap-Timestamp and "
            "X-Shadowgap-Signature"
        )
    sent_at = parse_timestamp(timestamp)
    current = time.time() if now is None else now
    if not abs(current - sent_at) <= settings.hmac_window_seconds:
        raise Unauthorized("signature timestamp is outside the replay window")
    expected = sign(settings.hmac_secret.get_secret_value(), timestamp.strip(), body)
    if not hmac.compare_digest(expected.encode(), signature.strip().encode()):
        raise Unauthorized("invalid signature")
