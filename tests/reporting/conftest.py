"""A SQLite file with two weeks of synthetic traffic: one segment degrades in week two."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from shadowgap.db.engine import make_engine
from shadowgap.db.models import Base
from tests.support.synthetic import (
    QUIET,
    SHIFTED,
    SMALL,
    STABLE,
    START,
    WEEK,
    Profile,
    add_alert,
    populate,
)


@pytest.fixture(scope="module")
def report_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    path: Path = tmp_path_factory.mktemp("reporting") / "shadowgap.db"
    engine = make_engine(f"sqlite:///{path}")
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        ids = populate(
            session,
            {
                # Week two: the flagship wins 40% of pairs instead of 10%, latency doubles.
                SHIFTED: [Profile(events=1500), Profile(events=1500, gap_rate=0.4, latency_ms=800)],
                STABLE: [Profile(events=1500), Profile(events=1500)],
                SMALL: [Profile(events=200), Profile(events=200)],
                QUIET: [Profile(events=300, cheap_share=0.5), Profile(events=300, cheap_share=0.5)],
            },
            START,
            seed=11,
        )
        add_alert(session, ids[SHIFTED], "quality_gap", START + WEEK + timedelta(days=2))
        add_alert(
            session,
            ids[STABLE],
            "latency",
            START + timedelta(days=3),
            resolved_at=START + WEEK + timedelta(days=1),
        )
        # Outside the period: must not be counted.
        add_alert(session, ids[SMALL], "cost", START + timedelta(days=1))
        session.commit()
    yield engine
    engine.dispose()
