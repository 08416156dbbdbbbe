"""False-alarm budget: from "F false alarms per week" to each CUSUM's threshold and delay.

The chain of reasoning the README quotes
----------------------------------------

1. **Budget split (union / Bonferroni style).** A deployment watches ``S`` segments with ``G``
   signals each, so ``S * G`` detectors run side by side. A detector that is reset after every
   alarm and sees ``N`` updates per week raises, in the long run, ``N / ARL0`` false alarms per
   week when nothing changes (renewal-reward: one alarm per in-control run, and a run lasts
   ``ARL0`` updates on average). Expected counts add up whether or not detectors are
   independent (linearity of expectation, the same argument as the union bound behind
   Bonferroni), so giving every detector

       ARL0 = S * G * N / F

   keeps the expected number of false alarms across the deployment at ``F`` per week when ``N``
   is the *average* number of updates per detector per week. Busy detectors then raise more than
   their share and quiet ones less, but the total stays within budget. The split is
   conservative in the sense of Bonferroni: correlated detectors (two signals of one segment
   moving together) make the *probability* of at least one alarm smaller than the sum, never
   larger. See :func:`arl0_per_detector`.

2. **Bernoulli CUSUM threshold, exactly.** For a rate going from ``p0`` to ``p1`` the CUSUM adds
   the log-likelihood ratio ``log(p1/p0)`` on a 1 and ``log((1-p1)/(1-p0))`` on a 0, floors the
   sum at 0 and alarms at ``h``. Following Reynolds & Stoumbos (1999), the two increments are
   replaced by integers ``+a`` and ``-b`` whose ratio approximates the ratio of the
   log-likelihood ratios (:func:`bernoulli_lattice`; with ``a + b <= 64`` the ratio is within
   about 0.5% for the usual ``p0, p1``). The detector in
   :mod:`shadowgap.drift.bernoulli_cusum` runs on this integer lattice itself, so its statistic
   is a Markov chain on the states ``0 .. H-1`` (``H`` the threshold in lattice units, absorbing
   at ``>= H``), and its average run length is the solution of one banded linear system
   ``(I - Q) L = 1`` (:func:`bernoulli_arl`). No approximation enters: the ARL is exact for the
   detector as implemented. The threshold for a target ``ARL0`` is the smallest integer ``H``
   whose in-control ARL reaches it, found by bisection since the ARL grows with ``H``
   (:func:`bernoulli_threshold`).

3. **Worst-case detection delay.** By Lorden's criterion the worst case for a CUSUM is a change
   that arrives while the statistic sits at 0, so the worst-case delay is the ARL started at 0
   under ``p1`` (``ARL1``, same linear system). Among all procedures with the same ``ARL0``, the
   CUSUM minimises this worst-case delay (Moustakides 1986), which is why the benchmark calls it
   the limit. For ``p: 0.90 -> 0.80`` (an error rate ``0.10 -> 0.20``) at ``ARL0 = 10,000``
   it is about 111 samples: 111.5 on the default lattice, whose threshold reaches
   ``ARL0 = 10,098`` (:func:`design_bernoulli_cusum`).

4. **Gaussian CUSUM.** For a mean shift of ``delta`` standard deviations the standardised CUSUM
   uses the reference value ``k = delta / 2``. Its ARL is given by Siegmund's (1985)
   approximation (:func:`siegmund_arl`), accurate to a few percent for ``h`` of a few sigma, and
   inverted by bisection (:func:`gaussian_threshold`). It assumes the in-control mean and
   standard deviation are known; the detector estimates them during a warm-up (see 5).

5. **Estimated in-control parameters.** The exact ARL holds for the ``p0`` the detector is
   designed with. A warm-up estimate of ``p0`` is off by about one standard error, and the
   in-control ARL is very sensitive to that: at ``ARL0 = 10^6``, ``p = 0.5``, shift 0.1 and a
   500-sample warm-up, a ``p0`` one standard error too low gives a real ARL0 near 4 x 10^4 and
   two standard errors too low near 4 x 10^3 (:func:`bernoulli_arl` at the true rate shows it;
   Jones, Champ & Rigdon 2004 report the same for estimated-parameter charts). The CUSUMs
   therefore design for a conservative in-control value, the estimate moved ``margin``
   standard errors away from the alarm direction (1 for the Bernoulli CUSUM, 2 for the
   Gaussian one), keep ``p1`` at the estimate plus the shift of interest, and refine the
   estimate from the in-control samples each time they double. The real ARL0 then stays above
   the design value, at the price of a longer delay while the margin is wide: the benchmark
   measures both (``benchmarks/detection.py``).

6. **Each detector's own clock.** The budget is in false alarms per *week*, and detectors see
   very different numbers of samples in a week: a small segment's quality detector a few dozen
   verdicts, a large segment's latency detector a hundred thousand events. Giving every
   detector the same share ``F / D`` of the budget (``D`` detectors) means a detector that sees
   ``N_d`` samples a week needs ``ARL0_d = D * N_d / F`` samples: the slow ones get a far lower
   ARL0, hence a far shorter delay, than one deployment-wide ``N`` would give them. ``N_d`` is
   measured on the traffic's own clock (event time), so a replay of two weeks is two weeks
   (:func:`arl0_for_rate`).

7. **Self-starting GLR.** A detector that does not know the in-control level maximises the
   likelihood ratio over it as well as over the change point (:mod:`shadowgap.drift.glr`). Its
   statistic is close to parameter-free, so one threshold per ``ARL0`` serves every level:
   simulation (``benchmarks/glr_calibration.py``) gives ``log ARL0 = h - log(h) / 2 + a`` with
   ``a`` depending slightly on the window and halving the ARL0 (``a - log 2``) for a two-sided
   test, the shape the asymptotics of scan statistics predict (Siegmund & Venkatraman 1995).
   :func:`glr_threshold` inverts it with ``a`` rounded towards more conservative thresholds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.linalg import solve_banded

# Siegmund's correction for the overshoot of a Gaussian random walk over the boundary:
# 2 * 0.583 (Siegmund 1985, Sequential Analysis, ch. X).
_SIEGMUND_OVERSHOOT = 1.166


def arl0_per_detector(
    false_alarms_per_week: float, n_segments: int, n_signals: int, updates_per_week: float
) -> float:
    """In-control average run length each detector needs: ``S * G * N / F``.

    Args:
        false_alarms_per_week: ``F``, the deployment-wide budget of false alarms per week.
        n_segments: ``S``, the number of watched segments.
        n_signals: ``G``, the number of signals (detectors) per segment.
        updates_per_week: ``N``, the average number of updates a detector sees in a week.

    The split is the union (Bonferroni) one: expected false alarms add across detectors, each
    detector contributes ``N / ARL0`` per week, so ``S * G * N / ARL0 = F``.

    >>> arl0_per_detector(1.0, n_segments=100, n_signals=7, updates_per_week=100_000)
    70000000.0
    """
    if false_alarms_per_week <= 0:
        raise ValueError("false_alarms_per_week must be positive")
    if n_segments < 1 or n_signals < 1 or updates_per_week <= 0:
        raise ValueError("segments, signals and updates per week must be positive")
    return n_segments * n_signals * updates_per_week / false_alarms_per_week


def detector_alarms_per_week(false_alarms_per_week: float, slice_share: float) -> float:
    """The drift detectors' part of the one weekly budget ``F``: what the slice alerts' stated
    share (``slice_false_alarm_share``, see ``shadowgap/slices/exploration.py``) leaves. The
    two parts add up to ``F`` by the same linearity of expected counts as the split above.

    >>> detector_alarms_per_week(1.0, 0.2)
    0.8
    """
    if not 0.0 <= slice_share < 1.0:
        raise ValueError("slice_share must be in [0, 1)")
    return false_alarms_per_week * (1.0 - slice_share)


def arl0_for_rate(false_alarms_per_week: float, n_detectors: int, samples_per_week: float) -> float:
    """In-control ARL (in samples) of a detector that sees ``samples_per_week``: ``D * N_d / F``.

    Every detector gets an equal share ``F / D`` of the weekly budget, so one that sees
    ``N_d`` samples a week may raise a false alarm every ``D * N_d / F`` samples on average.

    >>> arl0_for_rate(1.0, n_detectors=140, samples_per_week=35)
    4900.0
    """
    if false_alarms_per_week <= 0:
        raise ValueError("false_alarms_per_week must be positive")
    if n_detectors < 1 or samples_per_week <= 0:
        raise ValueError("detectors and samples per week must be positive")
    return n_detectors * samples_per_week / false_alarms_per_week


# Flagship-wins rate that sampling and power calculations plan for: a typical in-control level
# (the GLR itself needs none).
PLANNING_RATE = 0.25


# --- Bernoulli GLR: threshold from the simulation fit (point 7 above) ------------------------

# ``a`` of ``log ARL0 = h - log(h) / 2 + a``, one- and two-sided, fitted at a window of 500
# over ARL0 from 10^2 to 3 x 10^4 at rates 0.1, 0.3 and 0.5, and rounded down (a conservative
# threshold). A two-sided test alarms less than twice as often as a one-sided one (its two
# sides are rarely both large), hence less than ``log 2`` between them.
GLR_FIT = {"one_sided": 1.5, "two_sided": 1.2}


def glr_threshold(arl0: float, *, two_sided: bool = False) -> float:
    """Threshold (nats) of :class:`~shadowgap.drift.glr.BernoulliGLR` for an in-control ``arl0``.

    >>> round(glr_threshold(5_000), 2)
    8.06
    """
    if arl0 <= 1.0:
        return 0.5
    a = GLR_FIT["two_sided" if two_sided else "one_sided"]
    target = math.log(arl0)

    def log_arl(h: float) -> float:
        return h - 0.5 * math.log(h) + a

    low, high = 0.5, 1.0
    while log_arl(high) < target:
        low, high = high, high * 2.0
    for _ in range(60):
        mid = (low + high) / 2.0
        if log_arl(mid) < target:
            low = mid
        else:
            high = mid
    return high


def glr_delay(p0: float, p1: float, threshold: float) -> float:
    """Approximate detection delay (samples) of a GLR or CUSUM with this threshold for a change
    ``p0 -> p1``: Wald's threshold over the Kullback-Leibler divergence per sample."""
    _check_rates(p0, p1)
    kl = p1 * math.log(p1 / p0) + (1.0 - p1) * math.log((1.0 - p1) / (1.0 - p0))
    return threshold / kl


