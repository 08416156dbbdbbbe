"""The demo's simulated router: it decides from its score, and the regression is injected into
the small tenant only."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from datetime import UTC, datetime
from statistics import fmean

import pytest

from shadowgap.cli.demo.agentic import (
    AGENTIC_TENANT,
    ERRORS_AFTER,
    ERRORS_BEFORE,
    VOLUME,
    AgenticCase,
    load_pool,
)
from shadowgap.cli.demo.traffic import (
    REGRESSING_TENANT,
    TENANT_SHARES,
    THRESHOLD,
    THRESHOLD_AFTER,
    load_pairs,
    simulate,
)
from shadowgap.judging.bfcl import acceptable
from shadowgap.schemas import Answer
from tests.support.settings import DATA_DIR, GSM8K_CSV

START = datetime(2026, 11, 1, tzinfo=UTC)
BFCL_DIR = DATA_DIR.parent / "bfcl"


@pytest.fixture(scope="module")
def pool() -> list[AgenticCase]:
    if not BFCL_DIR.is_dir():
        pytest.fail(f"BFCL data not found at {BFCL_DIR}")
    return load_pool(BFCL_DIR)


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


def test_the_router_decides_from_its_score(pool: list[AgenticCase]) -> None:
    pairs = load_pairs(GSM8K_CSV)
    traffic = simulate(pairs, n_events=48_000, agentic_pool=pool)
    hard = {p.prompt for p in pairs if not p.cheap_correct}
    for i, e in enumerate(traffic.events):
        shifted = e["attributes"]["tenant"] == REGRESSING_TENANT and i >= traffic.shift_index
        threshold = THRESHOLD_AFTER if shifted else THRESHOLD
        assert _cheap(e) == (e["route"]["score"] < threshold), e["event_id"]
    # The score is the router's estimate that the flagship answers better, close to
    # calibrated: a question scored s is one the cheap model gets wrong about s of the time.
    before = [
        e
        for e in traffic.events[: traffic.shift_index]
        if e["attributes"]["tenant"] in TENANT_SHARES
    ]
    for low, high in ((0.0, 0.2), (0.2, 0.4), (0.4, 0.6), (0.6, 0.8), (0.8, 1.0)):
        band = [e for e in before if low <= e["route"]["score"] < high]
        observed = fmean(e["request"]["messages"][0]["content"] in hard for e in band)
        assert abs(observed - fmean(e["route"]["score"] for e in band)) < 0.08, (low, high)


# sha256 of the other four tenants' requests (without the router's score and reason) in the
# demo's stream at seed 7, as drawn before its router scored requests (commit 6ad1e36).
OTHER_TENANTS_DIGEST = "b36d8e3ecddae56bc56c52bc1b54fc443d8d788eb8e220b06a6e6b29fe63669b"


def test_the_other_tenants_requests_are_the_ones_the_detectors_always_saw(
    pool: list[AgenticCase],
) -> None:
    """The router's scores, the small tenant's broken rule and the agentic tenant move no draw
    of the other tenants' requests: tests/integration/test_demo_detection.py's "nothing fires
    elsewhere" stays about the same stream."""
    pairs = load_pairs(GSM8K_CSV)
    traffic = simulate(pairs, n_events=48_000, start=START, agentic_pool=pool)
    digest = hashlib.sha256()
    for event in traffic.events:
        if event["attributes"]["tenant"] in (REGRESSING_TENANT, AGENTIC_TENANT):
            continue
        route = {k: v for k, v in event["route"].items() if k not in ("score", "reason")}
        digest.update(json.dumps({**event, "route": route}, sort_keys=True).encode())
    assert digest.hexdigest() == OTHER_TENANTS_DIGEST
    # The same seed gives the same stream; another seed another one.
    again = simulate(pairs, n_events=48_000, start=START, agentic_pool=pool)
    assert again.events == traffic.events
    other_seed = simulate(pairs, n_events=2_000, seed=8, start=START).events
    assert [e["route"]["score"] for e in other_seed] != [
        e["route"]["score"] for e in traffic.events[:2_000]
    ]


