"""A large OTLP body is decoded off the event loop: /healthz keeps answering meanwhile."""

from __future__ import annotations

import gzip
from pathlib import Path

import httpx

from tests.support.healthz_probe import HealthProbe, live_api
from tests.support.otlp import json_span, openinference_span, otlp_json
from tests.support.settings import API_KEY


def _big_otlp_json() -> bytes:
    """~10 MB of OTLP JSON: many HTTP spans (skipped after decoding) and one LLM span."""
    filler = [
        json_span(
            f"{i + 1:016x}", {"http.method": "GET", "http.url": f"https://x.test/{'p' * 120}"}
        )
        for i in range(19_000)
    ]
    return otlp_json([openinference_span("00f067aa0ba902b7", "What is 2+2?", "4"), *filler])


def test_a_large_otlp_body_does_not_hold_the_event_loop(tmp_path: Path) -> None:
    body = _big_otlp_json()
    assert len(body) > 9_000_000
    compressed = gzip.compress(body)
    headers = {
        "Authorization": f"Bearer {API_KEY}",
        "Content-Type": "application/json",
        "Content-Encoding": "gzip",
    }
    with live_api(tmp_path) as url, HealthProbe(url) as probe:
        for _ in range(2):
            response = httpx.post(
                f"{url}/v1/traces", content=compressed, headers=headers, timeout=120
            )
            assert response.status_code == 200, response.text
    # Before: one probe waited the whole decode (3.3 s here). What is left: orjson parses the
    # 10 MB in one C call that holds the GIL, 0.05-0.25 s with ~8 runnable processes on the
    # 2 cores, once per request, so the probe or two that wait for it set the p99 of ~200.
    assert max(probe.seconds) < 1.0, sorted(probe.seconds)[-5:]
    print("healthz probes:", len(probe.seconds), "p99", probe.p99(), "max", max(probe.seconds))
    assert probe.p99() < 0.3, sorted(probe.seconds)[-5:]
    assert len(probe.seconds) > 20
