"""Which alerts go to which channel.

Rules come from one settings string, ``SHADOWGAP_ALERT_ROUTES`` (``Settings.alert_routes``)::

    <channel>:<severities>[:<segment globs>] ; <channel>:<severities>[:<segment globs>] ; ...

* channel: ``slack``, ``pagerduty``, ``webhook`` or ``outbox``;
* severities: comma-separated ``critical,error,warning,info``, or ``*`` for all;
* segment globs (optional, default ``*``): ``|``-separated fnmatch patterns matched against the
  segment key, case-sensitively (``tenant=acme*|tenant=globex``). Only the first two ``:`` split a
  rule, so patterns may contain ``:``; they cannot contain ``;`` or ``|`` (match those with ``?``).

Example: ``slack:*; pagerduty:critical,error:tenant=acme*; webhook:critical,error,warning``.

An alert goes to every channel with at least one matching rule, and only to channels that are
configured (Slack webhook URL, PagerDuty routing key, generic webhook URL; the outbox always is).
An empty string means the default: Slack for every severity, PagerDuty for critical and error,
the webhook for every severity. When no channel at all is configured, everything goes to the
``outbox`` channel (JSON files under ``alert_outbox_dir``), so the demo still shows alerts.
"""

from __future__ import annotations

from shadowgap.config import ALERT_CHANNELS as CHANNELS
from shadowgap.config import RoutingRule, Settings, parse_alert_routes
from shadowgap.errors import InvalidInput

DEFAULT_ROUTES = "slack:*; pagerduty:critical,error; webhook:*"


def parse_routes(text: str) -> list[RoutingRule]:
    """Parse a routes string (format above); raises InvalidInput naming ``alert_routes``."""
    try:
        return parse_alert_routes(text)
    except ValueError as exc:
        raise InvalidInput(str(exc), field="alert_routes") from exc


def configured_channels(settings: Settings) -> set[str]:
    configured = {"outbox"}
    if settings.slack_webhook_url is not None and settings.slack_webhook_url.get_secret_value():
        configured.add("slack")
    if (
        settings.pagerduty_routing_key is not None
        and settings.pagerduty_routing_key.get_secret_value()
    ):
        configured.add("pagerduty")
    if settings.webhook_url:
        configured.add("webhook")
    return configured


def rules_from_settings(settings: Settings) -> list[RoutingRule]:
    return parse_routes(settings.alert_routes or DEFAULT_ROUTES)


def select_channels(
    rules: list[RoutingRule], settings: Settings, severity: str, segment_key: str
) -> list[str]:
    """Channels (in CHANNELS order) an alert of this severity and segment goes to."""
    configured = configured_channels(settings)
    if configured == {"outbox"}:
        return ["outbox"]
    wanted = {r.channel for r in rules if r.matches(severity, segment_key)}
    return [c for c in CHANNELS if c in wanted and c in configured]


def channels_for(settings: Settings, severity: str, segment_key: str) -> list[str]:
    return select_channels(rules_from_settings(settings), settings, severity, segment_key)
