"""The demo's simulated router: it decides from its score, and the regression is injected into
the small tenant only."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from statistics import fmean

from shadowgap.cli.demo.traffic import (
    REGRESSING_TENANT,
    TENANT_SHARES,
    THRESHOLD,
    THRESHOLD_AFTER,
    load_pairs,
    simulate,
)
from tests.support.settings import GSM8K_CSV

START = datetime(2026, 11, 1, tzinfo=UTC)


def _share(events: list[dict], tenant: str, key) -> float:  # type: ignore[no-untyped-def,type-arg]
    mine = [e for e in events if e["attributes"]["tenant"] == tenant]
    return sum(key(e) for e in mine) / len(mine)


def _cheap(e: dict) -> bool:  # type: ignore[type-arg]
    return bool(e["route"]["tier"] == "cheap")


def test_shift_only_in_the_small_tenant() -> None:
    pairs = load_pairs(GSM8K_CSV)
    assert len(pairs) == 1319
    traffic = simulate(pairs, n_events=48_000)
    before, after = traffic.events[: traffic.shift_index], traffic.events[traffic.shift_index :]
    hard = {p.prompt for p in pairs if not p.cheap_correct}

    def hard_on_cheap(e: dict) -> bool:  # type: ignore[type-arg]
        return _cheap(e) and e["request"]["messages"][0]["content"] in hard

    def score(e: dict) -> float:  # type: ignore[type-arg]
        return float(e["route"]["score"])

    for tenant in TENANT_SHARES:
        routing = _share(after, tenant, _cheap) - _share(before, tenant, _cheap)
        quality = _share(after, tenant, hard_on_cheap) - _share(before, tenant, hard_on_cheap)
        mix = _share(after, tenant, score) - _share(before, tenant, score)
        if tenant == REGRESSING_TENANT:
            assert routing > 0.2 and quality > 0.2 and mix > 0.03
        else:
            assert abs(routing) < 0.03 and abs(quality) < 0.03 and abs(mix) < 0.02
    volume = sum(e["attributes"]["tenant"] == REGRESSING_TENANT for e in traffic.events)
    assert 0.02 < volume / len(traffic.events) < 0.04
    assert len({e["event_id"] for e in traffic.events}) == len(traffic.events)


def test_the_router_decides_from_its_score() -> None:
    pairs = load_pairs(GSM8K_CSV)
    traffic = simulate(pairs, n_events=48_000)
    hard = {p.prompt for p in pairs if not p.cheap_correct}
    for i, e in enumerate(traffic.events):
        shifted = e["attributes"]["tenant"] == REGRESSING_TENANT and i >= traffic.shift_index
        threshold = THRESHOLD_AFTER if shifted else THRESHOLD
        assert _cheap(e) == (e["route"]["score"] < threshold), e["event_id"]
    # The score is the router's estimate that the flagship answers better, close to
    # calibrated: a question scored s is one the cheap model gets wrong about s of the time.
    before = traffic.events[: traffic.shift_index]
    for low, high in ((0.0, 0.2), (0.2, 0.4), (0.4, 0.6), (0.6, 0.8), (0.8, 1.0)):
        band = [e for e in before if low <= e["route"]["score"] < high]
        observed = fmean(e["request"]["messages"][0]["content"] in hard for e in band)
        assert abs(observed - fmean(e["route"]["score"] for e in band)) < 0.08, (low, high)


# sha256 of the other four tenants' requests (without the router's score and reason) in the
# demo's stream at seed 7, as drawn before its router scored requests (commit 6ad1e36).
OTHER_TENANTS_DIGEST = "b36d8e3ecddae56bc56c52bc1b54fc443d8d788eb8e220b06a6e6b29fe63669b"


def test_the_other_tenants_requests_are_the_ones_the_detectors_always_saw() -> None:
    """The router's scores and the small tenant's broken rule move no draw of the other
    tenants' requests: tests/integration/test_demo_detection.py's "nothing fires elsewhere"
    stays about the same stream."""
    pairs = load_pairs(GSM8K_CSV)
    traffic = simulate(pairs, n_events=48_000, start=START)
    digest = hashlib.sha256()
    for event in traffic.events:
        if event["attributes"]["tenant"] == REGRESSING_TENANT:
            continue
        route = {k: v for k, v in event["route"].items() if k not in ("score", "reason")}
        digest.update(json.dumps({**event, "route": route}, sort_keys=True).encode())
    assert digest.hexdigest() == OTHER_TENANTS_DIGEST
    # The same seed gives the same stream; another seed another one.
    assert simulate(pairs, n_events=48_000, start=START).events == traffic.events
    other_seed = simulate(pairs, n_events=2_000, seed=8, start=START).events
    assert [e["route"]["score"] for e in other_seed] != [
        e["route"]["score"] for e in traffic.events[:2_000]
    ]
