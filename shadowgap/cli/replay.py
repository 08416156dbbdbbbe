"""Streaming events to a running shadowgap: the `replay` command and the demo's sender.

Batches are retried on 429/5xx and connection errors with backoff (honouring Retry-After);
ingest is idempotent, so a retried batch never double-counts. A batch refused with another
4xx is reported and skipped, never retried.
"""

from __future__ import annotations

import csv
import json
import random
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from shadowgap.llm.limits import parse_retry_after

ENDPOINTS = {"native": "/v1/events", "litellm": "/v1/ingest/litellm"}
CSV_JSON_COLUMNS = ("request", "route", "usage", "attributes")


@dataclass
class ReplayTotals:
    sent: int = 0
    new: int = 0
    duplicates: int = 0
    sampled: int = 0
    failed: int = 0


def read_events(path: Path) -> Iterator[dict[str, Any]]:
    """JSONL (one event per line) or CSV (one column per top-level field; nested fields as
    JSON text)."""
    if path.suffix.lower() == ".csv":
        with path.open(newline="") as handle:
            for row in csv.DictReader(handle):
                yield _csv_event(row)
        return
    with path.open() as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as exc:
                    raise ValueError(f"{path}:{number}: not valid JSON: {exc}") from exc


def _csv_event(row: dict[str, str]) -> dict[str, Any]:
    event: dict[str, Any] = {}
    for key, value in row.items():
        if value == "":
            continue
        if key in CSV_JSON_COLUMNS or value[:1] in "[{":
            event[key] = json.loads(value)
        elif key in {"latency_ms", "ttft_ms", "cost_usd"}:
            event[key] = float(value)
        elif key in {"escalated", "refused"}:
            event[key] = value.strip().lower() in {"1", "true", "yes"}
        else:
            event[key] = value
    return event


def batches(events: Iterable[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for event in events:
        batch.append(event)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


class Sender:
    """Posts batches to one shadowgap endpoint with retries and an optional rate limit."""

    def __init__(
        self,
        url: str,
        api_key: str,
        fmt: str = "native",
        *,
        max_retries: int = 8,
        rate: float | None = None,
        timeout: float = 60.0,
    ) -> None:
        if fmt not in ENDPOINTS:
            raise ValueError(f"unknown format {fmt!r}: use native or litellm")
        self.endpoint = url.rstrip("/") + ENDPOINTS[fmt]
        self.client = httpx.Client(headers={"Authorization": f"Bearer {api_key}"}, timeout=timeout)
        self.max_retries = max_retries
        self.rate = rate
        self._next_send = time.monotonic()
        self.totals = ReplayTotals()

    def close(self) -> None:
        self.client.close()

    def _pace(self, n: int) -> None:
        if self.rate is None:
            return
        now = time.monotonic()
        if self._next_send > now:
            time.sleep(self._next_send - now)
        self._next_send = max(now, self._next_send) + n / self.rate

    def send(self, batch: list[dict[str, Any]]) -> dict[str, Any] | None:
        self._pace(len(batch))
        body = json.dumps(batch).encode()
        for attempt in range(self.max_retries + 1):
            wait: float | None
            try:
                response = self.client.post(
                    self.endpoint, content=body, headers={"Content-Type": "application/json"}
                )
            except httpx.TransportError as exc:
                wait, reason = 2.0**attempt, type(exc).__name__
            else:
                if response.status_code == 200:
                    result = response.json()
                    self.totals.sent += len(batch)
                    self.totals.new += result["new"]
                    self.totals.duplicates += result["duplicates"]
                    self.totals.sampled += result["sampled"]
                    return result
                if response.status_code != 429 and response.status_code < 500:
                    self.totals.failed += len(batch)
                    print(
                        f"batch refused ({response.status_code}): {response.text[:500]}",
                        file=sys.stderr,
                    )
                    return None
                retry_after = parse_retry_after(response.headers)
                wait = retry_after if retry_after is not None else 2.0**attempt
                reason = f"HTTP {response.status_code}"
            if attempt < self.max_retries:
                delay = min(wait, 60.0) * random.uniform(0.5, 1.0)
                print(f"retrying batch after {reason} in {delay:.1f}s", file=sys.stderr)
                time.sleep(delay)
        self.totals.failed += len(batch)
        return None


def progress_line(done: int, total: int | None, started: float, label: str = "events") -> str:
    elapsed = max(time.monotonic() - started, 1e-9)
    rate = done / elapsed
    if total:
        width = 30
        filled = int(width * done / total)
        return f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {label} ({rate:,.0f}/s)"
    return f"\r{done} {label} ({rate:,.0f}/s)"


def replay_file(
    path: Path,
    url: str,
    api_key: str,
    *,
    fmt: str = "native",
    batch_size: int = 100,
    rate: float | None = None,
    max_retries: int = 8,
    on_progress: Callable[[str], None] | None = None,
) -> ReplayTotals:
    events = list(read_events(path))
    sender = Sender(url, api_key, fmt, max_retries=max_retries, rate=rate)
    started = time.monotonic()
    show = on_progress or (lambda text: print(text, end="", file=sys.stderr, flush=True))
    try:
        for batch in batches(events, batch_size):
            sender.send(batch)
            show(progress_line(sender.totals.sent + sender.totals.failed, len(events), started))
    finally:
        sender.close()
        show("\n")
    return sender.totals
