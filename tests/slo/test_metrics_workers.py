"""The SLO gauges agree across the processes of a real ``uvicorn --workers 4``: each scrape is
answered by whichever worker accepts it, and all read the same rows at the same watermark."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.orm import Session

from shadowgap.db.engine import make_engine
from tests.slo.pairs import add_pairs
from tests.support.alert_rows import NOW, add_segment
from tests.support.processes import free_port
from tests.support.settings import ROOT, migrate


def _slo_lines(text: str) -> list[str]:
    return sorted(line for line in text.splitlines() if line.startswith("shadowgap_slo_"))


def _process_start(text: str) -> float:
    for family in text_string_to_metric_families(text):
        if family.name == "process_start_time_seconds":
            return family.samples[0].value
    raise AssertionError("no process_start_time_seconds")


def test_four_workers_serve_the_same_slo_values(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/slo.db"
    migrate(url)
    engine = make_engine(url)
    with Session(engine) as session:
        for index, wins in enumerate([4, 3, 1]):
            segment = add_segment(session, f"tenant=w{index}", 240)
            add_pairs(session, segment, n=120, wins_per_10=wins, end=NOW, days=27, tag=f"{index}-")
            session.commit()
    engine.dispose()

    port = free_port()
    env = {
        **os.environ,
        "SHADOWGAP_DATABASE_URL": url,
        "SHADOWGAP_BROKER_URL": f"sqla+sqlite:///{tmp_path}/broker.db",
        "SHADOWGAP_METRICS_PUBLIC": "true",
        "SHADOWGAP_SLO_METRICS_TOP_K": "2",
        "SHADOWGAP_LOG_LEVEL": "WARNING",
    }
    log = (tmp_path / "api.log").open("wb")
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "shadowgap.api.app:create_app",
            "--factory",
            "--workers",
            "4",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, (tmp_path / "api.log").read_text()[-3000:]
            time.sleep(0.3)
        time.sleep(3)  # every worker up, not only the first to answer
        answers: dict[float, list[str]] = {}
        for _ in range(40):
            # A new connection each time, so the workers take turns accepting.
            response = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=30)
            assert response.status_code == 200
            answers.setdefault(_process_start(response.text), []).extend(
                ["\n".join(_slo_lines(response.text))]
            )
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()

    assert len(answers) >= 2, "every scrape went to one worker: nothing compared"
    distinct = {text for texts in answers.values() for text in texts}
    assert len(distinct) == 1
    lines = distinct.pop().splitlines()
    listed = {line.split('segment="')[1].split('"')[0] for line in lines if 'segment="' in line}
    assert listed == {"tenant=w0", "tenant=w1"}
    assert 'shadowgap_slo_segments{state="unlisted"} 1.0' in lines
