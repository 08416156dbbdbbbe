"""FastAPI dependencies shared by the routes."""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy.orm import Session

from service.config import Settings, get_settings
from service.db import get_sessionmaker


def db_session() -> Iterator[Session]:
    """One session per request; the route commits what it writes."""
    session = get_sessionmaker()()
    try:
        yield session
    finally:
        session.close()


def settings() -> Settings:
    return get_settings()
