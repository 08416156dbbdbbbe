"""The channel registry: how each channel builds its payload and sends it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shadowgap.alerts.channels import outbox, pagerduty, slack, webhook
from shadowgap.alerts.schemas import EvidenceInput
from shadowgap.config import Settings
from shadowgap.db.models import Alert

Builder = Callable[[Alert, EvidenceInput, str], dict[str, Any]]
# Returns the HTTP status of a successful send (None when there is none, as for the outbox).
Sender = Callable[[dict[str, Any], Settings], int | None]


@dataclass(frozen=True)
class Channel:
    name: str
    build: Builder
    send: Sender


CHANNELS: dict[str, Channel] = {
    "slack": Channel("slack", slack.build_slack, slack.send),
    "pagerduty": Channel("pagerduty", pagerduty.build_pagerduty, pagerduty.send),
    "webhook": Channel("webhook", webhook.build_webhook, webhook.send),
    "outbox": Channel("outbox", outbox.build_outbox, outbox.send),
}
