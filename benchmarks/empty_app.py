"""The baseline of benchmarks/ingest.py: FastAPI doing nothing with the request."""

from __future__ import annotations

from fastapi import FastAPI


def create_app() -> FastAPI:
    app = FastAPI()

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/empty")
    async def empty() -> dict[str, bool]:
        return {"ok": True}

    return app
