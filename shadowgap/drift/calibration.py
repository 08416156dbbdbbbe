"""The warm-up and refine bookkeeping of the CUSUMs that learn their in-control level.

A :class:`~shadowgap.drift.bernoulli_cusum.BernoulliCUSUM` without ``p0`` and a
:class:`~shadowgap.drift.gaussian_cusum.GaussianCUSUM` without ``mean``/``std`` follow the same
schedule: the first ``warmup`` samples estimate the level (no detection meanwhile), and the
estimate is made again from the in-control samples (those before the statistic's last zero)
each time they double, so the conservative margin shrinks like ``1 / sqrt(n)``. What each
estimates, and how it moves the estimate to the safe side, is the detector's own
(:meth:`SelfCalibrating._calibrate`); when it does, and the baseline it then reports, is here.

The attribute names are the ones stored detector states have always held
(:mod:`shadowgap.drift.codec` writes an object's attributes), so states saved before this
module existed load and run unchanged.
"""

from __future__ import annotations

import math

from shadowgap.drift.changepoint import ChangeSummary, ChangeTracker


class SelfCalibrating:
    """Mixin: when a CUSUM (re-)estimates its in-control level, and the baseline it reports.

    The detector provides :meth:`_calibrate` (estimate from the samples since the reset, all
    in control when it is called), :meth:`_redesign` (re-size the threshold for a new ARL0)
    and :attr:`warming_up`.
    """

    h: float | None
    arl0: float | None
    warmup: int
    margin: float
    refine: bool
    _tracker: ChangeTracker
    _baseline_mean: float | None
    _baseline_n: int
    # Re-estimate once the in-control sample count reaches this.
    _next_refine: float

    def _set_design(
        self, h: float | None, arl0: float | None, warmup: int, margin: float, refine: bool
    ) -> None:
        """The parameters both CUSUMs take (validated by the caller)."""
        self.h = h
        # A threshold given in full needs no ARL0; otherwise the default target is 10,000.
        self.arl0 = 10_000.0 if arl0 is None and h is None else arl0
        self.warmup = warmup
        self.margin = margin
        self.refine = refine

    def _reset_calibration(self) -> None:
        self._baseline_mean = None
        self._baseline_n = 0
        self._next_refine = math.inf

    def _calibrate(self) -> None:
        raise NotImplementedError

    def _redesign(self) -> None:
        raise NotImplementedError

    @property
    def warming_up(self) -> bool:
        raise NotImplementedError

    def _calibrated(self, n: int, mean: float) -> None:
        """An estimate was made from ``n`` in-control samples whose raw mean is ``mean``."""
        self._baseline_mean, self._baseline_n = mean, n
        self._next_refine = 2 * n if self.refine else math.inf

    def _end_warmup_if_due(self) -> None:
        if self._tracker.n >= self.warmup:
            self._calibrate()

    def _mark_zero(self) -> None:
        """The statistic is at zero: the change, if any, comes later."""
        self._tracker.mark_zero()

    def _at_zero(self) -> None:
        """The latest sample took the statistic to zero: mark it, and re-estimate when the
        in-control samples have doubled since the last estimate."""
        self._mark_zero()
        if self._tracker.n >= self._next_refine:
            self._calibrate()

    def set_arl0(self, arl0: float) -> None:
        """Re-size the threshold for a new ARL0 target (the statistic is kept)."""
        if self.h is not None or arl0 == self.arl0:
            return
        self.arl0 = arl0
        if not self.warming_up:
            self._redesign()

    @property
    def baseline(self) -> tuple[float | None, int]:
        """In-control level (the plain estimate, raw units) and its sample count."""
        return self._baseline_mean, self._baseline_n

    def change_summary(self) -> ChangeSummary:
        """Raw-unit means before/after the estimated change point (the statistic's last zero)."""
        return self._tracker.summary()
