"""`shadowgap replay`: JSONL and CSV files streamed to a running API, with retries."""

from __future__ import annotations

import csv
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from sqlalchemy import func, select

from shadowgap.api.app import create_app
from shadowgap.cli.replay import Sender, replay_file
from shadowgap.db import models
from shadowgap.db.engine import session_scope
from tests.support.alert_receiver import Receiver
from tests.support.factories import native_event
from tests.support.settings import API_KEY


@pytest.fixture
def api_url(embedded: str) -> Iterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_app(), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{url}/healthz", timeout=1)
            break
        except httpx.TransportError:
            time.sleep(0.1)
    yield url
    server.should_exit = True
    thread.join(timeout=10)


def _stored() -> int:
    with session_scope() as session:
        return session.execute(select(func.count()).select_from(models.TrafficEvent)).scalar_one()


def test_replay_jsonl_and_csv(api_url: str, tmp_path: Path) -> None:
    jsonl = tmp_path / "events.jsonl"
    jsonl.write_text("\n".join(json.dumps(native_event(f"j-{i}", row=i)) for i in range(25)) + "\n")
    totals = replay_file(
        jsonl, api_url, API_KEY, batch_size=10, rate=500.0, on_progress=lambda _: None
    )
    assert (totals.sent, totals.new, totals.failed) == (25, 25, 0)

    csv_path = tmp_path / "events.csv"
    with csv_path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["event_id", "timestamp", "request", "route", "answer", "latency_ms", "escalated"]
        )
        for i in range(5):
            event = native_event(f"c-{i}", row=i)
            writer.writerow(
                [
                    event["event_id"],
                    event["timestamp"],
                    json.dumps(event["request"]),
                    json.dumps(event["route"]),
                    event["answer"],
                    "512.5",
                    "true",
                ]
            )
    totals = replay_file(csv_path, api_url, API_KEY, on_progress=lambda _: None)
    assert (totals.new, totals.failed) == (5, 0)
    # Replaying the same file again is idempotent.
    again = replay_file(jsonl, api_url, API_KEY, batch_size=10, on_progress=lambda _: None)
    assert (again.new, again.duplicates) == (0, 25)
    assert _stored() == 30
    with session_scope() as session:
        row = session.execute(
            select(models.TrafficEvent).where(models.TrafficEvent.event_id == "c-0")
        ).scalar_one()
        assert row.latency_ms == 512.5 and row.escalated


def test_sender_retries_429_and_5xx_then_counts_once() -> None:
    receiver = Receiver()
    try:
        ok = json.dumps({"accepted": 2, "new": 2, "duplicates": 0, "sampled": 0}).encode()
        receiver.respond((503, {}, b"down"), (429, {"Retry-After": "0"}, b"slow"), (200, {}, ok))
        sender = Sender(receiver.url(""), "key", max_retries=3)
        result = sender.send([native_event("r-1"), native_event("r-2")])
        sender.close()
        assert result is not None and sender.totals.new == 2 and sender.totals.failed == 0
        assert len(receiver.requests) == 3
        assert all(r.headers["Authorization"] == "Bearer key" for r in receiver.requests)
    finally:
        receiver.close()


def test_sender_reports_a_refused_batch_without_retrying() -> None:
    receiver = Receiver(default=(422, {}, b'{"error": "item 0: route.tier: Field required"}'))
    try:
        sender = Sender(receiver.url(""), "key", max_retries=3)
        assert sender.send([native_event("x-1")]) is None
        sender.close()
        assert sender.totals.failed == 1 and len(receiver.requests) == 1
    finally:
        receiver.close()
