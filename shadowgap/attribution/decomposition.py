"""Why expected flagship wins (or cost) per request moved: router share, cheap path, mix.

Within router-score band ``k`` (see :mod:`shadowgap.attribution.bands`) a period has a traffic
share ``m_k`` (the mix), a share routed cheap ``s_k`` (the router) and a Hajek flagship-wins
rate ``g_k`` of the judged cheap-routed requests (the cheap path on comparable requests). The
expected number of requests per request where the flagship would have answered better is

    Q = sum_k m_k * s_k * g_k

and its change between two periods is split over the three factors by Shapley
(:func:`shadowgap.stats.shapley.shapley_decomposition`): the parts add up to the whole change
whatever the order. Cost per request is ``sum_k m_k (s_k c_k + (1 - s_k) f_k)`` with the cheap
and flagship paths' mean router-reported costs ``c_k``, ``f_k`` per band, split the same way
(the third factor is then the paths' cost on comparable requests).

Without router scores the mix inside the segment cannot be seen: there is one band and two
factors, the router's share and "the cheap path on this traffic" (the cheap path's quality, or
the paths' costs, together with any change in what the segment asks).

Where a band has no judged pair (or no cost) in one period, that period borrows the other's
value for it, so the missing figure moves nothing; with none in either, the period's overall
value is used; a period with none at all (an alert raised on routing share before the shadow
runs of its after-window are judged) borrows the other's overall value, so that the bands
only it routes cheap do not count as never lost to the flagship. Intervals are percentile
bootstraps over each period's events (verdicts travel with their events), 95%.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from shadowgap.attribution.bands import Bands, has_scores, score_bands, single_band
from shadowgap.attribution.periods import Period
from shadowgap.stats.bootstrap import DEFAULT_RESAMPLES, bootstrap_intervals
from shadowgap.stats.shapley import shapley_decomposition

QUALITY_FACTORS = ("router_share", "cheap_quality", "traffic_mix")
COST_FACTORS = ("router_share", "path_cost", "traffic_mix")
# Without scores, (b) and (c) are one factor.
UNSCORED_QUALITY_FACTORS = ("router_share", "cheap_path")
UNSCORED_COST_FACTORS = ("router_share", "path_cost_on_traffic")
MAX_BOOTSTRAP_EVENTS = 5_000


@dataclass(frozen=True)
class Decomposition:
    """A change split into factors, each with a 95% bootstrap interval (None: too few rows)."""

    metric: str
    scored: bool
    before: float
    after: float
    change: float
    parts: dict[str, float]
    change_ci: tuple[float, float] | None
    parts_ci: dict[str, tuple[float, float] | None]
    share_ci: dict[str, tuple[float, float] | None]
    band_edges: list[float]

    def shares(self) -> dict[str, float | None]:
        """Each factor's part of the change (sums to 1); None when nothing changed."""
        if abs(self.change) < 1e-12:
            return {name: None for name in self.parts}
        return {name: part / self.change for name, part in self.parts.items()}


def _grouped(band: np.ndarray, k: int, weights: np.ndarray | None = None) -> np.ndarray:
    """Per-row sums by band: ``band`` and ``weights`` of shape (B, n) -> (B, k)."""
    rows = band.shape[0]
    flat = (band + (np.arange(rows) * k)[:, None]).ravel()
    sums = np.bincount(
        flat, weights=None if weights is None else weights.ravel(), minlength=rows * k
    )
    return sums.reshape(rows, k)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    out = np.full(num.shape, np.nan)
    np.divide(num, den, out=out, where=den > 0)
    return out


def _fill(own: np.ndarray, other: np.ndarray, overall: np.ndarray) -> np.ndarray:
    """Own band values, else the other period's, else this period's overall value, else 0."""
    filled = np.where(np.isfinite(own), own, other)
    filled = np.where(np.isfinite(filled), filled, np.broadcast_to(overall, own.shape))
    return np.where(np.isfinite(filled), filled, 0.0)


