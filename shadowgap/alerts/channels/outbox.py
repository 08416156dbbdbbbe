"""The 'outbox' channel: alert payloads written as JSON files when no channel is configured.

The payload is the generic webhook's, plus the Slack message and the PagerDuty event that
would have gone out (under ``rendered``), so a user can see exactly what each channel would
receive before configuring it. One file per delivery under ``alert_outbox_dir``, named
``alert-<id>-<action>-<payload id>.json``
so a retried delivery overwrites its own file instead of adding another. Files are written to a
temporary name and renamed, so a reader (the demo) never sees half a file.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from pathlib import Path
from typing import Any

from shadowgap.alerts.channels.pagerduty import build_pagerduty
from shadowgap.alerts.channels.slack import build_slack
from shadowgap.alerts.channels.webhook import build_webhook, encode
from shadowgap.alerts.schemas import AlertEvidence, EvidenceInput
from shadowgap.config import Settings
from shadowgap.db.models import Alert
from shadowgap.errors import DeliveryError


def build_outbox(alert: Alert, raw: EvidenceInput, action: str) -> dict[str, Any]:
    evidence = AlertEvidence.read(raw)
    payload = build_webhook(alert, evidence, action)
    payload["rendered"] = {
        "slack": build_slack(alert, evidence, action),
        "pagerduty": build_pagerduty(alert, evidence, action),
    }
    return payload


def file_name(payload: dict[str, Any]) -> str:
    alert_id = (payload.get("alert") or {}).get("id", "x")
    raw = f"alert-{alert_id}-{payload.get('action', 'event')}-{payload.get('id', 'noid')}"
    return re.sub(r"[^A-Za-z0-9._-]", "_", raw) + ".json"


def path_for(payload: dict[str, Any], settings: Settings) -> Path:
    """Where the payload is written (the sender registers it as a copy before writing)."""
    return Path(settings.alert_outbox_dir) / file_name(payload)


def send(payload: dict[str, Any], settings: Settings) -> None:
    target = path_for(payload, settings)
    directory = target.parent
    tmp: str | None = None
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=".json")
        with os.fdopen(fd, "wb") as handle:
            handle.write(encode(payload))
        os.replace(tmp, target)
    except OSError as exc:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        # A full disk or a permission fix are both things that can come back.
        raise DeliveryError(
            f"outbox: {type(exc).__name__}: {exc.strerror}", transient=True
        ) from None
