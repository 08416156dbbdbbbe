"""The one domain error hierarchy. The API renders every one as {"error", "detail"}."""

from __future__ import annotations

from typing import Any


class ShadowgapError(Exception):
    """Base of every error the service raises on purpose."""

    status_code = 500
    code = "internal_error"

    def __init__(self, message: str, detail: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail


class InvalidInput(ShadowgapError):
    """Bad input: names the offending field (a dotted/indexed path) and, in a batch, the item."""

    status_code = 422
    code = "invalid_input"

    def __init__(self, message: str, *, field: str | None = None, item: int | None = None) -> None:
        detail: dict[str, Any] = {}
        if field is not None:
            detail["field"] = field
        if item is not None:
            detail["item"] = item
        super().__init__(message, detail or None)
        self.field = field
        self.item = item


class Unauthorized(ShadowgapError):
    status_code = 401
    code = "unauthorized"


class Forbidden(ShadowgapError):
    """Authenticated, but not allowed: a missing scope, or a cross-site state change."""

    status_code = 403
    code = "forbidden"


class PayloadTooLarge(ShadowgapError):
    status_code = 413
    code = "payload_too_large"


class UnsupportedMediaType(ShadowgapError):
    status_code = 415
    code = "unsupported_media_type"


class NotFound(ShadowgapError):
    status_code = 404
    code = "not_found"


class Conflict(ShadowgapError):
    status_code = 409
    code = "conflict"


class Unavailable(ShadowgapError):
    """A dependency (the database) cannot serve now; the client should retry after
    ``retry_after`` seconds. Nothing was stored, or it was stored in full (ingest is
    idempotent, so a retry is always safe)."""

    status_code = 503
    code = "unavailable"

    def __init__(self, message: str, *, retry_after: int = 5) -> None:
        super().__init__(message, {"retry_after_seconds": retry_after})
        self.retry_after = retry_after


class FlagshipError(ShadowgapError):
    """The flagship failed. ``transient`` errors (429, 5xx, timeouts) are retried."""

    code = "flagship_error"

    def __init__(self, message: str, *, transient: bool, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.transient = transient
        self.retry_after = retry_after


class EmbeddedModelUnavailable(FlagshipError):
    """The embedded llama.cpp model failed its self-check (see shadowgap.llm.selfcheck): the
    jobs that need it fail with this reason instead of crashing the process. Not transient: a
    retry cannot fix a build that does not suit the CPU."""

    code = "embedded_model_unavailable"

    def __init__(self, message: str) -> None:
        super().__init__(message, transient=False)


class FlagshipNotConfigured(ShadowgapError):
    """No usable flagship is configured: shadow runs must wait instead of guessing one."""

    code = "flagship_not_configured"


class DeliveryError(ShadowgapError):
    """An alert channel refused or could not be reached."""

    code = "delivery_error"

    def __init__(
        self,
        message: str,
        *,
        transient: bool,
        status_code: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.transient = transient
        self.http_status = status_code
        self.retry_after = retry_after


class TooManyRequests(ShadowgapError):
    """Too many failed sign-ins or wrong keys from a client or for a key prefix: retry after
    ``retry_after`` seconds (sent as ``Retry-After``)."""

    status_code = 429
    code = "too_many_requests"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message, {"retry_after_seconds": retry_after})
        self.retry_after = retry_after
