"""The demo's simulated router: the regression is injected into the small tenant only."""

from __future__ import annotations

from service.demo.traffic import REGRESSING_TENANT, TENANT_SHARES, load_pairs, simulate
from tests.conftest import GSM8K_CSV


def _share(events: list[dict], tenant: str, key) -> float:  # type: ignore[no-untyped-def,type-arg]
    mine = [e for e in events if e["attributes"]["tenant"] == tenant]
    return sum(key(e) for e in mine) / len(mine)


def test_shift_only_in_the_small_tenant() -> None:
    pairs = load_pairs(GSM8K_CSV)
    assert len(pairs) == 1319
    traffic = simulate(pairs, n_events=48_000)
    before, after = traffic.events[: traffic.shift_index], traffic.events[traffic.shift_index :]
    hard = {p.prompt for p in pairs if not p.cheap_correct}

    def cheap(e: dict) -> bool:  # type: ignore[type-arg]
        return e["route"]["tier"] == "cheap"

    def hard_on_cheap(e: dict) -> bool:  # type: ignore[type-arg]
        return cheap(e) and e["request"]["messages"][0]["content"] in hard

    for tenant in TENANT_SHARES:
        routing = _share(after, tenant, cheap) - _share(before, tenant, cheap)
        quality = _share(after, tenant, hard_on_cheap) - _share(before, tenant, hard_on_cheap)
        if tenant == REGRESSING_TENANT:
            assert routing > 0.15 and quality > 0.2
        else:
            assert abs(routing) < 0.03 and abs(quality) < 0.03
    volume = sum(e["attributes"]["tenant"] == REGRESSING_TENANT for e in traffic.events)
    assert 0.02 < volume / len(traffic.events) < 0.04
    assert len({e["event_id"] for e in traffic.events}) == len(traffic.events)


def test_router_decides_from_its_score_and_the_attribution_names_the_router() -> None:
    import numpy as np

    from service.attribution.decomposition import decompose
    from service.attribution.periods import Period

    pairs = load_pairs(GSM8K_CSV)
    traffic = simulate(pairs, n_events=48_000)
    by_prompt = {p.prompt: p for p in pairs}
    for i, event in enumerate(traffic.events):
        cheap = event["route"]["tier"] == "cheap"
        shifted = i >= traffic.shift_index and event["attributes"]["tenant"] == REGRESSING_TENANT
        assert cheap == (event["route"]["score"] < (0.9 if shifted else 0.5))

    def period(events: list[dict]) -> Period:  # type: ignore[type-arg]
        # Every cheap request judged: the flagship wins where it is right and the cheap is not.
        n = len(events)
        cheap = np.array([e["route"]["tier"] == "cheap" for e in events], dtype=float)
        won = np.array(
            [
                (lambda p: p.flagship_correct and not p.cheap_correct)(
                    by_prompt[e["request"]["messages"][0]["content"]]
                )
                for e in events
            ],
            dtype=float,
        )
        return Period(
            score=np.array([e["route"]["score"] for e in events]),
            cheap=cheap,
            verdict_weight=cheap.copy(),
            flagship_won=won * cheap,
            cost=np.array([e["cost_usd"] for e in events]),
            latency=np.array([e["latency_ms"] for e in events]),
            escalated=np.zeros(n),
        )

    mine = [e for e in traffic.events if e["attributes"]["tenant"] == REGRESSING_TENANT]
    split = sum(
        1
        for e in traffic.events[: traffic.shift_index]
        if e["attributes"]["tenant"] == REGRESSING_TENANT
    )
    d = decompose(period(mine[:split]), period(mine[split:]), n_resamples=0)
    shares = d.shares()
    assert d.change > 0.1
    # The demo injects a raised threshold and harder questions, nothing about the cheap model.
    # The harder questions cost quality only because the broken rule sends them cheap (under
    # the old threshold most would go to the flagship), so the router gets most of the rise:
    # about 76% router, 13% cheap path, 12% mix on the seeded stream.
    assert max(shares, key=lambda k: shares[k] or 0.0) == "router_share"
    assert shares["router_share"] > 0.6 and shares["traffic_mix"] > 0  # type: ignore[operator]
    assert abs(shares["cheap_quality"]) < 0.25  # type: ignore[arg-type]
