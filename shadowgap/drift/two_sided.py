"""Two one-sided CUSUMs watching the same stream, one per direction."""

from __future__ import annotations

from river.base import DriftDetector

from shadowgap.drift.bernoulli_cusum import BernoulliCUSUM
from shadowgap.drift.changepoint import ChangeSummary
from shadowgap.drift.gaussian_cusum import GaussianCUSUM

OneSided = BernoulliCUSUM | GaussianCUSUM


class TwoSidedCUSUM(DriftDetector):
    """Detects a shift in either direction by running an upper and a lower CUSUM.

    A drift is detected when either side alarms; then both sides reset. To keep the combined
    in-control ARL at ``arl0``, each side is sized for ``2 * arl0``: with ``1/ARL = 1/ARL_up +
    1/ARL_down`` (Van Dobben de Bruyn 1968), exact when the two sides are never positive
    together and a close approximation otherwise.

    Parameters
    ----------
    upper, lower
        The two one-sided detectors; build them with :meth:`bernoulli` or :meth:`gaussian`.

    Examples
    --------
    >>> import random
    >>> from shadowgap.drift import TwoSidedCUSUM

    >>> rng = random.Random(3)
    >>> cusum = TwoSidedCUSUM.bernoulli(shift=0.1, arl0=10_000, warmup=300)

    >>> # the routed-cheap share falls from 60% to 45%
    >>> stream = [rng.random() < 0.6 for _ in range(1000)]
    >>> stream += [rng.random() < 0.45 for _ in range(1000)]
    >>> for i, x in enumerate(stream):
    ...     if cusum.update(x).drift_detected:
    ...         print(f"Change detected at index {i}, side {cusum.fired}")
    ...         break
    Change detected at index 1221, side down

    """

    def __init__(self, upper: OneSided, lower: OneSided) -> None:
        super().__init__()
        self.upper = upper
        self.lower = lower
        self._fired: str | None = None

    @classmethod
    def bernoulli(cls, *, arl0: float | None = None, **params: object) -> TwoSidedCUSUM:
        """Upper and lower :class:`BernoulliCUSUM` with the same parameters, each at 2 x ARL0."""
        side_arl0 = 2.0 * (arl0 if arl0 is not None else 10_000.0)
        return cls(
            BernoulliCUSUM(direction="up", arl0=side_arl0, **params),  # type: ignore[arg-type]
            BernoulliCUSUM(direction="down", arl0=side_arl0, **params),  # type: ignore[arg-type]
        )

    @classmethod
    def gaussian(
        cls, delta: float = 1.0, *, arl0: float | None = None, **params: object
    ) -> TwoSidedCUSUM:
        """Upper and lower :class:`GaussianCUSUM` for ``|delta|``, each at 2 x ARL0."""
        side_arl0 = 2.0 * (arl0 if arl0 is not None else 10_000.0)
        return cls(
            GaussianCUSUM(abs(delta), arl0=side_arl0, **params),  # type: ignore[arg-type]
            GaussianCUSUM(-abs(delta), arl0=side_arl0, **params),  # type: ignore[arg-type]
        )

    def _reset(self) -> None:
        super()._reset()
        self._fired = None
        self.upper._reset()
        self.lower._reset()

    def set_arl0(self, arl0: float) -> None:
        """Re-size both sides for a combined ARL0 target."""
        self.upper.set_arl0(2.0 * arl0)
        self.lower.set_arl0(2.0 * arl0)

    # River 0.26 annotates update() as returning None; returning self (as River's detectors
    # used to, and the design asks) allows `detector.update(x).drift_detected`.
    def update(self, x: float) -> TwoSidedCUSUM:  # type: ignore[override]
        if self._drift_detected:
            self._reset()
        self.upper.update(x)
        self.lower.update(x)
        self._check()
        return self

    def update_zeros(self, count: int) -> int:
        """Feed up to ``count`` zeros (Bernoulli sides only); stop right after a detection."""
        upper, lower = self.upper, self.lower
        if not isinstance(upper, BernoulliCUSUM) or not isinstance(lower, BernoulliCUSUM):
            raise TypeError("update_zeros needs Bernoulli sides")
        consumed = 0
        while consumed < count:
            if self._drift_detected:
                self._reset()
            remaining = count - consumed
            if upper.warming_up or lower.warming_up:
                # No alarm is possible before both sides are armed: feed up to the warm-up end.
                done = max(upper._tracker.n, lower._tracker.n)
                take = min(remaining, max(1, max(upper.warmup, lower.warmup) - done))
            else:
                hits = [
                    n
                    for n in (
                        upper.zeros_until_detection(remaining),
                        lower.zeros_until_detection(remaining),
                    )
                    if n is not None
                ]
                take = min(hits) if hits else remaining
            upper.update_zeros(take)
            lower.update_zeros(take)
            consumed += take
            if self._check():
                break
        return consumed

    def _check(self) -> bool:
        if self.upper.drift_detected or self.lower.drift_detected:
            self._drift_detected = True
            self._fired = "up" if self.upper.drift_detected else "down"
        return self._drift_detected

    @property
    def fired(self) -> str | None:
        """``"up"`` or ``"down"`` after a detection, else ``None``."""
        return self._fired

    @property
    def warming_up(self) -> bool:
        return self.upper.warming_up or self.lower.warming_up

    def _leading(self) -> OneSided:
        """The side closer to its threshold (the one that fired, after a detection)."""
        if self._fired is not None:
            return self.upper if self._fired == "up" else self.lower
        up_t, low_t = self.upper.threshold, self.lower.threshold
        if up_t is None or low_t is None:
            return self.upper
        if self.upper.statistic / up_t >= self.lower.statistic / low_t:
            return self.upper
        return self.lower

    @property
    def statistic(self) -> float:
        return self._leading().statistic

    @property
    def threshold(self) -> float | None:
        return self._leading().threshold

    @property
    def baseline(self) -> tuple[float | None, int]:
        return self.upper.baseline

    def change_summary(self) -> ChangeSummary:
        return self._leading().change_summary()