# --- Bernoulli CUSUM: integer lattice and exact ARL ----------------------------------------


@dataclass(frozen=True)
class BernoulliLattice:
    """The integer version of a Bernoulli CUSUM's log-likelihood-ratio walk.

    ``step_one`` and ``step_zero`` are the lattice increments for a 1 and a 0; exactly one of
    them is positive (the outcome that favours ``p1``). ``scale`` is lattice units per nat, so
    ``statistic_units / scale`` approximates the log-likelihood ratio in nats.
    """

    p0: float
    p1: float
    step_one: int
    step_zero: int
    scale: float

    @property
    def up(self) -> int:
        """Size of the positive step."""
        return max(self.step_one, self.step_zero)

    @property
    def down(self) -> int:
        """Size of the negative step (a positive number)."""
        return -min(self.step_one, self.step_zero)

    def up_probability(self, p: float) -> float:
        """Probability of the positive step when the true rate of ones is ``p``."""
        return p if self.step_one > 0 else 1.0 - p


def llr_increments(p0: float, p1: float) -> tuple[float, float]:
    """Log-likelihood-ratio increments ``(for a 1, for a 0)`` of ``p1`` against ``p0``."""
    _check_rates(p0, p1)
    return math.log(p1 / p0), math.log((1.0 - p1) / (1.0 - p0))


