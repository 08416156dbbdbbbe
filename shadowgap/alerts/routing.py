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

from dataclasses import dataclass
from fnmatch import fnmatchcase

from shadowgap.alerts.severity import SEVERITIES
from shadowgap.config import Settings
from shadowgap.errors import InvalidInput

CHANNELS: tuple[str, ...] = ("slack", "pagerduty", "webhook", "outbox")
DEFAULT_ROUTES = "slack:*; pagerduty:critical,error; webhook:*"


@dataclass(frozen=True)
class RoutingRule:
    channel: str
    severities: frozenset[str]
    segment_patterns: tuple[str, ...] = ("*",)

    def matches(self, severity: str, segment_key: str) -> bool:
        if severity not in self.severities:
            return False
        return any(fnmatchcase(segment_key, pattern) for pattern in self.segment_patterns)


def parse_routes(text: str) -> list[RoutingRule]:
    """Parse a routes string (format in the module docstring); raises InvalidInput."""
    rules: list[RoutingRule] = []
    for index, raw in enumerate(part.strip() for part in text.split(";")):
        if not raw:
            continue
        parts = [p.strip() for p in raw.split(":", 2)]
        if len(parts) < 2:
            raise InvalidInput(
                f"alert route {index}: expected <channel>:<severities>[:<globs>]",
                field="alert_routes",
            )
        channel = parts[0].lower()
        if channel not in CHANNELS:
            raise InvalidInput(
                f"alert route {index}: unknown channel {channel!r} (known: {', '.join(CHANNELS)})",
                field="alert_routes",
            )
        rules.append(
            RoutingRule(channel, _severities(parts[1], index), _patterns(parts[2:], index))
        )
    return rules


def _severities(text: str, index: int) -> frozenset[str]:
    if text in ("", "*"):
        return frozenset(SEVERITIES)
    values = {v.strip().lower() for v in text.split(",") if v.strip()}
    unknown = values - set(SEVERITIES)
    if unknown:
        raise InvalidInput(
            f"alert route {index}: unknown severities {sorted(unknown)}", field="alert_routes"
        )
    return frozenset(values)


def _patterns(rest: list[str], index: int) -> tuple[str, ...]:
    if not rest or not rest[0]:
        return ("*",)
    patterns = tuple(p.strip() for p in rest[0].split("|") if p.strip())
    if not patterns:
        raise InvalidInput(f"alert route {index}: empty segment patterns", field="alert_routes")
    return patterns


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
