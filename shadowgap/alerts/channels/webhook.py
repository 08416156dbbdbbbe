"""Generic JSON webhook, signed with HMAC-SHA256.

Headers: ``X-Shadowgap-Timestamp: <unix seconds>`` and
``X-Shadowgap-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">`` keyed with
``webhook_secret``. The timestamp is taken at send time, so a retried delivery is signed afresh
and receivers can reject stale replays; ``id`` in the body stays the same across retries, so
receivers can drop duplicates. Without a secret the body is sent unsigned (no signature header).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from datetime import datetime
from typing import Any

from shadowgap.alerts.channels.http import post
from shadowgap.alerts.schemas import AlertEvidence, EvidenceInput
from shadowgap.alerts.text import headline
from shadowgap.config import Settings
from shadowgap.db.models import Alert
from shadowgap.errors import DeliveryError

SCHEMA_VERSION = 1


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def build_webhook(alert: Alert, raw: EvidenceInput, action: str) -> dict[str, Any]:
    """The generic body: the alert, the action, a one-line summary and the full evidence."""
    evidence = AlertEvidence.read(raw)
    return {
        "version": SCHEMA_VERSION,
        "id": uuid.uuid4().hex,
        "type": f"shadowgap.alert.{action}",
        "action": action,
        "summary": headline(alert, evidence, action),
        "alert": {
            "id": alert.id,
            "segment_id": alert.segment_id,
            "segment_key": evidence.segment_key,
            "signal": alert.signal,
            "status": alert.status,
            "severity": alert.severity,
            "opened_at": _iso(alert.opened_at),
            "last_notified_at": _iso(alert.last_notified_at),
            "acknowledged_at": _iso(alert.acknowledged_at),
            "resolved_at": _iso(alert.resolved_at),
            "resolved_by": alert.resolved_by,
            "dashboard_url": evidence.dashboard_url,
        },
        "evidence": evidence.to_json(),
    }


def encode(payload: dict[str, Any]) -> bytes:
    """The exact bytes sent (and signed): compact, key-sorted UTF-8 JSON."""
    return json.dumps(payload, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode()


def sign(body: bytes, secret: str, timestamp: str) -> str:
    """``sha256=<hex>`` over ``<timestamp>.<body>``."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"sha256={digest.hexdigest()}"


def send(payload: dict[str, Any], settings: Settings) -> int:
    if not settings.webhook_url:
        raise DeliveryError("webhook: no URL configured", transient=False)
    body = encode(payload)
    timestamp = str(int(time.time()))
    headers = {"X-Shadowgap-Timestamp": timestamp, "X-Shadowgap-Event": str(payload.get("type"))}
    if payload.get("id"):
        headers["X-Shadowgap-Delivery"] = str(payload["id"])
    if settings.webhook_secret is not None and settings.webhook_secret.get_secret_value():
        headers["X-Shadowgap-Signature"] = sign(
            body, settings.webhook_secret.get_secret_value(), timestamp
        )
    return post("webhook", settings.webhook_url, body, headers, settings)
