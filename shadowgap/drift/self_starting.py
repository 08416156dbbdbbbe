"""A Bernoulli CUSUM that watches from its first sample: a GLR covers its warm-up."""

from __future__ import annotations

from river.base import BinaryDriftDetector

from shadowgap.drift.bernoulli_cusum import BernoulliCUSUM
from shadowgap.drift.changepoint import ChangeSummary
from shadowgap.drift.glr import BernoulliGLR
from shadowgap.drift.two_sided import TwoSidedCUSUM

Cusum = BernoulliCUSUM | TwoSidedCUSUM


class SelfStartingCUSUM(BinaryDriftDetector):
    """A CUSUM for the long run with a :class:`BernoulliGLR` in charge until it is armed.

    A CUSUM is the fastest detector once the in-control rate is known (Moustakides 1986), but it
    has to learn that rate first: with a 500-sample warm-up, a segment with a few hundred
    events a week goes unwatched for a week or more, and again after every detection. The GLR
    needs no known rate, so it watches those samples. Both see every sample; an alarm comes from
    the GLR while the CUSUM warms up and from the CUSUM afterwards, and both restart after it.

    Each is sized for the same ``arl0``. The GLR only runs for the warm-up's few hundred samples
    per regime, so it adds at most about ``warmup / arl0`` false alarms per regime: the
    benchmark's stationary run (``benchmarks/detection.py``) counts them with the rest.

    Examples
    --------
    >>> import random
    >>> rng = random.Random(11)
    >>> detector = SelfStartingCUSUM(BernoulliCUSUM(shift=0.1, arl0=5_000, warmup=500), "up")

    >>> # the error rate jumps from 5% to 25% after 80 samples, long before the warm-up ends
    >>> stream = [rng.random() < 0.05 for _ in range(80)]
    >>> stream += [rng.random() < 0.25 for _ in range(300)]
    >>> for i, x in enumerate(stream):
    ...     if detector.update(x).drift_detected:
    ...         print(f"Change detected at index {i} by the {detector.active}")
    ...         break
    Change detected at index 114 by the glr

    """

    def __init__(self, cusum: Cusum, side: str, window: int = 500) -> None:
        super().__init__()
        self.cusum = cusum
        self.glr = BernoulliGLR(side=side, arl0=_arl0(cusum), window=window)  # type: ignore[arg-type]
        self.active = "glr"

    def _reset(self) -> None:
        super()._reset()
        self.cusum._reset()
        self.glr._reset()
        self.active = "glr"

    def set_arl0(self, arl0: float) -> None:
        self.cusum.set_arl0(arl0)
        self.glr.set_arl0(arl0)

    # River 0.26 annotates update() as returning None; returning self allows chaining.
    def update(self, x: bool | int | float) -> SelfStartingCUSUM:  # type: ignore[override]
        if self._drift_detected:
            self._reset()
        warming = self.cusum.warming_up
        self.cusum.update(x)
        if warming:
            self.glr.update(x)
            self.active = "glr"
            self._drift_detected = self.glr.drift_detected
        else:
            if self.active == "glr":
                self.glr._reset()  # its window is not needed until the next regime
            self.active = "cusum"
            self._drift_detected = self.cusum.drift_detected
        return self

    def update_zeros(self, count: int) -> int:
        """Zeros one by one (the GLR has no run shortcut); stops after a detection."""
        for consumed in range(1, count + 1):
            if self.update(0).drift_detected:
                return consumed
        return count

    def _leading(self) -> BernoulliGLR | Cusum:
        return self.glr if self.active == "glr" else self.cusum

    @property
    def warming_up(self) -> bool:
        return False

    @property
    def statistic(self) -> float:
        return self._leading().statistic

    @property
    def threshold(self) -> float | None:
        return self._leading().threshold

    @property
    def fired(self) -> str | None:
        return getattr(self._leading(), "fired", None)

    @property
    def baseline(self) -> tuple[float | None, int]:
        return self._leading().baseline

    def change_summary(self) -> ChangeSummary:
        return self._leading().change_summary()


def _arl0(cusum: Cusum) -> float:
    if isinstance(cusum, TwoSidedCUSUM):
        return float(cusum.upper.arl0 or 10_000.0) / 2.0
    return float(cusum.arl0 or 10_000.0)
