"""One HTTP POST for every notifier, with error classification and secret redaction.

Webhook URLs (Slack's carries its token in the path), routing keys and the webhook secret must
never reach an error message, a DeliveryAttempt row or a log line. Every message built here goes
through :func:`redact`, and httpx's own request log line (which prints the full URL at INFO) gets
its URL cut down to scheme and host by a filter installed on the ``httpx`` logger.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

import httpx

from shadowgap.config import Settings
from shadowgap.errors import DeliveryError
from shadowgap.llm.limits import parse_retry_after

TIMEOUT_SECONDS = 10.0
MAX_ERROR_BODY_CHARS = 300
REDACTED = "[redacted]"


class _HideUrlPaths(logging.Filter):
    """Shortens httpx.URL arguments of httpx log records to scheme://host."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(isinstance(a, httpx.URL) for a in record.args):
            record.args = tuple(
                f"{a.scheme}://{a.host}/{REDACTED}" if isinstance(a, httpx.URL) else a
                for a in record.args
            )
        return True


def _install_log_filter() -> None:
    logger = logging.getLogger("httpx")
    if not any(isinstance(f, _HideUrlPaths) for f in logger.filters):
        logger.addFilter(_HideUrlPaths())


_install_log_filter()


def secrets_of(settings: Settings) -> list[str]:
    """Every configured value that must not be shown, longest first."""
    values: list[str] = []
    for secret in (settings.slack_webhook_url, settings.pagerduty_routing_key):
        if secret is not None and secret.get_secret_value():
            values.append(secret.get_secret_value())
    if settings.slack_webhook_url is not None:
        # The path alone (/services/T../B../token) is as secret as the whole URL.
        path = urlsplit(settings.slack_webhook_url.get_secret_value()).path
        if len(path) > 1:
            values.append(path)
    if settings.webhook_url:
        values.append(settings.webhook_url)
        split = urlsplit(settings.webhook_url)
        for part in (split.path, split.query):
            if len(part) > 1:
                values.append(part)
    if settings.webhook_secret is not None and settings.webhook_secret.get_secret_value():
        values.append(settings.webhook_secret.get_secret_value())
    return sorted({v for v in values if len(v) >= 4}, key=len, reverse=True)


def redact(text: str, settings: Settings) -> str:
    for secret in secrets_of(settings):
        text = text.replace(secret, REDACTED)
    return text


def is_transient_status(status: int) -> bool:
    # 408 is the server saying our request timed out: as transient as a client-side timeout.
    return status in (408, 429) or status >= 500


def post(
    channel: str,
    url: str,
    body: bytes,
    headers: dict[str, str],
    settings: Settings,
    timeout: float = TIMEOUT_SECONDS,
) -> int:
    """POST ``body``; returns the 2xx status or raises DeliveryError (messages are redacted)."""
    all_headers = {"Content-Type": "application/json", "User-Agent": "shadowgap-alerts/1"}
    all_headers.update(headers)
    try:
        response = httpx.post(url, content=body, headers=all_headers, timeout=timeout)
    except httpx.TimeoutException as exc:
        raise DeliveryError(
            redact(f"{channel}: timed out ({type(exc).__name__})", settings), transient=True
        ) from None
    except httpx.TransportError as exc:
        # Connection refused, DNS, TLS, protocol errors: the receiver may come back.
        raise DeliveryError(
            redact(f"{channel}: {type(exc).__name__}: {exc}", settings), transient=True
        ) from None
    if 200 <= response.status_code < 300:
        return response.status_code
    snippet = response.text[:MAX_ERROR_BODY_CHARS].strip()
    raise DeliveryError(
        redact(f"{channel}: HTTP {response.status_code}: {snippet}", settings),
        transient=is_transient_status(response.status_code),
        status_code=response.status_code,
        retry_after=parse_retry_after(response.headers),
    )
