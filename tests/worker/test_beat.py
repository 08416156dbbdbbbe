"""Beat starts in a fresh working directory (the production set-up), and what it logs, a
crash's traceback included, is one JSON object per line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.support.processes import wait_for
from tests.support.settings import ROOT


def _beat(cwd: Path, redis_url: str, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SHADOWGAP_BROKER_URL": redis_url}
    env.pop("SHADOWGAP_LOG_JSON", None)
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "shadowgap.worker.app:app", "beat", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,  # the banner
        stderr=(cwd / "beat.log").open("w"),
        text=True,
        start_new_session=True,
    )


def test_beat_starts_in_an_empty_directory_and_sends_the_sweeps(
    tmp_path: Path, redis_url: str
) -> None:
    beat = _beat(tmp_path, redis_url)
    try:
        log = tmp_path / "beat.log"
        # The first sweep is due 30 s after start: beat is up and scheduling.
        wait_for(lambda: "Sending due task shadow-sweep" in log.read_text(), timeout=150)
        assert beat.poll() is None, log.read_text()[-3000:]
        assert list((tmp_path / "shadowgap-data").glob("celerybeat-schedule*"))
    finally:
        beat.terminate()
        beat.wait(timeout=30)


def test_a_crash_is_logged_as_one_json_line(tmp_path: Path, redis_url: str) -> None:
    (tmp_path / "a-file").write_text("")
    # A schedule path under a file cannot be created: beat fails at start with a traceback.
    beat = _beat(tmp_path, redis_url, "--schedule", str(tmp_path / "a-file" / "schedule"))
    assert beat.wait(timeout=120) != 0
    lines = [line for line in (tmp_path / "beat.log").read_text().splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # every line is a JSON object
    crashes = [r for r in records if r.get("exc")]
    assert crashes, records
    assert all(r["exc"].startswith("Traceback (most recent call last)") for r in crashes)
    assert any("a-file" in r["exc"] for r in crashes)  # the cause is in the one line
    # No record carries a piece of a traceback (Celery's stderr redirect logged each line of
    # one as a record of its own, down to lines holding just "^").
    fragments = [
        r["msg"]
        for r in records
        if r["msg"].strip() in {"", "^"} or r["msg"].lstrip().startswith(("File ", "Traceback"))
    ]
    assert fragments == []
