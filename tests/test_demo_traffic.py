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
