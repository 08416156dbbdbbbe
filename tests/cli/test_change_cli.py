"""``shadowgap change record`` / ``list`` against a live API over HTTP, as CI would run it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from shadowgap.cli.main import app
from shadowgap.db.models import RouterChange, Segment
from tests.support.live_api import start_api
from tests.support.processes import free_port
from tests.support.settings import ADMIN_KEY, API_KEYS, READ_KEY, migrate


@pytest.fixture
def live(tmp_path: Path) -> Iterator[tuple[str, str]]:
    database = f"sqlite:///{tmp_path}/shadowgap.db"
    migrate(database)
    engine = create_engine(database)
    with Session(engine) as session:
        session.add(Segment(key="tenant=hooli", dimensions={"tenant": "hooli"}))
        session.commit()
    port = free_port()
    api = start_api(
        port, database, f"sqla+sqlite:///{tmp_path}/broker.db", tmp_path / "api.log", API_KEYS
    )
    yield f"http://127.0.0.1:{port}", database
    api.terminate()
    api.wait(timeout=30)
    engine.dispose()


def _run(args: list[str], key: str | None, url: str) -> tuple[int, str, str]:
    env = {"SHADOWGAP_CHANGE_API_URL": url}
    if key is not None:
        env["SHADOWGAP_CHANGE_API_KEY"] = key
    result = CliRunner().invoke(app, ["change", *args], env=env)
    return result.exit_code, result.stdout, result.stderr


def test_record_then_list(live: tuple[str, str]) -> None:
    url, database = live
    code, out, err = _run(
        [
            "record",
            "--scope",
            "tenant=hooli",
            "--at",
            "2026-01-05T10:00:00Z",
            "--description",
            "hooli to the flagship",
            "--proposal",
            "prop-3",
            "--predicted",
            '{"cost_per_day": {"value": 2.5, "ci": [2, 3]}}',
        ],
        ADMIN_KEY,
        url,
    )
    assert code == 0, err
    assert "recorded for tenant=hooli" in out
    with Session(create_engine(database)) as session:
        (change,) = session.scalars(select(RouterChange)).all()
        assert change.proposal_id == "prop-3"
        assert change.predicted == {"cost_per_day": {"value": 2.5, "ci": [2.0, 3.0]}}
    code, out, _ = _run(["list"], READ_KEY, url)
    assert code == 0 and "pending" in out and "hooli to the flagship" in out


def test_refusals_name_the_field_and_exit_non_zero(live: tuple[str, str]) -> None:
    url, _ = live
    code, _, err = _run(["record", "--scope", "tenant=nobody"], ADMIN_KEY, url)
    assert code == 1 and "(scope)" in err
    code, _, err = _run(["record", "--scope", "tenant=hooli"], READ_KEY, url)
    assert code == 1 and "403" in err
    code, _, err = _run(["record", "--scope", "tenant=hooli"], None, url)
    assert code == 2 and "SHADOWGAP_CHANGE_API_KEY" in err
    code, _, err = _run(["record", "--scope", "tenant=hooli"], ADMIN_KEY, "http://127.0.0.1:9")
    assert code == 3 and "cannot reach" in err
