"""What a segment's detectors can see at their current sampling rate.

For each signal: the smallest change it detects within ``detection_days`` of event time (the
minimal detectable effect) and the expected time to detect the change it is sized for
(``min_detectable_effect`` for quality, the signal's own ``shift`` for the other rates, half a
standard deviation for latency and cost). Delays use Wald's approximation, threshold over the
information per sample (:func:`shadowgap.drift.budget.glr_delay`; Siegmund's ARL for the
Gaussian CUSUMs), with the detector's current threshold and rate: they read as "about",
not as guarantees. Traffic share is sized by all traffic and left out.
"""

from __future__ import annotations

import math
from typing import Any

from shadowgap.config import Settings
from shadowgap.drift.budget import PLANNING_RATE, gaussian_delay, glr_delay
from shadowgap.drift.signals import SignalSpec

_DAYS_PER_WEEK = 7.0


def _bernoulli_days(p0: float, effect: float, threshold: float, rate: float) -> float:
    p1 = min(p0 + effect, 0.999)
    if p1 <= p0:
        return math.inf
    return _DAYS_PER_WEEK * glr_delay(p0, p1, threshold) / rate


def _gaussian_days(delta: float, threshold: float, rate: float) -> float:
    return _DAYS_PER_WEEK * gaussian_delay(delta, threshold) / rate


def _smallest(days_for: Any, within: float, high: float) -> float | None:
    """Smallest effect in (0, high) detected within ``within`` days (bisection)."""
    if days_for(high) > within:
        return None
    low = 0.0
    for _ in range(40):
        mid = (low + high) / 2.0
        if days_for(mid) > within:
            low = mid
        else:
            high = mid
    return high


def signal_power(spec: SignalSpec, estimate: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """``min_detectable_effect``, ``expected_detection_days`` and their units for one signal.

    Values are ``None`` while the rate or threshold is unknown, or when nothing is detectable
    within ``detection_days`` (an under-powered segment).
    """
    out: dict[str, Any] = {
        "min_detectable_effect": None,
        "expected_detection_days": None,
        "effect": None,
        "unit": None,
    }
    rate = estimate.get("samples_per_week") or 0.0
    threshold = estimate.get("threshold")
    if spec.samples == "all_traffic" or rate <= 0 or not threshold:
        return out
    days = settings.detection_days
    if spec.detector == "gaussian_cusum":
        effect = abs(float(spec.params.get("delta", 0.5)))
        out.update(unit="sigma", effect=effect)
        out["expected_detection_days"] = _gaussian_days(effect, threshold, rate)
        out["min_detectable_effect"] = _smallest(
            lambda d: _gaussian_days(d, threshold, rate), days, 5.0
        )
        return out
    baseline = estimate.get("baseline")
    p0 = float(baseline) if baseline is not None and 0 < baseline < 1 else PLANNING_RATE
    if spec.name == "quality_gap":
        effect = settings.min_detectable_effect
    else:
        effect = float(spec.params.get("shift", 0.1))
    out.update(unit="rate", effect=effect)
    out["expected_detection_days"] = _bernoulli_days(p0, effect, threshold, rate)
    out["min_detectable_effect"] = _smallest(
        lambda d: _bernoulli_days(p0, d, threshold, rate), days, 0.999 - p0
    )
    return out