def bernoulli_lattice(p0: float, p1: float, max_units: int = 64) -> BernoulliLattice:
    """Best integer pair ``(a, b)`` with ``a + b <= max_units`` for the LLR increments.

    ``a / b`` approximates ``|llr_up| / |llr_down|`` as closely as the budget allows (ties go to
    the smaller pair, which keeps the Markov chain small). When the ratio itself is outside the
    budget (rare events, e.g. ``p0 = 0.001``), one step is 1 unit and the other the rounded
    ratio (or its inverse), within ``0.5 / ratio`` of it. The chain has about ``h * scale``
    states and a band of ``a + b``, so the solve costs grow like ``(a + b)^3``: 64 keeps a
    design well under a second even for ``ARL0`` in the billions, with the ratio within 0.5%
    for the usual rates.

    >>> lat = bernoulli_lattice(0.1, 0.2)
    >>> lat.step_one, lat.step_zero
    (53, -9)
    """
    if max_units < 2:
        raise ValueError("max_units must be at least 2")
    llr_one, llr_zero = llr_increments(p0, p1)
    up_llr, down_llr = (llr_one, -llr_zero) if llr_one > 0 else (llr_zero, -llr_one)
    ratio = up_llr / down_llr
    # Extreme ratios (a rate near 0 or 1) need one step of 1 unit and the other large: those
    # two pairs are always candidates, the rest only within the unit budget.
    extreme = [(max(1, round(ratio)), 1), (1, max(1, round(1.0 / ratio)))]
    within = [(max(1, round(ratio * down)), down) for down in range(2, max_units)]
    best: tuple[float, int, int] | None = None
    for up, down in extreme + [pair for pair in within if sum(pair) <= max_units]:
        error = abs(math.log(up / down / ratio))
        # Strictly better only: equal errors keep the earlier, smaller pair.
        if best is None or error < best[0] - 1e-12:
            best = (error, up, down)
    assert best is not None
    _, up, down = best
    scale = up / up_llr
    step_one, step_zero = (up, -down) if llr_one > 0 else (-down, up)
    return BernoulliLattice(p0=p0, p1=p1, step_one=step_one, step_zero=step_zero, scale=scale)


