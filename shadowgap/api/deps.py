"""FastAPI dependencies shared by the routes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Query
from sqlalchemy.orm import Session

from shadowgap.config import Settings, get_settings
from shadowgap.db.engine import get_sessionmaker


def db_session() -> Iterator[Session]:
    """One session per request; the route commits what it writes."""
    session = get_sessionmaker()()
    try:
        yield session
    finally:
        session.close()


def settings() -> Settings:
    return get_settings()


# The largest integer both databases compare and offset by (PostgreSQL bigint, SQLite's
# 64-bit integer). A larger offset is a 422 naming the parameter, never a 500; so is an id
# past its column's type (int4 for alerts and reports: see shadowgap.schemas.INT4_MAX).
INT64_MAX = 2**63 - 1
Offset = Annotated[int, Query(ge=0, le=INT64_MAX, description="rows to skip")]
