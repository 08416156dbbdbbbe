"""Inverse-probability-weighted rates for judged pairs, with normal-approximation intervals.

Sampled pairs carry ``w = 1 / inclusion_probability``; a segment's rate is the Hajek estimator
sum(w*y) / sum(w), which stays unbiased when the segment's sampling rate changed within the
period. Its variance uses the linearised form n/(n-1) sum(w^2 (y - p)^2) / sum(w)^2 (the same
as :class:`shadowgap.stats.estimates.WeightedMean`), expanded so that SQL can hand over five sums
instead of the rows. Nothing here imports evidently, so the dashboard shares it.

This is the one definition of the excess gap: the detectors' reported estimate (through
:func:`sums_of`), the API, the dashboard, the alerts and the weekly report all call
:func:`excess_gap`, with the same noise-floor fallback, and every view windows by event time.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from scipy import stats

from shadowgap.stats.estimates import Z_95, WeightedMean

# Below this many noise pairs a segment borrows the deployment-wide noise floor: the flagship's
# run-to-run noise is mostly a model property, and a handful of pairs would make it pure noise.
MIN_SEGMENT_NOISE_PAIRS = 30


@dataclass(frozen=True)
class WeightedSums:
    """Sums over judged pairs of one kind: n, sum w, sum w*y, sum w^2, sum w^2*y (y in {0,1})."""

    n: int = 0
    w: float = 0.0
    wy: float = 0.0
    w2: float = 0.0
    w2y: float = 0.0

    @classmethod
    def of(cls, values: Iterable[float | None]) -> WeightedSums:
        """From the five sums in order (n, w, wy, w2, w2y); SQL's NULL sums of no rows are 0."""
        n, w, wy, w2, w2y = (float(v or 0) for v in values)
        return cls(int(n), w, wy, w2, w2y)

    def __add__(self, other: WeightedSums) -> WeightedSums:
        return WeightedSums(
            self.n + other.n,
            self.w + other.w,
            self.wy + other.wy,
            self.w2 + other.w2,
            self.w2y + other.w2y,
        )

    @property
    def rate(self) -> float | None:
        return self.wy / self.w if self.n and self.w > 0 else None

    @property
    def variance(self) -> float | None:
        p = self.rate
        if p is None or self.n < 2:
            return None
        # sum w^2 (y-p)^2 with y binary = sum w^2 y (1 - 2p) + p^2 sum w^2
        numerator = self.w2y * (1.0 - 2.0 * p) + p * p * self.w2
        return max(numerator, 0.0) / (self.w * self.w) * self.n / (self.n - 1)


def sums_of(mean: WeightedMean) -> WeightedSums:
    """The five sums of a running :class:`WeightedMean` of 0/1 values (it keeps them shifted by
    its first value; undoing the shift is exact for binary values)."""
    shift = mean.shift
    return WeightedSums(
        n=mean.n,
        w=mean.sw,
        wy=mean.swy + shift * mean.sw,
        w2=mean.sw2,
        w2y=mean.sw2y + shift * mean.sw2,
    )


@dataclass(frozen=True)
class ExcessGap:
    """Gap rate minus the noise floor, with a 95% interval and where the floor came from."""

    gap_rate: float | None
    noise_rate: float | None
    excess: float | None
    ci_low: float | None
    ci_high: float | None
    gap_pairs: int
    noise_pairs: int
    noise_source: str  # segment | global | none


def noise_floor(noise: WeightedSums, global_noise: WeightedSums) -> tuple[WeightedSums, str]:
    """The noise pairs a segment's floor comes from, and their source (segment | global |
    none): its own with at least :data:`MIN_SEGMENT_NOISE_PAIRS`, else the deployment's."""
    if noise.n >= MIN_SEGMENT_NOISE_PAIRS and noise.rate is not None:
        return noise, "segment"
    if noise.n < MIN_SEGMENT_NOISE_PAIRS and global_noise.rate is not None:
        return global_noise, "global"
    return WeightedSums(), "none"


def excess_gap(gap: WeightedSums, noise: WeightedSums, global_noise: WeightedSums) -> ExcessGap:
    """Excess gap of one segment; borrows ``global_noise`` when the segment has too few pairs."""
    floor, source = noise_floor(noise, global_noise)
    gap_rate = gap.rate
    noise_rate = floor.rate if floor.n else 0.0
    if gap_rate is None:
        return ExcessGap(None, floor.rate, None, None, None, gap.n, noise.n, source)
    excess = gap_rate - (noise_rate or 0.0)
    var = (gap.variance or 0.0) + (floor.variance or 0.0)
    half = Z_95 * math.sqrt(var)
    return ExcessGap(
        gap_rate, floor.rate, excess, excess - half, excess + half, gap.n, noise.n, source
    )


def standard_error(gap: ExcessGap) -> float | None:
    """The excess gap's standard error (its 95% interval is the estimate +- Z_95 of them)."""
    if gap.excess is None or gap.ci_high is None:
        return None
    return (gap.ci_high - gap.excess) / Z_95


def one_sided_bound(gap: ExcessGap, confidence: float, *, upper: bool = True) -> float | None:
    """One-sided confidence bound of the excess gap (normal, as its 95% interval): the upper
    bound certifies "under the target", the lower one "breaks the target"."""
    se = standard_error(gap)
    if gap.excess is None or se is None:
        return None
    z = float(stats.norm.ppf(confidence))
    return gap.excess + z * se if upper else gap.excess - z * se
