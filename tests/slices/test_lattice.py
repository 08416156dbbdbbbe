"""The slice search on seeded synthetic judged pairs: finds a planted slice, finds nothing on
null data, and tests what it says it tests."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from shadowgap.slices.lattice import (
    Candidate,
    PairTable,
    SearchParams,
    _Lattice,
    _Narrowing,
    build_table,
    level_weights,
    members_of,
    search,
    sums_of,
)

REGRESSED_PAIRS, REGRESSED_WINS = 150, 53


def synthetic(seed: int, n: int, planted: list[tuple[str, str]] | None, effect: float = 0.3):
    rng = np.random.default_rng(seed)
    features = []
    for _ in range(n):
        features.append(
            {
                "tenant": f"t{rng.choice(8, p=[0.3, 0.2, 0.15, 0.1, 0.1, 0.08, 0.05, 0.02])}",
                "api_key_alias": f"k{rng.integers(0, 6)}",
                "script": ["latin", "han", "cyrillic"][rng.choice(3, p=[0.8, 0.1, 0.1])],
                "user": f"u{rng.integers(0, 2000)}",
                "tag": [f"surface:{rng.choice(['chat', 'api', 'ide'])}"],
            }
        )
    weights = rng.choice([10.0, 25.0, 50.0], size=n)
    table = build_table([f"e{i}" for i in range(n)], np.zeros(n), weights, [None] * n, features)
    base = np.full(n, 0.2)
    if planted:
        base = base + effect * members_of(table, planted)
    table.y = (rng.random(n) < base).astype(float)
    table.noise_y = np.where(rng.random(n) < 0.2, (rng.random(n) < 0.05) * 1.0, np.nan)
    return table


def test_finds_the_planted_two_condition_slice_first() -> None:
    planted = [("tenant", "t2"), ("api_key_alias", "k3")]
    table = synthetic(7, 6000, planted)
    result = search(table, SearchParams())
    assert result.slices, "no slice found"
    top = result.slices[0]
    truth = members_of(table, planted)
    # The planted pair, or it narrowed by a condition most of its rows meet (script=latin,
    # 80% of traffic) when that part happened to hold more of the flagship wins.
    assert set(planted) <= set(top.conditions)
    assert (top.members & truth).sum() / (top.members | truth).sum() >= 0.7
    assert top.q_value <= 0.05 and top.difference > 0.2
    assert top.excess["ci_low"] > top.complement["ci_high"]
    assert all(event_id.startswith("e") for event_id in top.example_event_ids)
    assert result.level_counts[1] > 0 and result.level_counts[2] > 0


def test_finds_a_tag_slice() -> None:
    table = synthetic(11, 5000, [("tag", "surface:ide"), ("script", "han")], effect=0.4)
    found = search(table).slices
    assert found and {("script", "han"), ("tag", "surface:ide")} <= set(found[0].conditions)


def test_nothing_on_null_data() -> None:
    # Weights vary 5x row by row here (harsher than per-segment sampling); before BH counted
    # the whole eligible family, 20 such runs gave about 8 false slices.
    false_slices = sum(len(search(synthetic(seed, 4000, None)).slices) for seed in range(20))
    assert false_slices <= 3


def test_too_few_pairs_tests_nothing() -> None:
    result = search(synthetic(3, 60, [("tenant", "t0")]))
    assert result.tested == 0 and result.slices == []


def layered(n_outside: int, inside: list[tuple[dict[str, str], int, int]]) -> PairTable:
    """Deterministic pairs: ``n_outside`` rows spread evenly over tenants o0-o6 x keys k0-k2
    with exactly 20% flagship wins in every combination, plus the listed groups of
    (features, pairs, wins). Nothing random, so every slice's z is known exactly."""
    features: list[dict[str, str | list[str] | None]] = []
    y: list[float] = []
    for i in range(n_outside):
        features.append({"tenant": f"o{i % 7}", "api_key_alias": f"k{(i // 7) % 3}"})
        y.append(1.0 if (i // 21) % 5 == 0 else 0.0)
    for group, pairs, wins in inside:
        for j in range(pairs):
            features.append(dict(group))
            y.append(1.0 if j < wins else 0.0)
    n = len(y)
    return build_table([f"e{i}" for i in range(n)], y, [1.0] * n, [None] * n, features)


def test_reports_the_slice_that_carries_the_excess_not_a_wider_one() -> None:
    # tenant=t1 holds key ka (60 pairs, 30 wins) and key kb (20 pairs, 7 wins). The wider
    # tenant=t1 is a little *more* significant than ka alone (7 wins in 20 add to its z), but
    # those 20 rows are not significantly worse than the rest of the traffic: the excess is
    # ka's, and it is what must be reported (before: tenant=t1, an overlap of only 0.75).
    table = layered(
        4200,
        [
            ({"tenant": "t1", "api_key_alias": "ka"}, 60, 30),
            ({"tenant": "t1", "api_key_alias": "kb"}, 20, 7),
        ],
    )
    truth = members_of(table, [("api_key_alias", "ka")])
    wider = members_of(table, [("tenant", "t1")])
    assert truth.sum() == 60 and wider.sum() == 80
    found = search(table).slices
    assert found, "nothing found"
    assert found[0].conditions == [("api_key_alias", "ka")]
    assert len(found) == 1  # tenant=t1 is the same finding, not a second one


def test_keeps_the_wider_slice_when_its_extra_rows_are_regressed_too() -> None:
    # Same shape, but kb's 20 rows lose as often as ka's: the regression is tenant-wide, and
    # the narrower description would drop a quarter of it.
    table = layered(
        4200,
        [
            ({"tenant": "t1", "api_key_alias": "ka"}, 60, 30),
            ({"tenant": "t1", "api_key_alias": "kb"}, 20, 10),
        ],
    )
    found = search(table).slices
    assert found and found[0].conditions == [("tenant", "t1")]


def test_single_condition_gets_a_level_share_of_the_error_budget() -> None:
    # One regressed tenant among 7 x 3 x 6 x 5 other values: hundreds of eligible pairs and
    # an estimated family of triples dwarf the ~20 single values. Unweighted BH over that
    # family needs a lone discovery's z above the uniform threshold; an equal share per level
    # lets a single condition through at about fdr / (3 m1), and this one sits in between
    # (families 22 / 161 / 660: z 3.53 against 3.17 weighted and 3.85 uniform).
    params = SearchParams()
    features: list[dict[str, str | list[str] | None]] = []
    y: list[float] = []
    for i in range(8400):
        features.append(
            {
                "tenant": f"o{i % 7}",
                "api_key_alias": f"k{(i // 7) % 3}",
                "template": f"t{(i // 21) % 6}",
                "script": f"s{(i // 126) % 5}",
            }
        )
        y.append(1.0 if (i // 630) % 5 == 0 else 0.0)
    for j in range(REGRESSED_PAIRS):
        features.append({"tenant": "regressed"})
        y.append(1.0 if j < REGRESSED_WINS else 0.0)
    n = len(y)
    table = build_table([f"e{i}" for i in range(n)], y, [1.0] * n, [None] * n, features)
    result = search(table, params)
    family = sum(result.families.values())
    assert result.families[1] * 3 < family  # levels 2 and 3 hold most hypotheses
    weights = level_weights(result.families)
    assert sum(weights[k] * m for k, m in result.families.items()) == pytest.approx(family)
    uniform_needed = stats.norm.isf(params.fdr / family)
    weighted_needed = stats.norm.isf(params.fdr * weights[1] / family)
    found = [s for s in result.slices if s.conditions == [("tenant", "regressed")]]
    assert found, [s.conditions for s in result.slices]
    assert weighted_needed < found[0].z < uniform_needed


@pytest.mark.parametrize(
    ("other_team_wins", "named"),
    [
        (27, "tenant"),  # 45% against ta's 50%: one regression, the tenant's
        (12, "team"),  # 20%, the base rate: the regression is ta's alone
        (48, "team"),  # 80%: ta is the milder part of a worse tenant, not its description
    ],
)
def test_a_team_widens_to_its_tenant_only_when_the_tenant_is_regressed_alike(
    other_team_wins: int, named: str
) -> None:
    # The search can name a regressed tenant by its most significant team when chance makes
    # that team stand out; "tenant" is none of the team slice's conditions, so only a wider
    # slice found by its rows (not by dropping a condition) can replace it.
    table = layered(
        4200,
        [
            ({"tenant": "t1", "team": "ta"}, 60, 30),
            ({"tenant": "t1", "team": "tb"}, 60, other_team_wins),
        ],
    )
    lattice = _Lattice(table, SearchParams())
    code = {value: i for i, value in enumerate(table.values)}
    team = Candidate((code[("team", "ta")],), sums_of(table, members_of(table, [("team", "ta")])))
    tenant_rows = members_of(table, [("tenant", "t1")])
    tenant = Candidate((code[("tenant", "t1")],), sums_of(table, tenant_rows), z=9.0)
    chosen = _Narrowing(lattice, [team, tenant]).widest_supported(team)
    assert chosen is (tenant if named == "tenant" else team)
