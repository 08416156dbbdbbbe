"""PagerDuty Events API v2 (alert events).

A trigger carries ``payload`` (summary <= 1024 characters, source, severity in
critical/error/warning/info, timestamp, component, group, class, custom_details) plus ``links``;
a resolve carries only the ``dedup_key``. Trigger, re-notify and resolve of one alert share that
``dedup_key`` (<= 255 characters), so PagerDuty folds them into one incident.

The routing key is a secret: it is not stored in the Delivery payload but added by :func:`send`
from the settings, which also lets a rotated key reach deliveries still pending.
PagerDuty answers 202; 400 is final, 429 and 5xx are retried (its documented retry logic).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from shadowgap.alerts.channels.http import post
from shadowgap.alerts.schemas import (
    AlertEvidence,
    Comparison,
    EvidenceInput,
    Example,
    part_json,
)
from shadowgap.alerts.text import (
    call_line,
    clip,
    defects_line,
    difference_line,
    fields_line,
    fmt_window,
    headline,
    problem,
    why_line,
)
from shadowgap.config import Settings
from shadowgap.db.models import Alert
from shadowgap.enums import DeliveryAction, EvidenceType
from shadowgap.errors import DeliveryError

MAX_SUMMARY = 1024
MAX_DEDUP_KEY = 255
DETAIL_TEXT_CHARS = 500
PD_SEVERITIES = {"critical": "critical", "error": "error", "warning": "warning", "info": "info"}


def dedup_key(alert: Alert, evidence: EvidenceInput) -> str:
    """Stable per alert: segment + signal + alert id (segment hashed when too long)."""
    key = AlertEvidence.read(evidence).segment_key
    candidate = f"shadowgap/{key}/{alert.signal}/{alert.id}"
    if len(candidate) <= MAX_DEDUP_KEY:
        return candidate
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return clip(f"shadowgap/{digest}/{alert.signal}/{alert.id}", MAX_DEDUP_KEY, marker="")


EXAMPLE_KEYS = (
    "event_id",
    "prompt",
    "cheap_answer",
    "flagship_answer",
    "winner",
    "gap_score",
    "rationale",
    "judge",
)
MAX_CALL_PAIRS = 4


def _comparison(comparison: Comparison) -> dict[str, Any]:
    """The pair side by side in custom_details (PagerDuty shows it as a JSON tree): the
    difference that decided, each matched pair of calls on one line a side, the differences
    the judge named, and for JSON answers which fields differ."""
    details: dict[str, Any] = {"mode": comparison.mode, "difference": comparison.difference}
    if comparison.pairs:
        details["tool_calls"] = [
            {"cheap": _short(call_line(pair.cheap)), "flagship": _short(call_line(pair.flagship))}
            for pair in comparison.pairs[:MAX_CALL_PAIRS]
        ]
    if comparison.differences:
        details["differences"] = [_short(difference_line(d)) for d in comparison.differences]
    fields = fields_line(comparison)
    if fields:
        details["fields"] = _short(fields)
    return details


def _short(value: Any) -> Any:
    return clip(value, DETAIL_TEXT_CHARS) if isinstance(value, str) else value


def _example(example: Example) -> dict[str, Any]:
    details = {k: _short(getattr(example, k)) for k in EXAMPLE_KEYS}
    if example.comparison:
        details["comparison"] = _comparison(example.comparison)
    return details


def _examples(evidence: AlertEvidence) -> list[dict[str, Any]]:
    return [_example(ex) for ex in evidence.examples]


def custom_details(alert: Alert, evidence: AlertEvidence) -> dict[str, Any]:
    kind = evidence.signal_kind
    details: dict[str, Any] = {
        "alert_id": alert.id,
        "segment": evidence.segment_key,
        "signal": alert.signal,
        "severity": alert.severity,
        "dashboard_url": evidence.dashboard_url,
    }
    if evidence.type == EvidenceType.NO_DATA:
        details["last_event_at"] = evidence.last_event_at
        details["silent_minutes"] = evidence.silent_minutes
        return details
    details["before"] = fmt_window(evidence.before, kind)
    details["after"] = fmt_window(evidence.after, kind)
    details["change"] = part_json(evidence.change)
    details["detector"] = part_json(evidence.detector)
    details["why"] = why_line(evidence)
    if evidence.answer_defects:
        details["defects"] = defects_line(evidence)
    details["examples"] = _examples(evidence)
    return details


def build_pagerduty(alert: Alert, raw: EvidenceInput, action: str) -> dict[str, Any]:
    """An Events API v2 body without ``routing_key`` (added at send time)."""
    evidence = AlertEvidence.read(raw)
    body: dict[str, Any] = {"dedup_key": dedup_key(alert, evidence)}
    if action == DeliveryAction.RESOLVE:
        body["event_action"] = "resolve"
        return body
    key = evidence.segment_key
    detected = evidence.detector.detected_at if evidence.detector else None
    body["event_action"] = "trigger"
    body["payload"] = {
        "summary": clip(f"[shadowgap] {headline(alert, evidence, action)}", MAX_SUMMARY),
        "source": clip(f"shadowgap segment {key}", 255),
        "severity": PD_SEVERITIES.get(alert.severity, "error"),
        "timestamp": detected or alert.opened_at.isoformat(),
        "component": alert.signal,
        "group": clip(key, 255),
        "class": "no_data" if evidence.type == EvidenceType.NO_DATA else problem(alert, evidence),
        "custom_details": custom_details(alert, evidence),
    }
    body["client"] = "shadowgap"
    if evidence.dashboard_url:
        body["client_url"] = evidence.dashboard_url
        body["links"] = [{"href": evidence.dashboard_url, "text": "Segment dashboard"}]
    return body


def send(payload: dict[str, Any], settings: Settings) -> int:
    key = settings.pagerduty_routing_key
    if key is None or not key.get_secret_value():
        raise DeliveryError("pagerduty: no routing key configured", transient=False)
    body = json.dumps({**payload, "routing_key": key.get_secret_value()}).encode()
    return post("pagerduty", settings.pagerduty_events_url, body, {}, settings)
