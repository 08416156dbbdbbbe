"""The FastAPI application factory."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from service.api.routes import alerts, ingest, ops, otlp, segments
from service.errors import ShadowgapError
from service.ingest.writer import GroupWriter

log = logging.getLogger(__name__)


def create_app() -> FastAPI:
    app = FastAPI(
        title="shadowgap",
        description="Watches the cheap path of LLM routers.",
        version="0.1.0",
    )

    @app.exception_handler(ShadowgapError)
    async def _domain_error(_request: Request, exc: ShadowgapError) -> JSONResponse:
        return JSONResponse(
            status_code=exc.status_code, content={"error": exc.message, "detail": exc.detail}
        )

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first.get("loc", ()))
        return JSONResponse(
            status_code=422,
            content={"error": f"{field}: {first.get('msg')}", "detail": {"field": field}},
        )

    app.state.writer = GroupWriter()
    app.include_router(ops.router)
    app.include_router(ingest.router)
    app.include_router(otlp.router)
    app.include_router(segments.router)
    app.include_router(alerts.router)
    try:
        from service.api import dashboard
    except ImportError:  # the dashboard is optional until its module lands
        log.warning("dashboard module not available")
    else:
        app.include_router(dashboard.router)
    return app