def bernoulli_arl_vector(lattice: BernoulliLattice, threshold: int, p: float) -> np.ndarray:
    """Exact ARL from every lattice state ``0 .. threshold-1`` when the true rate is ``p``.

    Solves ``L(i) = 1 + q_up * L(i + up) + (1 - q_up) * L(max(i - down, 0))`` with ``L = 0`` at
    or above the threshold, as the banded system ``(I - Q) L = 1``: the matrix has ``down``
    sub-diagonals (the floor at 0 keeps the jump to state 0 inside the band) and ``up``
    super-diagonals.
    """
    if threshold < 1:
        raise ValueError("threshold must be at least one lattice unit")
    up, down = lattice.up, lattice.down
    q_up = lattice.up_probability(p)
    if q_up <= 0.0:
        return np.full(threshold, math.inf)
    n = threshold
    # Banded storage for scipy: ab[up + i - j, j] = A[i, j].
    ab = np.zeros((down + up + 1, n))
    ab[up, :] = 1.0
    rows = np.arange(n)
    targets_up = rows + up
    inside = targets_up < n
    ab[up + rows[inside] - targets_up[inside], targets_up[inside]] -= q_up
    targets_down = np.maximum(rows - down, 0)
    ab[up + rows - targets_down, targets_down] -= 1.0 - q_up
    return solve_banded((down, up), ab, np.ones(n))


def bernoulli_arl(lattice: BernoulliLattice, threshold: int, p: float, start: int = 0) -> float:
    """Exact average run length of the lattice CUSUM from ``start`` when the rate is ``p``."""
    if not 0 <= start < threshold:
        raise ValueError("start must be a state below the threshold")
    return float(bernoulli_arl_vector(lattice, threshold, p)[start])