def _overall(own: np.ndarray, other: np.ndarray) -> np.ndarray:
    """A period's overall value, or the other period's when it has none."""
    return np.where(np.isfinite(own), own, other)


@dataclass(frozen=True)
class _Tables:
    m: np.ndarray  # (B, k) traffic share per band
    s: np.ndarray  # share routed cheap per band (NaN: empty band)
    g: np.ndarray  # Hajek flagship-wins rate of judged cheap requests (NaN: none)
    g_all: np.ndarray  # (B, 1) the period's overall rate
    c: np.ndarray  # mean cost of cheap requests per band
    c_all: np.ndarray
    f: np.ndarray  # mean cost of flagship requests per band
    f_all: np.ndarray


def _tables(period: Period, band: np.ndarray, idx: np.ndarray, k: int) -> _Tables:
    b = band[idx]
    ew = np.ones(idx.shape) if period.event_weight is None else period.event_weight[idx]
    count = _grouped(b, k, ew)
    cheap = period.cheap[idx]
    n_cheap = _grouped(b, k, cheap * ew)
    w = period.verdict_weight[idx]
    sw, swy = _grouped(b, k, w), _grouped(b, k, w * period.flagship_won[idx])
    cost = period.cost[idx]
    known = np.isfinite(cost)
    cost0 = np.where(known, cost, 0.0)
    cheap_known, flag_known = known * cheap * ew, known * (1.0 - cheap) * ew
    c_n, c_sum = _grouped(b, k, cheap_known), _grouped(b, k, cost0 * cheap * ew)
    f_n, f_sum = _grouped(b, k, flag_known), _grouped(b, k, cost0 * (1.0 - cheap) * ew)
    total = count.sum(axis=1, keepdims=True)

    def overall(num: np.ndarray, den: np.ndarray) -> np.ndarray:
        return _ratio(num.sum(axis=1, keepdims=True), den.sum(axis=1, keepdims=True))

    return _Tables(
        m=_ratio(count, np.broadcast_to(total, count.shape)),
        s=_ratio(n_cheap, count),
        g=_ratio(swy, sw),
        g_all=overall(swy, sw),
        c=_ratio(c_sum, c_n),
        c_all=overall(c_sum, c_n),
        f=_ratio(f_sum, f_n),
        f_all=overall(f_sum, f_n),
    )


def _factors(t: _Tables, o: _Tables, metric: str, scored: bool) -> dict[str, Any]:
    """One period's factor values, gaps filled from the other period ``o``."""
    m = np.where(np.isfinite(t.m), t.m, 0.0)
    s = _fill(t.s, o.s, np.zeros_like(t.g_all))
    if metric == "quality":
        path: Any = _fill(t.g, o.g, _overall(t.g_all, o.g_all))
    else:
        path = (
            _fill(t.c, o.c, _overall(t.c_all, o.c_all)),
            _fill(t.f, o.f, _overall(t.f_all, o.f_all)),
        )
    names = _factor_names(metric, scored)
    values = {names[0]: s, names[1]: path}
    if scored:
        values[names[2]] = m
    return values


def _factor_names(metric: str, scored: bool) -> tuple[str, ...]:
    if metric == "quality":
        return QUALITY_FACTORS if scored else UNSCORED_QUALITY_FACTORS
    return COST_FACTORS if scored else UNSCORED_COST_FACTORS


def _value_fn(metric: str, scored: bool, m_fixed: np.ndarray) -> Callable[[Mapping[str, Any]], Any]:
    names = _factor_names(metric, scored)

    def value(x: Mapping[str, Any]) -> Any:
        s, path = x[names[0]], x[names[1]]
        m = x[names[2]] if scored else m_fixed
        if metric == "quality":
            return (m * s * path).sum(axis=-1)
        cheap_cost, flagship_cost = path
        return (m * (s * cheap_cost + (1.0 - s) * flagship_cost)).sum(axis=-1)

    return value


