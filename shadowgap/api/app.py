"""The FastAPI application factory."""

from __future__ import annotations

import gc
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse

from shadowgap.api import errors
from shadowgap.api import openapi as openapi_docs
from shadowgap.api.auth import security
from shadowgap.api.auth.access import require_read, require_read_page
from shadowgap.api.dashboard import pages as dashboard
from shadowgap.api.routes import (
    alerts,
    attribution,
    changes,
    ingest,
    login,
    ops,
    otlp,
    proposals,
    segments,
    slices,
)
from shadowgap.ingest.writer import GroupWriter
from shadowgap.privacy.redaction import KINDS, redactor


def settle_heap() -> None:
    """Move what start-up allocated out of the collector's reach. A full collection walks
    every tracked object (about 250,000 once the app, SQLAlchemy, pydantic and the phone
    metadata are loaded) in one C call that holds the GIL for 0.1-0.2 s, and ingest triggers
    one every few requests; frozen, those objects are never walked again (the Python docs'
    advice for servers). Redaction runs once first so that its lazily loaded metadata is
    frozen too. Once per process: a process that builds many apps (the tests) would otherwise
    collect at every start and freeze each app's garbage for good."""
    if gc.get_freeze_count():
        return
    redactor(KINDS).text("+1 202-555-0143, jane@example.com, 4111 1111 1111 1111")
    gc.collect()
    gc.freeze()


# How long a thread may hold the GIL while another waits for it (CPython's default: 5 ms).
# The group writer's thread (shadowgap/ingest/writer.py) gives the GIL up at every statement
# it sends to PostgreSQL and needs it back to read the answer; while the event loop parses
# requests it holds the GIL until this interval runs out, so a group's ten-odd round trips
# could each wait the full 5 ms. At 1 ms a group waits at most about 1 ms per statement.
GIL_SWITCH_INTERVAL_SECONDS = 0.001


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    settle_heap()
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_SECONDS)
    yield


def create_app() -> FastAPI:
    # The API description and its browser need the read scope like the data: mounted by hand.
    app = FastAPI(
        title="shadowgap",
        description="Watches the cheap path of LLM routers.",
        version="0.1.0",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        responses=errors.ERROR_RESPONSES,
        lifespan=_lifespan,
    )
    security.install(app)
    errors.install(app)
    openapi_docs.add_body_schemas(app)

    @app.get("/openapi.json", include_in_schema=False, dependencies=[Depends(require_read)])
    def openapi() -> dict[str, Any]:
        return app.openapi()

    @app.get("/docs", include_in_schema=False, dependencies=[Depends(require_read_page)])
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title="shadowgap API")

    app.state.writer = GroupWriter()
    app.include_router(ops.router)
    app.include_router(ingest.router)
    app.include_router(otlp.router)
    # Before segments: its /v1/segments/{key:path} would take '<key>/attribution' as a key.
    app.include_router(attribution.router)
    app.include_router(segments.router)
    app.include_router(alerts.router)
    app.include_router(login.router)
    app.include_router(slices.router)
    app.include_router(changes.router)
    app.include_router(proposals.router)
    app.include_router(dashboard.router)
    return app