def bernoulli_threshold(lattice: BernoulliLattice, arl0: float) -> int:
    """Smallest integer threshold (lattice units) whose in-control ARL is at least ``arl0``.

    The in-control ARL grows with the threshold, and ``log ARL`` is close to linear in it (the
    ARL grows geometrically once the threshold exceeds a few steps). So the search starts from
    the Wald-type guess ``h = log(ARL0)`` nats, takes secant steps on ``log ARL`` inside the
    bracket found so far, and falls back to bisection whenever a secant step would not shrink
    the bracket by at least a quarter: typically four to six banded solves per design.
    """
    if arl0 <= 1.0:
        return 1
    target = math.log(arl0)
    known: dict[int, float] = {}

    def log_arl(threshold: int) -> float:
        if threshold not in known:
            known[threshold] = math.log(bernoulli_arl(lattice, threshold, lattice.p0))
        return known[threshold]

    low, high = 0, 0  # invariant once bracketed: log_arl(high) >= target > log_arl(low)
    guess = max(1, round(target * lattice.scale))
    step = max(1, guess // 8)
    if log_arl(guess) >= target:
        high = guess
        low = max(0, guess - step)
        while low > 0 and log_arl(low) >= target:
            high, step = low, step * 2
            low = max(0, low - step)
    else:
        low = guess
        high = guess + step
        while log_arl(high) < target:
            low, step = high, step * 2
            high += step
            if high > 50_000_000:
                raise ValueError("ARL0 target out of reach for this lattice")
    while high - low > 1:
        mid = (low + high) // 2
        if low > 0:
            f_low, f_high = log_arl(low), log_arl(high)
            if f_high > f_low:
                secant = low + (target - f_low) * (high - low) / (f_high - f_low)
                candidate = min(high - 1, max(low + 1, math.ceil(secant)))
                # Accept the secant point when it cuts at least a quarter off the bracket.
                if min(candidate - low, high - candidate) * 4 >= high - low or high - low <= 4:
                    mid = candidate
                elif candidate - low < high - candidate:
                    mid = low + max(1, (high - low) // 4)  # probe just above the estimate
                else:
                    mid = high - max(1, (high - low) // 4)
        if log_arl(mid) >= target:
            high = mid
        else:
            low = mid
    return high


@dataclass(frozen=True)
class BernoulliDesign:
    """A Bernoulli CUSUM sized for an in-control ARL, with its run lengths.

    ``exact`` is true when both run lengths come from the Markov chain. Otherwise (see
    :func:`design_bernoulli_cusum`) ``arl0`` is a guaranteed lower bound and ``arl1`` Wald's
    approximation.
    """

    lattice: BernoulliLattice
    threshold: int
    arl0: float
    arl1: float
    exact: bool = True

    @property
    def h(self) -> float:
        """Threshold in nats of log-likelihood ratio."""
        return self.threshold / self.lattice.scale


# Largest Markov chain solved exactly; a design then costs well under a second.
MAX_EXACT_STATES = 5_000


@lru_cache(maxsize=4096)
def design_bernoulli_cusum(
    p0: float, p1: float, arl0: float, max_units: int = 64
) -> BernoulliDesign:
    """Threshold for ``arl0`` and the worst-case delay at ``p1``, both exact.

    ``arl0`` in the result is the exact in-control ARL reached (at least the target); ``arl1``
    the exact out-of-control ARL from state 0, i.e. Lorden's worst-case detection delay.
    Cached, because detectors that finish a warm-up at the same rounded ``p0`` share a design.

    >>> d = design_bernoulli_cusum(0.1, 0.2, 10_000)
    >>> round(d.arl0), round(d.arl1, 1)
    (10098, 111.5)

    The integer threshold overshoots the ARL0 target slightly (1% here); a finer lattice
    (``max_units=200``) gets ``ARL0 = 10,045`` and ``ARL1 = 111.4``.

    When one outcome carries almost no evidence (rates a hair from 0 or 1, e.g. an increase
    from 0.9995) the chain would need more than :data:`MAX_EXACT_STATES` states. The threshold
    then comes from a bound instead: with ``theta`` the root of ``E0[exp(theta * step)] = 1``,
    ``exp(theta * S)`` is a martingale while the statistic is positive, so each excursion from
    zero crosses ``H`` with probability at most ``exp(-theta * H)``, and
    ``ARL0 >= exp(theta * H)`` (Lorden 1971's argument, on the lattice). ``H = log(ARL0) /
    theta`` is then conservative; ``exact`` is false in such a design.

    >>> d = design_bernoulli_cusum(0.9995, 0.99975, 1e6)
    >>> d.exact, d.arl0 >= 1e6
    (False, True)
    """
    lattice = bernoulli_lattice(p0, p1, max_units)
    if math.log(max(arl0, math.e)) * lattice.scale > MAX_EXACT_STATES:
        return _bounded_design(lattice, arl0)
    threshold = bernoulli_threshold(lattice, arl0)
    return BernoulliDesign(
        lattice=lattice,
        threshold=threshold,
        arl0=bernoulli_arl(lattice, threshold, p0),
        arl1=bernoulli_arl(lattice, threshold, p1),
    )


def _bounded_design(lattice: BernoulliLattice, arl0: float) -> BernoulliDesign:
    """Threshold from ``ARL0 >= exp(theta * H)``; Wald's approximation for the delay."""
    theta = _adjustment_coefficient(lattice)
    threshold = max(1, math.ceil(math.log(max(arl0, 1.0)) / theta))
    q1 = lattice.up_probability(lattice.p1)
    drift1 = q1 * lattice.up - (1.0 - q1) * lattice.down
    arl1 = (threshold + lattice.up / 2.0) / drift1 if drift1 > 0 else math.inf
    return BernoulliDesign(
        lattice=lattice,
        threshold=threshold,
        arl0=math.exp(theta * threshold),
        arl1=arl1,
        exact=False,
    )


def _adjustment_coefficient(lattice: BernoulliLattice) -> float:
    """Positive root of ``q e^(theta up) + (1 - q) e^(-theta down) = 1`` under ``p0``."""
    q = lattice.up_probability(lattice.p0)
    if q * lattice.up - (1.0 - q) * lattice.down >= 0:
        raise ValueError("the lattice walk does not drift down in control")

    def excess(theta: float) -> float:
        return q * math.exp(theta * lattice.up) + (1.0 - q) * math.exp(-theta * lattice.down) - 1

    low, high = 0.0, 1.0 / lattice.scale
    while excess(high) < 0:
        low, high = high, high * 2.0
    for _ in range(200):
        mid = (low + high) / 2.0
        if excess(mid) < 0:
            low = mid
        else:
            high = mid
    # The lower end keeps excess(theta) <= 0, i.e. a supermartingale and a valid bound.
    return low


def _check_rates(p0: float, p1: float) -> None:
    if not (0.0 < p0 < 1.0 and 0.0 < p1 < 1.0):
        raise ValueError("rates must lie strictly between 0 and 1")
    if p0 == p1:
        raise ValueError("p1 must differ from p0")


# --- Gaussian CUSUM: Siegmund's approximation ----------------------------------------------


def siegmund_arl(mean: float, k: float, h: float) -> float:
    """Siegmund's ARL of ``S = max(0, S + z - k)`` with ``z ~ N(mean, 1)``, alarm at ``h``.

    ``ARL = (exp(-2 D b) + 2 D b - 1) / (2 D^2)`` with drift ``D = mean - k`` and corrected
    boundary ``b = h + 1.166``; ``b^2`` when ``D = 0``.

    >>> round(siegmund_arl(0.0, 0.5, 5.0))
    938
    """
    drift = mean - k
    b = h + _SIEGMUND_OVERSHOOT
    if abs(drift) < 1e-12:
        return b * b
    return (math.exp(-2.0 * drift * b) + 2.0 * drift * b - 1.0) / (2.0 * drift * drift)


def gaussian_threshold(delta: float, arl0: float) -> float:
    """Threshold ``h`` (sigma units) giving in-control ARL ``arl0`` for a shift of ``delta``.

    Uses the reference value ``k = delta / 2`` and inverts :func:`siegmund_arl` by bisection.

    >>> round(gaussian_threshold(1.0, 10_000), 2)
    7.35
    """
    if delta <= 0:
        raise ValueError("delta must be positive (sigma units)")
    k = delta / 2.0
    if siegmund_arl(0.0, k, 0.0) >= arl0:
        return 0.0
    low, high = 0.0, 1.0
    while siegmund_arl(0.0, k, high) < arl0:
        low, high = high, high * 2.0
    for _ in range(100):
        mid = (low + high) / 2.0
        if siegmund_arl(0.0, k, mid) < arl0:
            low = mid
        else:
            high = mid
        if high - low < 1e-9:
            break
    return high


def gaussian_delay(delta: float, h: float) -> float:
    """Worst-case detection delay (ARL from 0) for a shift of exactly ``delta`` sigma."""
    return siegmund_arl(delta, delta / 2.0, h)