def test_the_agentic_tenant_breaks_its_tool_calls_and_nothing_else(
    pool: list[AgenticCase],
) -> None:
    """The agent's cheap answers are acceptable calls except the documented error rates, which
    rise at the swap; its routing, prices, latency and request mix stay as they were."""
    # 818 live_multiple cases fit (one call with a required argument, every error kind).
    assert len(pool) == 818
    traffic = simulate(load_pairs(GSM8K_CSV), n_events=48_000, start=START, agentic_pool=pool)
    mine = [e for e in traffic.events if e["attributes"]["tenant"] == AGENTIC_TENANT]
    assert len(mine) == round(48_000 * VOLUME) == 1440
    assert [e["event_id"] for e in mine] == sorted(e["event_id"] for e in mine)
    times = [datetime.fromisoformat(e["timestamp"]) for e in traffic.events]
    assert times == sorted(times)
    regression = traffic.regression(f"tenant={AGENTIC_TENANT}")
    assert regression is not None and regression.signals == ("quality_gap",)
    split = [e["event_id"] for e in mine].index(regression.first_event_id)
    assert split == 720
    cases = {item.question: item.case for item in pool}
    halves = []
    for part in (mine[:split], mine[split:]):
        cheap = [e for e in part if _cheap(e) and e["answer"] is not None]
        kinds = Counter(traffic.agentic_kinds[e["event_id"]] for e in cheap)
        # Each answer's label is the ground truth's, not the kind's.
        wrong = 0
        for e in cheap:
            case = cases[e["request"]["messages"][-1]["content"]]
            answer = Answer.coerce(e["answer"])
            wrong += not acceptable(answer, case)
        halves.append(
            {
                "cheap": len(cheap) / len(part),
                "wrong": wrong / len(cheap),
                "missing_argument": kinds["missing_argument"] / len(cheap),
                "cost": fmean(e["cost_usd"] for e in part),
                "latency": fmean(e["latency_ms"] for e in part if _cheap(e) and not e["escalated"]),
                "escalated": fmean(e["escalated"] for e in part if _cheap(e)),
            }
        )
    before, after = halves
    assert abs(before["cheap"] - after["cheap"]) < 0.05 and 0.75 < before["cheap"] < 0.85
    assert abs(before["wrong"] - sum(ERRORS_BEFORE.values())) < 0.02, before
    assert abs(after["wrong"] - sum(ERRORS_AFTER.values())) < 0.05, after
    assert after["missing_argument"] > 0.2 > 0.05 > before["missing_argument"]
    assert abs(after["cost"] / before["cost"] - 1) < 0.1
    assert abs(after["latency"] / before["latency"] - 1) < 0.02
    assert abs(after["escalated"] - before["escalated"]) < 0.02
    # The flagship-routed answers are the recorded flagship's acceptable calls.
    for e in mine:
        if not _cheap(e) and e["answer"] is not None:
            case = cases[e["request"]["messages"][-1]["content"]]
            assert acceptable(Answer.coerce(e["answer"]), case)


def test_the_fix_routes_only_the_small_tenant_to_the_flagship_from_its_point() -> None:
    pairs = load_pairs(GSM8K_CSV)
    plain = simulate(pairs, n_events=8_000, start=START)
    fixed = simulate(pairs, n_events=8_000, start=START, fix_at=0.8)
    assert plain.fix_index is None and fixed.fix_index == 6_400
    changed = [
        (i, a, b) for i, (a, b) in enumerate(zip(plain.events, fixed.events, strict=True)) if a != b
    ]
    # Only the small tenant's cheap requests after the fix change, each to the flagship route
    # and its answer; every other request is draw for draw what it was.
    assert changed
    assert all(i >= 6_400 and a["attributes"]["tenant"] == REGRESSING_TENANT for i, a, _ in changed)
    assert all(a["route"]["tier"] == "cheap" for _, a, _ in changed)
    assert all(
        b["route"]["tier"] == "flagship" and b["cost_usd"] > a["cost_usd"] for _, a, b in changed
    )
    after = [e for e in fixed.events[6_400:] if e["attributes"]["tenant"] == REGRESSING_TENANT]
    assert after and all(e["route"]["tier"] == "flagship" for e in after)
    with pytest.raises(ValueError, match="fix_at"):
        simulate(pairs, n_events=1_000, fix_at=0.4)