def _evaluate(
    before: Period,
    after: Period,
    bands: Bands,
    metric: str,
    scored: bool,
    idx_before: np.ndarray,
    idx_after: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """``(value before, value after, parts)``, each of shape (B,)."""
    k = bands.count
    tb = _tables(before, bands.before, idx_before, k)
    ta = _tables(after, bands.after, idx_after, k)
    fb, fa = _factors(tb, ta, metric, scored), _factors(ta, tb, metric, scored)
    # Without scores the mix is not a factor: both periods are one band holding everything.
    value = _value_fn(metric, scored, _one_band(k))
    parts = shapley_decomposition(value, fb, fa)
    return value(fb), value(fa), parts


def _one_band(k: int) -> np.ndarray:
    m = np.zeros((1, k))
    m[0, 0] = 1.0
    return m


def _thinned(period: Period, rng: np.random.Generator) -> tuple[np.ndarray, Period]:
    """Rows kept for the bootstrap and the thinned period (see the module docstring)."""
    n = len(period)
    if n <= MAX_BOOTSTRAP_EVENTS:
        return np.arange(n), period
    judged = np.flatnonzero(period.verdict_weight > 0)
    unjudged = np.flatnonzero(period.verdict_weight == 0)
    room = max(MAX_BOOTSTRAP_EVENTS - judged.size, MAX_BOOTSTRAP_EVENTS // 2)
    if unjudged.size <= room:
        return np.arange(n), period
    picked = np.sort(rng.choice(unjudged, size=room, replace=False))
    keep = np.concatenate([judged, picked])
    weight = np.concatenate([np.ones(judged.size), np.full(room, unjudged.size / room)])
    return keep, period.rows(keep, weight)


def decompose(
    before: Period,
    after: Period,
    metric: str = "quality",
    *,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> Decomposition:
    """Split the change of ``metric`` ('quality' or 'cost') between two periods."""
    if metric not in ("quality", "cost"):
        raise ValueError("metric must be 'quality' or 'cost'")
    if len(before) == 0 or len(after) == 0:
        raise ValueError("both periods need events")
    scored = has_scores(before) and has_scores(after)
    bands = score_bands(before, after) if scored else single_band(before, after)
    names = _factor_names(metric, scored)
    whole_b = np.arange(len(before))[None, :]
    whole_a = np.arange(len(after))[None, :]
    vb, va, parts = _evaluate(before, after, bands, metric, scored, whole_b, whole_a)

    rng = np.random.default_rng(seed)
    keep_b, thin_b = _thinned(before, rng)
    keep_a, thin_a = _thinned(after, rng)
    thin_bands = Bands(bands.edges, bands.before[keep_b], bands.after[keep_a])

    def statistic(ib: np.ndarray, ia: np.ndarray, axis: int = -1) -> np.ndarray:
        ib2, ia2 = ib.reshape(-1, ib.shape[-1]), ia.reshape(-1, ia.shape[-1])
        b, a, p = _evaluate(thin_b, thin_a, thin_bands, metric, scored, ib2, ia2)
        change = a - b
        contributions = [p[name] for name in names]
        with np.errstate(divide="ignore", invalid="ignore"):
            shares = [c / change for c in contributions]
        return np.stack([change, *contributions, *shares]).reshape(
            (1 + 2 * len(names), *ib.shape[:-1])
        )

    intervals = bootstrap_intervals(
        [np.arange(len(thin_b)), np.arange(len(thin_a))],
        statistic,
        n_resamples=n_resamples,
        seed=seed,
    )

    def ci(i: int) -> tuple[float, float] | None:
        if intervals is None:
            return None
        low, high = float(intervals[0][i]), float(intervals[1][i])
        return (low, high) if np.isfinite(low) and np.isfinite(high) else None

    return Decomposition(
        metric=metric,
        scored=scored,
        before=float(vb[0]),
        after=float(va[0]),
        change=float(va[0] - vb[0]),
        parts={name: float(parts[name][0]) for name in names},
        change_ci=ci(0),
        parts_ci={name: ci(1 + i) for i, name in enumerate(names)},
        share_ci={name: ci(1 + len(names) + i) for i, name in enumerate(names)},
        band_edges=bands.edges,
    )
