"""One-sided Gaussian CUSUM for a mean shift measured in standard deviations."""

from __future__ import annotations

import math
from typing import Literal

from river.base import DriftDetector

from shadowgap.drift.budget import gaussian_delay, gaussian_threshold
from shadowgap.drift.calibration import SelfCalibrating
from shadowgap.drift.changepoint import ChangeTracker

Transform = Literal["identity", "log1p"]


class GaussianCUSUM(SelfCalibrating, DriftDetector):
    """CUSUM for a mean shift of at least ``delta`` standard deviations (Page 1954).

    Samples are standardised with the in-control mean and standard deviation, ``z = (x - mu) /
    sigma``, and ``S = max(0, S + sign * z - |delta| / 2)`` accumulates evidence of a shift in
    the direction of ``delta``'s sign; a drift is detected when ``S`` reaches ``h`` (in sigma
    units). When ``h`` is not given it is sized for ``arl0`` with Siegmund's approximation
    (:func:`shadowgap.drift.budget.gaussian_threshold`).

    ``mu`` and ``sigma`` are estimated over the first ``warmup`` samples unless given, and again
    after every reset, so the detector tracks the new level. As for the Bernoulli CUSUM, plug-in
    estimates would make the real ARL0 scatter by orders of magnitude around the design value
    (a mean 0.1 sigma too low turns an ARL0 of 10^6 into a few 10^4 at ``delta = 0.5``), so the
    detector designs conservatively: the mean is moved ``margin`` standard errors towards the
    alarm side (higher for an upward test, so in-control samples look less alarming) and the
    standard deviation up by ``margin`` of its own relative standard error,
    ``1 / sqrt(2 (n - 1))``. Both are refined from the in-control samples (those before
    the statistic's last zero) each time they double.
    ``transform="log1p"`` runs the test on ``log(1 + x)``, which suits right-skewed positive
    values such as latencies; before/after means are still reported on the raw scale.

    Parameters
    ----------
    delta
        Smallest shift of interest in standard deviations; positive detects increases,
        negative decreases.
    h
        Threshold in sigma units. When ``None`` it is designed for ``arl0``.
    arl0
        Required in-control average run length (samples between false alarms).
    warmup
        Samples used to estimate ``mean``/``std`` when they are not given.
    mean, std
        Known in-control mean and standard deviation (of the transformed values).
    transform
        ``"identity"`` or ``"log1p"``.
    margin
        Standard errors by which estimated parameters are moved to the conservative side.
    refine
        Re-estimate mean and standard deviation from the in-control samples as they double.
    clip
        Standardised values are clipped to ``[-clip, clip]`` before they enter the sum, so one
        absurd value (a cost of 1e308, a latency of a week) adds at most ``clip - |delta|/2`` to
        the statistic and cannot page anyone on its own; a real shift moves many values and is
        barely slowed. Clipping only narrows the increments, so the in-control ARL can only
        grow (the design stays conservative). ``None`` disables it.
    min_std
        Floor on the standard deviation, absolute and relative to ``|mean|`` (``min_std`` and
        ``1e-3 * |mean|``), so a constant warm-up does not make every later wiggle an alarm.

    Examples
    --------
    >>> import random
    >>> from shadowgap.drift import GaussianCUSUM

    >>> rng = random.Random(7)
    >>> cusum = GaussianCUSUM(delta=1.0, arl0=10_000, warmup=200)

    >>> # 1000 samples from N(10, 2), then the mean moves up by one standard deviation
    >>> stream = [rng.gauss(10, 2) for _ in range(1000)] + [rng.gauss(12, 2) for _ in range(500)]
    >>> for i, x in enumerate(stream):
    ...     if cusum.update(x).drift_detected:
    ...         print(f"Change detected at index {i}")
    ...         break
    Change detected at index 1030

    References
    ----------
    [^1]: E. S. Page. 1954. Continuous Inspection Schemes. Biometrika 41, 100-115.
    [^2]: D. Siegmund. 1985. Sequential Analysis: Tests and Confidence Intervals. Springer.

    """

    def __init__(
        self,
        delta: float = 1.0,
        *,
        h: float | None = None,
        arl0: float | None = None,
        warmup: int = 200,
        mean: float | None = None,
        std: float | None = None,
        transform: Transform = "identity",
        margin: float = 2.0,
        refine: bool = True,
        clip: float | None = 4.0,
        min_std: float = 1e-9,
    ) -> None:
        super().__init__()
        if delta == 0:
            raise ValueError("delta must be non-zero")
        if h is not None and h <= 0:
            raise ValueError("h must be positive")
        if (mean is None) != (std is None):
            raise ValueError("give both mean and std, or neither")
        if std is not None and std <= 0:
            raise ValueError("std must be positive")
        if mean is None and warmup < 2:
            raise ValueError("estimating mean and std needs a warm-up of at least two samples")
        if transform not in ("identity", "log1p"):
            raise ValueError("transform must be 'identity' or 'log1p'")
        if margin < 0:
            raise ValueError("margin must be non-negative")
        self.delta = delta
        self._set_design(h, arl0, warmup, margin, refine)
        self.mean = mean
        self.std = std
        self.transform = transform
        self.clip = clip
        self.min_std = min_std
        self._reset()

    def _reset(self) -> None:
        super()._reset()
        self._s = 0.0
        self._tracker = ChangeTracker()
        # Sums of the transformed values since the reset, shifted by the first one for
        # numerical stability, and the same sums at the statistic's last zero.
        self._origin: float | None = None
        self._sy = 0.0
        self._syy = 0.0
        self._sy_zero = 0.0
        self._syy_zero = 0.0
        self._mu: float | None = None
        self._sigma = 1.0
        self._h = 0.0
        self._reset_calibration()
        self._sign = 1.0 if self.delta > 0 else -1.0
        self._k = abs(self.delta) / 2.0
        if self.mean is not None and self.std is not None:
            self._arm(self.mean, self.std)

    def _arm(self, mu: float, sigma: float) -> None:
        self._mu = mu
        self._sigma = max(sigma, self.min_std, 1e-3 * abs(mu))
        self._h = self.h if self.h is not None else self._design_h()
        if self._s <= 0.0:
            self._mark_zero()

    def _mark_zero(self) -> None:
        self._tracker.mark_zero()
        self._sy_zero, self._syy_zero = self._sy, self._syy

    def _calibrate(self) -> None:
        """Design from the samples so far, all in control here (conservatively, see the class
        docstring)."""
        assert self._origin is not None
        n, sy, syy = self._tracker.n, self._sy, self._syy
        mean = self._origin + sy / n
        std = math.sqrt(max(syy - sy * sy / n, 0.0) / (n - 1))
        # Conservative means further from the alarm: a higher mean for an upward test.
        mu = mean + self._sign * self.margin * std / math.sqrt(n)
        sigma = std * (1.0 + self.margin / math.sqrt(2.0 * (n - 1)))
        self._arm(mu, sigma)
        # The baseline is reported on the raw scale: the raw totals since the reset.
        self._calibrated(n, self._tracker.total / n)

    def _design_h(self) -> float:
        assert self.arl0 is not None
        return gaussian_threshold(abs(self.delta), float(self.arl0))

    def _redesign(self) -> None:
        self._h = self._design_h()

    # River 0.26 annotates update() as returning None; returning self (as River's detectors
    # used to, and the design asks) allows `detector.update(x).drift_detected`.
    def update(self, x: float) -> GaussianCUSUM:  # type: ignore[override]
        if self._drift_detected:
            self._reset()
        tracker = self._tracker
        tracker.n += 1
        tracker.total += x
        y = math.log1p(x) if self.transform == "log1p" else x
        if not math.isfinite(y):
            raise ValueError("values must be finite")
        if self._origin is None:
            self._origin = y
        d = y - self._origin
        self._sy += d
        self._syy += d * d
        if self._mu is None:
            self._end_warmup_if_due()
            return self
        z = self._sign * (y - self._mu) / self._sigma
        if self.clip is not None:
            z = min(max(z, -self.clip), self.clip)
        s = self._s + z - self._k
        if s <= 0.0:
            self._s = 0.0
            self._at_zero()
            return self
        self._s = s
        if s >= self._h:
            self._drift_detected = True
        return self

    @property
    def warming_up(self) -> bool:
        """True until the in-control mean and standard deviation are known."""
        return self._mu is None

    @property
    def statistic(self) -> float:
        """Current CUSUM value in standard deviations."""
        return self._s

    @property
    def threshold(self) -> float | None:
        """Alarm threshold in standard deviations (``None`` while warming up)."""
        return None if self._mu is None else self._h

    @property
    def expected_delay(self) -> float | None:
        """Siegmund's worst-case delay for a shift of exactly ``delta`` at this threshold."""
        return None if self._mu is None else gaussian_delay(abs(self.delta), self._h)

    @property
    def baseline(self) -> tuple[float | None, int]:
        """In-control mean on the raw scale and the samples it came from (0 when given)."""
        if self._baseline_mean is None and self.mean is not None:
            level = math.expm1(self.mean) if self.transform == "log1p" else self.mean
            return level, 0
        return self._baseline_mean, self._baseline_n
