"""`shadowgap demo`: the whole service on the embedded default, on real GSM8K and BFCL traffic.

Starts the API and a worker as separate processes (SQLite database, kombu's SQLAlchemy
transport over SQLite as the broker), replays simulated router traffic through the HTTP API,
waits for the shadow runs, verdicts, detectors and alerts to settle, then shows what was
caught, where and how fast. The stream goes in two parts around the router's fix (the loop,
``loop.py``): shadowgap's proposal, the change recorded with its id, its verification. Exit
status 0 means the injected regressions were caught in the right segments and nowhere else,
and the loop ran without the change being found worse.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

from shadowgap.cli.demo import loop
from shadowgap.cli.demo.agentic import (
    AGENTIC_TENANT,
    BFCL_FILE,
    load_pool,
    write_recorded_answers,
)
from shadowgap.cli.demo.report import print_loop, print_results
from shadowgap.cli.demo.traffic import SimulatedTraffic, load_pairs, simulate
from shadowgap.cli.replay import Sender, batches, progress_line
from shadowgap.config import DATA_DIR
from shadowgap.db import models
from shadowgap.db.engine import reset_caches, session_scope
from shadowgap.db.migrate import upgrade
from shadowgap.enums import RunStatus, VerdictKind
from shadowgap.judging.bfcl import DEFAULT_BFCL_DIR
from shadowgap.llm.recorded import GSM8K_FLAGSHIP

DEMO_DIR = DATA_DIR / "demo"


def _demo_env(flagship: str, recorded: Path, port: int, api_key: str) -> dict[str, str]:
    env = {
        "SHADOWGAP_DATABASE_URL": f"sqlite:///{(DEMO_DIR / 'shadowgap.db').resolve()}",
        "SHADOWGAP_BROKER_URL": f"sqla+sqlite:///{(DEMO_DIR / 'broker.db').resolve()}",
        "SHADOWGAP_API_KEYS": api_key,
        "SHADOWGAP_ALERT_OUTBOX_DIR": str((DEMO_DIR / "outbox").resolve()),
        "SHADOWGAP_DASHBOARD_URL": f"http://127.0.0.1:{port}",
        "SHADOWGAP_RECORDED_ANSWERS_PATH": str(recorded.resolve()),
        "SHADOWGAP_FLAGSHIP_CLIENT": "llama-cpp" if flagship == "local" else "recorded",
        # The reverse shadow replays the GSM8K file's Mixtral answers: the demo's cheap model
        # (there is no default cheap model, as there is no default flagship).
        "SHADOWGAP_CHEAP_CLIENT": "recorded",
        "SHADOWGAP_LOG_LEVEL": "WARNING",
    }
    # Sampling runs at the shipped defaults (2% budget, power allocation). A live local model
    # is slower, so it re-runs fewer.
    if flagship == "local":
        env["SHADOWGAP_SAMPLING_BUDGET_FRACTION"] = "0.01"
        env["SHADOWGAP_FLAGSHIP_MAX_TOKENS"] = "160"
    # A user's explicit setting wins over the demo's defaults.
    for name in (
        "SHADOWGAP_SAMPLING_BUDGET_FRACTION",
        "SHADOWGAP_SAMPLING_EQUAL_SHARE",
        "SHADOWGAP_FLAGSHIP_MAX_TOKENS",
    ):
        if name in os.environ:
            env[name] = os.environ[name]
    return env


def _start(argv: list[str], log_path: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    log = log_path.open("wb")
    return subprocess.Popen(
        argv, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
    )


def _wait_ready(
    url: str, proc: subprocess.Popen[bytes], log_path: Path, timeout: float = 120
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the API exited; see {log_path}")
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"the API did not become ready; see {log_path}")


def _pipeline_state() -> tuple[int, int, int, int]:
    """(runs wanted, runs stored, gap verdicts, events that can be judged)."""
    with session_scope() as session:
        decision, run, event = models.SamplingDecision, models.ShadowRun, models.TrafficEvent
        wanted = session.execute(
            select(func.coalesce(func.sum(decision.replicates), 0))
        ).scalar_one()
        runs = session.execute(select(func.count()).select_from(run)).scalar_one()
        judged = session.execute(
            select(func.count())
            .select_from(models.Verdict)
            .where(models.Verdict.kind == VerdictKind.GAP)
        ).scalar_one()
        # Judged: a sampled event whose cheap call answered and whose flagship run succeeded.
        judgeable = session.execute(
            select(func.count())
            .select_from(decision)
            .join(event, event.id == decision.event_pk)
            .join(run, (run.event_pk == decision.event_pk) & (run.replicate == 0))
            .where(event.answer.is_not(None), run.status == RunStatus.OK)
        ).scalar_one()
    return int(wanted), int(runs), int(judged), int(judgeable)


def _wait_for_pipeline(timeout: float) -> None:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        wanted, runs, judged, judgeable = _pipeline_state()
        print(
            f"\r  shadow runs {runs}/{wanted}   verdicts {judged}/{judgeable}   ",
            end="",
            flush=True,
        )
        if runs >= wanted and judged >= judgeable:
            print()
            return
        time.sleep(1.0)
    print("\n  (timed out waiting for the pipeline; showing what is there)")


def _signals_without_alert(session) -> int:  # type: ignore[no-untyped-def]
    """(segment, signal) pairs that drifted and have no alert yet: the alert stage, which
    builds each alert's evidence (attribution with bootstrap intervals), has not run for
    them."""
    drifted = set(session.execute(select(models.DriftEvent.segment_id, models.DriftEvent.signal)))
    alerted = set(session.execute(select(models.Alert.segment_id, models.Alert.signal)))
    return len(drifted - alerted)


def _wait_for_detectors(timeout: float) -> None:
    """Run until every segment's detectors have seen every event and verdict, and the alert
    stage has acted on every drift event."""
    from shadowgap.drift.store import segments_with_new_data

    deadline = time.monotonic() + timeout
    quiet_since: float | None = None
    while time.monotonic() < deadline:
        with session_scope() as session:
            pending = segments_with_new_data(session)
            unalerted = _signals_without_alert(session)
        if unalerted:
            quiet_since = None
        if pending:
            quiet_since = None
            from shadowgap.worker.queue import send

            for segment_id in pending:
                send("drift.update", [segment_id])
        elif not unalerted:
            quiet_since = quiet_since or time.monotonic()
            if time.monotonic() - quiet_since > 8.0:
                return
        time.sleep(2.0)


def _send(sender: Sender, events: list[dict[str, Any]], total: int, started: float) -> None:
    for batch in batches(events, 250):
        sender.send(batch)
        print(
            progress_line(sender.totals.sent, total, started, "requests"),
            end="",
            flush=True,
        )


def _apply_proposal(
    traffic: SimulatedTraffic, url: str, admin_key: str
) -> tuple[dict[str, Any] | None, int | None]:
    """The loop's first half: shadowgap's proposal for the regressing tenant from the traffic
    so far, and the router change applying it at the fix, recorded through the changes API
    with the proposal's id. ``(proposal, change id)``; None for what did not happen."""
    from shadowgap.config import get_settings

    assert traffic.fix_index is not None
    events = traffic.events
    fix_time = datetime.fromisoformat(events[traffic.fix_index]["timestamp"])
    # Proposals over the window ending at the last request the router sent before the fix.
    end = datetime.fromisoformat(events[traffic.fix_index - 1]["timestamp"])
    with session_scope() as session:
        proposal = loop.route_proposal(session, get_settings(), traffic.regressing_segment, end)
    if proposal is None:
        print(f"   no route-to-flagship proposal for {traffic.regressing_segment}")
        return None, None
    print(
        f"   proposal {proposal['id']} ({proposal['kind']}) for {traffic.regressing_segment}: "
        f"cheap share {proposal['current']['cheap_share']:.0%} -> 0%"
    )
    response = httpx.post(
        f"{url}/v1/changes",
        json=loop.change_body(proposal, fix_time),
        headers={"Authorization": f"Bearer {admin_key}"},
        timeout=30,
    )
    if response.status_code != 201:
        print(f"   recording the change failed: {response.status_code} {response.text[:300]}")
        return proposal, None
    change_id = int(response.json()["id"])
    print(f"   the router applies it at {fix_time.isoformat()}: recorded as change #{change_id}")
    return proposal, change_id


