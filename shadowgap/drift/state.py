"""One segment's signal between micro-batches: detector, running estimates, recent window.

A :class:`SignalState` is what ``detector_states.state`` stores, as versioned JSON
(:mod:`shadowgap.drift.codec`). It feeds values to
the detector, keeps the estimate of the current regime (the samples since the last reset), a
window of the most recent values for the alerting code, and the baseline: the level before the
most recent detected change, or the warm-up level before any detection. That is the level the
alerting code compares the recent window against to decide when a segment has recovered.

All means it reports (``recent_mean``, ``baseline``, a detection's before/after) are in the
detector's units: the 0/1 indicator for rates, raw values for latency and cost, the share for
traffic share, the unweighted flagship-wins rate for quality. The estimate's ``mean`` is the
signal's reported figure, which for quality is the weighted excess gap.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from shadowgap.drift import codec
from shadowgap.drift.budget import arl0_for_rate
from shadowgap.drift.changepoint import ChangeSummary
from shadowgap.drift.glr import BernoulliGLR
from shadowgap.drift.registry import AnyDetector, build_detector, retarget
from shadowgap.drift.signals import SIGNALS, SignalSpec
from shadowgap.stats.estimates import Interval, RecentWindow, WeightedMean, wilson_interval
from shadowgap.stats.excess_gap import WeightedSums, excess_gap, sums_of

_WEEK = 7 * 86_400.0
# A detector's rate is measured over at least an hour of event time. Over a shorter span the
# rate of a slow stream reads high (its ARL0 and threshold too: the safe side), while a fast
# stream's rate is known within minutes either way.
_MIN_RATE_SPAN = 3_600.0


@dataclass(frozen=True)
class Detection:
    """What a drift event row records about one alarm."""

    sample_index: int
    at_event_pk: int | None
    statistic: float | None
    threshold: float | None
    before_mean: float | None
    before_n: int
    after_mean: float | None
    after_n: int
    details: dict[str, Any] = field(default_factory=dict)


@codec.register
class SignalState:
    """Persisted state of one (segment, signal)."""

    def __init__(
        self,
        spec: SignalSpec,
        arl0: float,
        window: int,
        budget: tuple[float, int] | None = None,
    ) -> None:
        self.signal = spec.name
        self.detector_name = spec.detector
        self.arl0 = arl0
        self.detector: AnyDetector = build_detector(spec.detector, spec.params, arl0=arl0)
        self.n_updates = 0  # samples fed to the detector (all-traffic samples for the share)
        self.n_rows = 0  # rows that contributed a value
        self.regime = WeightedMean()  # since the last reset; weights 1/pi for quality
        self.noise = WeightedMean()  # quality only: flagship-vs-flagship, never reset
        # Quality only: the deployment's noise pairs, borrowed while the segment has few.
        self.global_noise = WeightedSums()
        self.recent = RecentWindow(window)
        self.baseline: float | None = None
        self.baseline_n = 0
        self.detections = 0
        self.last_event_id: int | None = None  # traffic share: previous segment event
        # Event time (epoch seconds) of the first and latest sample: the detector's own clock.
        self.first_at: float | None = None
        self.last_at: float | None = None
        # (false alarms per week, detectors sharing them); None: the ARL0 stays as given.
        self.budget = list(budget) if budget is not None else None
        self.next_resize = 1  # n_updates at which the ARL0 follows the rate next
        # Epoch seconds of the latest announced router change this state was re-baselined at.
        self.change_at: float | None = None

    @property
    def spec(self) -> SignalSpec:
        return SIGNALS[self.signal]

    # --- configuration that may change between batches ------------------------------------

    def retarget(self, arl0: float) -> None:
        """Move the CUSUM threshold to a new ARL0 (e.g. the segment count grew)."""
        if arl0 != self.arl0:
            retarget(self.detector, arl0)
            self.arl0 = arl0

    def set_window(self, window: int) -> None:
        self.recent = self.recent.resized(window)

    def set_budget(self, false_alarms_per_week: float, n_detectors: int) -> None:
        """The deployment's budget and how many detectors share it; re-sizes on a change."""
        budget = [false_alarms_per_week, n_detectors]
        if budget != self.budget:
            self.budget = budget
            if self.n_updates:
                self.retarget(self.arl0_for_rate())

    def samples_per_week(self) -> float:
        """Updates this detector sees per week of event time (at least an hour measured)."""
        if self.first_at is None or self.last_at is None or self.n_updates == 0:
            return 0.0
        span = max(self.last_at - self.first_at, _MIN_RATE_SPAN)
        return self.n_updates * _WEEK / span

    def arl0_for_rate(self) -> float:
        """``D * N_d / F`` for this detector's rate, rounded to a power of two (designs are
        cached per ARL0, so this keeps them few)."""
        assert self.budget is not None
        false_alarms, detectors = self.budget
        arl0 = arl0_for_rate(false_alarms, int(detectors), max(self.samples_per_week(), 1.0))
        return float(2.0 ** round(math.log2(arl0)))

    def _tick(self, at_time: float | None) -> None:
        """Note a sample's event time; follow the rate each time the sample count doubles.

        Re-sizing at fixed sample counts, not per batch, keeps the outcome independent of how
        the stream was cut into batches."""
        if at_time is not None:
            if self.first_at is None:
                self.first_at = at_time
            self.last_at = at_time if self.last_at is None else max(self.last_at, at_time)
        if self.budget is not None and self.n_updates >= self.next_resize:
            self.retarget(self.arl0_for_rate())
            while self.next_resize <= self.n_updates:
                self.next_resize *= 2

    def rebaseline(self, change_at: float) -> None:
        """An announced router change went live at ``change_at`` (epoch seconds): start over
        at the level after it, as after a detection, but without an alarm. The rate clock and
        the noise floor carry on (neither depends on the router); the level and its baseline
        do not."""
        self.detector._reset()
        self.regime = WeightedMean()
        self.recent = RecentWindow(self.recent.capacity)
        self.baseline, self.baseline_n = None, 0
        self.change_at = change_at

    def rebaselined_at(self) -> float | None:
        # States stored before re-baselining existed have no such attribute.
        return getattr(self, "change_at", None)

    # --- feeding --------------------------------------------------------------------------

    def feed(
        self,
        value: float,
        at_event_pk: int | None,
        weight: float = 1.0,
        at_time: float | None = None,
    ) -> Detection | None:
        """One value (with its sampling weight for the estimate, and its event time in epoch
        seconds); a detection or ``None``."""
        self._tick(at_time)
        self.n_rows += 1
        self.regime.add(value, weight)
        self.recent.add(value)
        index = self.n_updates
        # Binary detectors are annotated as taking bool; 0.0/1.0 is what they compute with.
        self.detector.update(value)  # type: ignore[arg-type]
        self.n_updates += 1
        if self.detector.drift_detected:
            return self._detected(index, at_event_pk)
        return None

    def feed_noise(self, value: float, weight: float) -> None:
        """A noise-floor verdict (quality only): estimate only, no detector."""
        self.noise.add(value, weight)

    def feed_gap(self, event_id: int, gap: int, at_time: float | None = None) -> list[Detection]:
        """A segment event closing ``gap`` all-traffic events: ``gap - 1`` zeros, then a one."""
        self._tick(at_time)
        detections: list[Detection] = []
        zeros = gap - 1
        update_zeros = getattr(self.detector, "update_zeros", None)
        while zeros > 0:
            if update_zeros is not None:
                consumed = update_zeros(zeros)
            else:
                self.detector.update(0)  # type: ignore[arg-type]
                consumed = 1
            zeros -= consumed
            self.n_updates += consumed
            if self.detector.drift_detected:
                detections.append(self._detected(self.n_updates - 1, event_id))
                update_zeros = getattr(self.detector, "update_zeros", None)
        self.n_rows += 1
        self.regime.add(float(gap))
        self.recent.add(float(gap))
        self.last_event_id = event_id
        index = self.n_updates
        self.detector.update(1)  # type: ignore[arg-type]
        self.n_updates += 1
        if self.detector.drift_detected:
            detections.append(self._detected(index, event_id))
        return detections

    def _detected(self, index: int, at_event_pk: int | None) -> Detection:
        summary = self._change_summary()
        detection = Detection(
            sample_index=index,
            at_event_pk=at_event_pk,
            statistic=_finite(getattr(self.detector, "statistic", None)),
            threshold=_finite(getattr(self.detector, "threshold", None)),
            before_mean=summary.before_mean,
            before_n=summary.before_n,
            after_mean=summary.after_mean,
            after_n=summary.after_n,
            details={
                "side": self._side(),
                "arl0": self.arl0,
                # Index (in this signal's sample stream) where the change is estimated to start.
                "change_sample_index": index - summary.after_n + 1,
                "previous_baseline": self.baseline,
            },
        )
        if summary.before_mean is not None:
            self.baseline, self.baseline_n = summary.before_mean, summary.before_n
        self.detections += 1
        # Start over at the new level: the detector re-estimates it in a fresh warm-up.
        self.detector._reset()
        self.regime = WeightedMean()
        return detection

    def _side(self) -> str | None:
        """Which way the level moved: the side that fired, or the one-sided detector's."""
        fired = getattr(self.detector, "fired", None)
        if fired is not None:
            return str(fired)
        params = self.spec.params
        if "direction" in params:
            return str(params["direction"])
        if "delta" in params:
            return "up" if params["delta"] > 0 else "down"
        return None

    def _change_summary(self) -> ChangeSummary:
        summary = getattr(self.detector, "change_summary", None)
        if summary is not None:
            return summary()
        # River's detectors keep no change point: take the recent window (at most the regime)
        # as "after" and the rest of the regime as "before".
        n = self.regime.n
        tail = self.recent.tail(n)
        regime_mean = self.regime.mean
        total = (regime_mean or 0.0) * n
        after_n, after_sum = len(tail), math.fsum(tail)
        before_n = n - after_n
        return ChangeSummary(
            before_n=before_n,
            before_mean=(total - after_sum) / before_n if before_n else None,
            after_n=after_n,
            after_mean=after_sum / after_n if after_n else None,
        )

    # --- reporting ------------------------------------------------------------------------

    @property
    def is_share(self) -> bool:
        return self.spec.estimator == "share"

    def recent_mean(self) -> float | None:
        if self.is_share:
            total = math.fsum(self.recent.values())
            return self.recent.count / total if total else None
        return self.recent.mean()

    def current_baseline(self) -> tuple[float | None, int]:
        if self.baseline is not None:
            return self.baseline, self.baseline_n
        level = getattr(self.detector, "baseline", None)
        if level is not None and level[0] is not None:
            return level
        if self.is_share:
            mean_gap = self.regime.mean
            return (1.0 / mean_gap if mean_gap else None), self.regime.n
        return self.regime.mean, self.regime.n

    def interval(self) -> Interval:
        """The signal's reported estimate over the current regime."""
        estimator = self.spec.estimator
        n = self.regime.n
        if estimator == "rate":
            return wilson_interval((self.regime.mean or 0.0) * n, n)
        if estimator == "share":
            total = (self.regime.mean or 0.0) * n
            interval = wilson_interval(n, total)
            return Interval(interval.mean, interval.low, interval.high, n)
        if estimator == "excess":
            result = excess_gap(sums_of(self.regime), sums_of(self.noise), self.global_noise)
            return Interval(result.excess, result.ci_low, result.ci_high, n)
        return self.regime.interval()

    @property
    def warming_up(self) -> bool:
        return bool(getattr(self.detector, "warming_up", False))

    def estimate(self) -> dict[str, Any]:
        """The JSON stored in ``detector_states.estimate`` and shown by the API."""
        interval = self.interval()
        baseline, baseline_n = self.current_baseline()
        out: dict[str, Any] = {
            "mean": _finite(interval.mean),
            "ci_low": _finite(interval.low),
            "ci_high": _finite(interval.high),
            "n": interval.n,
            "baseline": _finite(baseline),
            "baseline_n": baseline_n,
            "recent_mean": _finite(self.recent_mean()),
            "recent_n": self.recent.count,
            "statistic": _finite(getattr(self.detector, "statistic", None)),
            "threshold": _finite(getattr(self.detector, "threshold", None)),
            "warming_up": self.warming_up,
            "arl0": self.arl0,
            "detections": self.detections,
            "samples_per_week": _finite(self.samples_per_week()),
        }
        if self.spec.estimator == "excess":
            result = excess_gap(sums_of(self.regime), sums_of(self.noise), self.global_noise)
            noise = sums_of(self.noise)
            out.update(
                gap_rate=_finite(result.gap_rate),
                noise_rate=_finite(result.noise_rate),
                noise_n=self.noise.n,
                noise_source=result.noise_source,
                # The segment's own noise sums: the store pools them into the global floor.
                noise_sums=[noise.n, noise.w, noise.wy, noise.w2, noise.w2y],
            )
        if isinstance(self.detector, BernoulliGLR):
            # Unweighted counts since the last reset: what the pooled prior is fitted on.
            out.update(detector_ones=self.detector.ones, detector_n=self.detector.n)
        return out

    def set_global_noise(self, noise: WeightedSums) -> None:
        """The deployment's noise pairs (quality only; see :func:`excess_gap`)."""
        self.global_noise = noise

    def set_prior(self, prior: tuple[float, float] | None) -> None:
        """The pooled prior of a GLR detector (other detectors need none)."""
        if isinstance(self.detector, BernoulliGLR):
            self.detector.set_prior(prior)


def _finite(value: float | None) -> float | None:
    """JSON has no inf/nan: such values become null."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None
