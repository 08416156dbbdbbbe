"""Candidates from signals that need no judging (issue 23): slices whose traffic moved.

Judged pairs are 2% of traffic; the slice features are on every request. A regression often
comes with a move that every request shows: a scripted key starts bursting (its share of
traffic, i.e. its cadence, jumps), a template appears, the router sends a slice's requests
down the cheap path more often, or its calls start failing. Such a slice is worth pairs before
any judged evidence says so, so exploration nominates it ahead of the judged suspects.

For every feature value of the current period (the last ``RECENT_DAYS`` of event time) and the
reference period (the ``REFERENCE_DAYS`` before it), three proportions are compared:

- **traffic share**: the value's requests among all requests (its cadence, its template mix);
- **routing share**: its requests routed cheap among its requests;
- **error rate**: its requests the sender reported as failed among its requests.

Each is a two-sided test of two binomial proportions, the signed root of the likelihood ratio
(:func:`shadowgap.stats.two_sample.signed_root_lr`), Bonferroni-corrected over every value and
signal tested: a move nominates only if it would be significant on its own at
``MOVE_ALPHA`` family-wise. Only values with ``MIN_EVENTS`` requests in the current period are
tested (a rare value's share moves by chance), and only moves that are large in relative terms
(``MIN_RATIO``): at 100% of traffic even a trivial drift is significant. Nomination only steers
sampling; a mover is confirmed, like any watch, on judged pairs after its nomination.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
from scipy import stats

from shadowgap.slices.lattice import FeatureValue
from shadowgap.stats.two_sample import SumArrays, signed_root_lr

RECENT_DAYS = 1.0
REFERENCE_DAYS = 7.0
MIN_EVENTS = 30  # fewest requests of a value in the current period for its moves to count
MIN_RATIO = 1.5  # a proportion must change at least this much (up or down, as a ratio)
MOVE_ALPHA = 0.01  # family-wise level over every value and signal tested
# Features derived at discovery (cadence) or too fine to act on alone (a user is a key's
# share already, without the long tail) are not tested.
SKIPPED = frozenset({"cadence", "user"})


@dataclass
class Counts:
    """Requests of one feature value in one period: all, routed cheap, failed."""

    events: int = 0
    cheap: int = 0
    errors: int = 0


@dataclass(frozen=True)
class Mover:
    """A feature value whose traffic moved: which signal, before and now, and the test."""

    condition: FeatureValue
    signal: str  # traffic_share | routing_share | error_rate
    before: float
    now: float
    z: float
    p_value: float  # Bonferroni-corrected
    cheap_per_day: float  # its cheap requests a day in the current period


def count(rows: Iterable[tuple[Mapping[str, object], bool, bool]]) -> dict[FeatureValue, Counts]:
    """Per feature value, the counts of ``(features, routed_cheap, failed)`` rows."""
    out: dict[FeatureValue, Counts] = {}
    for features, cheap, failed in rows:
        for name, value in features.items():
            if name in SKIPPED or value is None:
                continue
            for one in value if isinstance(value, list) else [value]:
                counts = out.setdefault((name, str(one)), Counts())
                counts.events += 1
                counts.cheap += bool(cheap)
                counts.errors += bool(failed)
    return out


def _binomial(successes: float, trials: float) -> SumArrays:
    """Unweighted counts as the weighted sums (n, sum w, sum w*y, sum w^2, sum w^2*y)."""
    n, k = np.asarray([trials], dtype=np.float64), np.asarray([successes], dtype=np.float64)
    return SumArrays(n, n, k, n, k)


def movers(
    recent: Mapping[FeatureValue, Counts],
    reference: Mapping[FeatureValue, Counts],
    recent_total: int,
    reference_total: int,
    recent_days: float = RECENT_DAYS,
) -> list[Mover]:
    """The values whose traffic share, routing share or error rate moved (module doc), the
    largest move first."""
    tests: list[tuple[FeatureValue, str, int, int, int, int]] = []
    for condition, now in recent.items():
        if now.events < MIN_EVENTS:
            continue
        before = reference.get(condition, Counts())
        pairs = [
            ("traffic_share", now.events, recent_total, before.events, reference_total),
            ("routing_share", now.cheap, now.events, before.cheap, before.events),
            ("error_rate", now.errors, now.events, before.errors, before.events),
        ]
        for signal, k_now, n_now, k_before, n_before in pairs:
            if n_now <= 0 or n_before <= 0:
                continue
            tests.append((condition, signal, k_now, n_now, k_before, n_before))
    if not tests:
        return []
    family = len(tests)
    out = []
    for condition, signal, k_now, n_now, k_before, n_before in tests:
        rate_now, rate_before = k_now / n_now, k_before / n_before
        high, low = max(rate_now, rate_before), min(rate_now, rate_before)
        if high <= 0 or (low > 0 and high / low < MIN_RATIO):
            continue
        z = float(signed_root_lr(_binomial(k_now, n_now), _binomial(k_before, n_before))[0])
        p_value = min(1.0, 2.0 * float(stats.norm.sf(abs(z))) * family)
        if p_value > MOVE_ALPHA:
            continue
        cheap_per_day = recent[condition].cheap / max(recent_days, 1e-9)
        out.append(Mover(condition, signal, rate_before, rate_now, z, p_value, cheap_per_day))
    return sorted(out, key=lambda m: -abs(m.z))
