"""Ingest authentication: bearer API keys, and optionally an HMAC signature of the body.

The signature is hex HMAC-SHA256 over ``"<timestamp>.<raw body>"`` with the shared secret,
sent as ``X-Shadowgap-Signature: sha256=<hex>`` with ``X-Shadowgap-Timestamp: <unix seconds>``;
timestamps outside the replay window are refused. Comparisons are constant-time and no key or
signature is ever echoed back or logged.
"""

from __future__ import annotations

import hashlib
import hmac
import time

from starlette.requests import Request

from service.config import Settings
from service.errors import Unauthorized

TIMESTAMP_HEADER = "x-shadowgap-timestamp"
SIGNATURE_HEADER = "x-shadowgap-signature"


def check_api_key(request: Request, settings: Settings) -> None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("missing API key: send 'Authorization: Bearer <key>'")
    if not settings.api_keys:
        raise Unauthorized("no API keys are configured on this server (SHADOWGAP_API_KEYS)")
    given = token.strip().encode()
    if not any(
        hmac.compare_digest(given, key.get_secret_value().encode()) for key in settings.api_keys
    ):
        raise Unauthorized("invalid API key")


def sign(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


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
    try:
        sent_at = float(timestamp)
    except ValueError as exc:
        raise Unauthorized("X-Shadowgap-Timestamp must be unix seconds") from exc
    current = time.time() if now is None else now
    if abs(current - sent_at) > settings.hmac_window_seconds:
        raise Unauthorized("signature timestamp is outside the replay window")
    expected = sign(settings.hmac_secret.get_secret_value(), timestamp, body)
    if not hmac.compare_digest(expected.encode(), signature.strip().encode()):
        raise Unauthorized("invalid signature")
