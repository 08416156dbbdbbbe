"""How failures become HTTP responses: always JSON ``{"error", "detail"}``, never text/plain.

- Domain errors (:class:`shadowgap.errors.ShadowgapError`) carry their status; a 503
  (:class:`shadowgap.errors.Unavailable`) and a 429 (:class:`shadowgap.errors.TooManyRequests`)
  also carry ``Retry-After``.
- The database down, restarting or busy is a 503 with ``Retry-After`` on every endpoint.
- A NUL character in the URL (``%00`` in a query parameter or a path) is a 422 naming the
  parameter: PostgreSQL cannot compare text with NUL, and no stored key contains one.
- Anything else is a JSON 500. Starlette's outermost error middleware answers a 500 and then
  re-raises, and uvicorn closes a connection whose application raised after responding, so
  the sender's next request on that keep-alive connection would be reset; the innermost
  catch-all here answers without re-raising, and the connection stays usable.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shadowgap.db.engine import is_unavailable
from shadowgap.errors import ShadowgapError, TooManyRequests, Unauthorized, Unavailable
from shadowgap.schemas import ErrorBody

log = logging.getLogger(__name__)

# Documented on every operation (ingest adds 401 and 413).
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    422: {"model": ErrorBody, "description": "Invalid input; `detail.field` names the field."},
    503: {
        "model": ErrorBody,
        "description": "The database is unavailable; retry after `Retry-After` seconds.",
    },
}


def error_response(
    status: int, message: str, detail: Any = None, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        status_code=status, content={"error": message, "detail": detail}, headers=headers
    )


def _domain_error(exc: ShadowgapError) -> JSONResponse:
    headers: dict[str, str] = {}
    if isinstance(exc, Unavailable | TooManyRequests):
        headers["Retry-After"] = str(exc.retry_after)
    if isinstance(exc, Unauthorized):
        headers["WWW-Authenticate"] = "Bearer"
    return error_response(exc.status_code, exc.message, exc.detail, headers or None)


def _database_error(exc: sa_exc.SQLAlchemyError) -> JSONResponse:
    if is_unavailable(exc):
        log.warning("database unavailable", extra={"error": type(exc).__name__})
        return _domain_error(Unavailable("the database is unavailable; retry later"))
    if isinstance(exc, sa_exc.DataError):
        # A parameter the database cannot take (the routes bound their inputs; this is the net).
        return error_response(422, "a parameter value was refused by the database")
    log.exception("database error", exc_info=exc)
    return error_response(500, "internal error")


def install(app: FastAPI) -> None:
    """Register the handlers and middleware above on ``app``."""

    @app.exception_handler(ShadowgapError)
    async def _shadowgap(_request: Request, exc: ShadowgapError) -> JSONResponse:
        return _domain_error(exc)

    @app.exception_handler(sa_exc.SQLAlchemyError)
    async def _database(_request: Request, exc: sa_exc.SQLAlchemyError) -> JSONResponse:
        return _database_error(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first.get("loc", ()))
        return error_response(422, f"{field}: {first.get('msg')}", {"field": field})

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error_response(exc.status_code, str(exc.detail), headers=exc.headers)

    app.add_middleware(CatchAll)
    app.add_middleware(RefuseNulInUrl)


class RefuseNulInUrl:
    """422 for a NUL character anywhere in the path or the query string."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            field = _nul_field(scope)
            if field is not None:
                response = error_response(
                    422, f"{field}: NUL characters are not allowed", {"field": field}
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _nul_field(scope: Scope) -> str | None:
    if "\x00" in scope.get("path", ""):
        return "path"
    query: bytes = scope.get("query_string", b"")
    if b"%00" not in query and b"\x00" not in query:
        return None
    for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
        if "\x00" in name or "\x00" in value:
            return name.replace("\x00", "\ufffd") if "\x00" in name else name
    return None


class CatchAll:
    """Answer an unexpected exception with a JSON 500 instead of re-raising it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_tracking(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, send_tracking)
        except Exception as exc:
            if started:  # too late to answer: let the server close the connection
                raise
            log.exception("unhandled error", exc_info=exc)
            body = orjson.dumps({"error": "internal error", "detail": None})
            await send(
                {
                    "type": "http.response.start",
                    "status": 500,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