def _verify(url: str, admin_key: str, change_id: int) -> dict[str, Any] | None:
    """The loop's second half: the change's verification brought up to date (as the
    changes.verify beat task does), then its view from the API."""
    from shadowgap.changes.verify import verify_open_changes
    from shadowgap.config import get_settings
    from shadowgap.worker.queue import send

    with session_scope() as session:
        deliveries = verify_open_changes(session, get_settings(), datetime.now(UTC))
    for delivery_id in deliveries:
        send("alerts.deliver", [delivery_id])
    response = httpx.get(
        f"{url}/v1/changes",
        headers={"Authorization": f"Bearer {admin_key}"},
        timeout=30,
    )
    response.raise_for_status()
    return next((c for c in response.json()["items"] if c["id"] == change_id), None)


def run_demo(
    flagship: str,
    data_dir: Path,
    port: int,
    keep_running: bool,
    n_events: int = 48_000,
    seed: int = 7,
    bfcl_dir: Path = DEFAULT_BFCL_DIR,
) -> int:
    csv_path = data_dir / "gsm8k" / "gsm8k_responses.csv"
    if not csv_path.exists():
        print(f"GSM8K data not found at {csv_path}: pass --data-dir", file=sys.stderr)
        return 2
    if flagship not in {"recorded", "local"}:
        print("--flagship must be 'recorded' or 'local'", file=sys.stderr)
        return 2
    # The agentic tenant needs a flagship that answers its tool calls: the recorded one. The
    # live local model makes too few usable calls to be its reference (docs/demo.md).
    pool = None
    if flagship == "recorded":
        if not (bfcl_dir / BFCL_FILE).exists():
            print(f"BFCL data not found at {bfcl_dir}: pass --bfcl-dir", file=sys.stderr)
            return 2
        pool = load_pool(bfcl_dir)
    shutil.rmtree(DEMO_DIR, ignore_errors=True)
    DEMO_DIR.mkdir(parents=True)
    recorded = csv_path
    if pool is not None:
        recorded = write_recorded_answers(
            DEMO_DIR / "recorded_flagship.jsonl", csv_path, GSM8K_FLAGSHIP, pool
        )
    api_key = secrets.token_urlsafe(24)
    # A second key, for people: the dashboard and read API need the read scope (admin: ack).
    admin_key = secrets.token_urlsafe(24)
    env_vars = _demo_env(flagship, recorded, port, f"{api_key},admin:{admin_key}")
    os.environ.update(env_vars)
    reset_caches()
    upgrade()
    env = {**os.environ, **env_vars, "PYTHONUNBUFFERED": "1"}
    url = f"http://127.0.0.1:{port}"

    print(
        f"shadowgap demo: embedded default in {DEMO_DIR}/ (SQLite + SQLite broker), "
        "flagship: "
        + ("llama.cpp SmolLM2-135M live" if flagship == "local" else "recorded GPT-4 answers")
    )
    api = _start(
        [sys.executable, "-m", "shadowgap.cli.main", "serve", "--port", str(port)],
        DEMO_DIR / "api.log",
        env,
    )
    worker = _start(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "shadowgap.worker.app:app",
            "worker",
            "--concurrency=1" if flagship == "local" else "--concurrency=3",
            "--loglevel=WARNING",
            "--without-gossip",
            "--without-mingle",
        ],
        DEMO_DIR / "worker.log",
        env,
    )
    try:
        _wait_ready(url, api, DEMO_DIR / "api.log")
        traffic = simulate(
            load_pairs(csv_path),
            n_events=n_events,
            seed=seed,
            agentic_pool=pool,
            fix_at=loop.FIX_AT,
        )
        assert traffic.fix_index is not None
        tenants = len({e["attributes"]["tenant"] for e in traffic.events})
        print(
            f"\n1. replaying {traffic.fix_index:,} of {len(traffic.events):,} requests from "
            f"{tenants} tenants through the API (the router breaks for "
            f"{traffic.regressing_segment} at request {traffic.shift_index:,}"
            + (
                f"; {AGENTIC_TENANT}'s cheap model is swapped for one that drops required "
                "arguments at the same time)"
                if pool is not None
                else ")"
            )
        )
        sender = Sender(url, api_key)
        started = time.monotonic()
        _send(sender, traffic.events[: traffic.fix_index], len(traffic.events), started)
        print(
            f"\n   {sender.totals.new:,} stored, "
            f"{sender.totals.sampled:,} sampled for shadow re-runs"
        )
        print("\n2. re-running sampled cheap requests on the flagship and judging the answer gap")
        _wait_for_pipeline(timeout=1800 if flagship == "local" else 900)
        print("\n3. letting the per-segment detectors and the alert stage settle")
        _wait_for_detectors(timeout=300)
        print(
            f"\n4. the loop: shadowgap proposes a change for {traffic.regressing_segment}, "
            f"the router applies it at request {traffic.fix_index:,}"
        )
        proposal, change_id = _apply_proposal(traffic, url, admin_key)
        print(
            f"\n5. replaying the other {len(traffic.events) - traffic.fix_index:,} requests, "
            "then the pipeline and the detectors again"
        )
        _send(sender, traffic.events[traffic.fix_index :], len(traffic.events), started)
        sender.close()
        print()
        _wait_for_pipeline(timeout=1800 if flagship == "local" else 900)
        _wait_for_detectors(timeout=300)
        change = _verify(url, admin_key, change_id) if change_id is not None else None
        ok = print_results(traffic, url, DEMO_DIR)
        ok = print_loop(traffic, proposal, change) and ok
        print(f"  sign in at {url}/login with the admin key {admin_key}")
        if keep_running:
            print(f"\nAPI and worker still running at {url}; Ctrl-C to stop.")
            try:
                api.wait()
            except KeyboardInterrupt:
                pass
        return 0 if ok else 1
    finally:
        for proc in (worker, api):
            if proc.poll() is None:
                os.killpg(proc.pid, 15)
        for proc in (worker, api):
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, 9)
