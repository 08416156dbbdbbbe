"""Multi-window burn-rate rules of the latency and error-rate SLOs: when they page, how loud.

These objectives count every request of the segment (ingest sees all of them), so they run
the SRE workbook's own pairs, in hours, not the quality SLO's days (:data:`REQUEST_PAIRS`):
an outage or a slow provider spends a 28-day budget in hours, and the counts are there to
see it. Scaled from the workbook's 30-day window to 28 days, the fast pair spends 2% of the
budget at its threshold, the slow one 5%, the budget pair 11%.

Adapted so that a low-traffic segment cannot page on a handful of requests:

- a long window with fewer than :data:`MIN_REQUESTS` requests does not look at all (three
  requests of which one failed are a 33x burn of a 1% objective, and mean nothing);
- a long window that looks fires only when its burn rate is at or above the threshold **and**
  an exact binomial test rejects "the segment burns at most :data:`shadowgap.slo.rules.
  NULL_RATE`" at the level its share of the false-alarm budget allows (split over the pairs
  that look and every look, :func:`look_alpha`). A busy segment passes the test as soon as it
  crosses the threshold: the workbook's rule;
- the short window vetoes when it is confidently below the threshold (the exact test of
  "burning at the threshold" rejects downwards at 2.5%): the workbook's reset for a busy
  segment, while an empty five minutes of a quiet one cannot silence a burn.
"""

from __future__ import annotations

from dataclasses import dataclass

from shadowgap.enums import Severity
from shadowgap.slo.rules import NULL_RATE, BurnPair
from shadowgap.stats.slo import CountBurn, count_below_pvalue, count_burn_pvalue

_HOUR = 1.0 / 24.0
_MINUTE = _HOUR / 60.0

# The workbook's recommended pairs (page: 1 h / 5 min at 14.4x and 6 h / 30 min at 6x;
# ticket: 3 d / 6 h at 1x), in days like the quality SLO's.
REQUEST_PAIRS: tuple[BurnPair, ...] = (
    BurnPair(
        "fast", long_days=_HOUR, short_days=5 * _MINUTE, threshold=14.4, severity=Severity.ERROR
    ),
    BurnPair(
        "slow", long_days=6 * _HOUR, short_days=30 * _MINUTE, threshold=6.0, severity=Severity.ERROR
    ),
    BurnPair(
        "budget", long_days=3.0, short_days=6 * _HOUR, threshold=1.0, severity=Severity.WARNING
    ),
)

# Fewest requests a long window needs to look at all: below it one bad request is a burn of
# several times a 1% objective's threshold.
MIN_REQUESTS = 100

# One-sided level at which a short window counts as confidently below the threshold.
SHORT_VETO_LEVEL = 0.025

# Consecutive looks :func:`recovered` must hold before an open alert resolves (15 minutes at
# the default 5-minute looks).
RECOVERY_LOOKS = 3


@dataclass(frozen=True)
class CountOutcome:
    """One pair's look: both windows' counts, the long window's p-value, whether it fires."""

    pair: BurnPair
    long: CountBurn
    short: CountBurn
    # Of "burning at most NULL_RATE"; None when the window did not look or is under threshold.
    p_value: float | None
    alpha: float  # the level it is held to (0 when it does not look)
    fires: bool
    reset: bool = False  # the short window is confidently below the threshold

    @property
    def looks(self) -> bool:
        return self.alpha > 0


def window_label(days: float) -> str:
    """'5m', '6h', '3d': a window's length as the views label it.

    >>> [window_label(p.long_days) for p in REQUEST_PAIRS], window_label(28.0)
    (['1h', '6h', '3d'], '28d')
    """
    minutes = round(days * 1440)
    if minutes % 1440 == 0:
        return f"{minutes // 1440}d"
    if minutes % 60 == 0:
        return f"{minutes // 60}h"
    return f"{minutes}m"


def request_window_lengths() -> set[float]:
    """Every window length (days) a look reads."""
    lengths: set[float] = set()
    for pair in REQUEST_PAIRS:
        lengths |= {pair.long_days, pair.short_days}
    return lengths


def look(
    windows: dict[float, CountBurn], share_per_week: float, looks_per_week: float
) -> list[CountOutcome]:
    """Evaluate every pair at one look (module doc); ``windows`` by length in days."""
    looking = [p for p in REQUEST_PAIRS if windows[p.long_days].requests >= MIN_REQUESTS]
    out = []
    for pair in REQUEST_PAIRS:
        long, short = windows[pair.long_days], windows[pair.short_days]
        if pair not in looking:
            out.append(CountOutcome(pair, long, short, None, 0.0, False))
            continue
        alpha = look_alpha(share_per_week, looks_per_week, len(looking))
        rate = long.rate
        if rate is None or rate < pair.threshold:
            # Under its threshold a pair can neither fire nor need a reset: no test run (a
            # look over 10,000 healthy segments makes no binomial call).
            out.append(CountOutcome(pair, long, short, None, alpha, False))
            continue
        p_value = count_burn_pvalue(long, NULL_RATE)
        below = count_below_pvalue(short, pair.threshold)
        short_recovered = below is not None and below < SHORT_VETO_LEVEL
        fires = p_value is not None and p_value <= alpha and not short_recovered
        out.append(CountOutcome(pair, long, short, p_value, alpha, fires, short_recovered))
    return out


def look_alpha(share_per_week: float, looks_per_week: float, looking: int) -> float:
    """Level of one pair's test at one look: the objective's share of the false-alarm budget
    split over the pairs that look and over *every* look of a week (the plain union bound).
    Not the quality SLO's calibrated spacing (one look per eighth of the long window,
    :func:`shadowgap.slo.rules.distinct_looks`): that was measured at daily looks over
    weeks-long windows, and at 5-minute looks over a 3-day window it measured twice over the
    share (``benchmarks/loop_slo.py`` D). Exact counts leave the power to spare: a 2x burn of a
    1,000-requests-a-day segment still alerts within the 3-day window (E).

    >>> f"{look_alpha(0.00119, 2016, 2):.1e}"
    '3.0e-07'
    """
    if share_per_week <= 0 or looks_per_week <= 0 or looking < 1:
        raise ValueError("share, looks and looking pairs must be positive")
    return min(0.5, share_per_week / (looking * looks_per_week))


def firing(outcomes: list[CountOutcome]) -> list[CountOutcome]:
    return [outcome for outcome in outcomes if outcome.fires]


def recovered(outcomes: list[CountOutcome]) -> bool:
    """An open alert may resolve once no pair fires and every pair that looks is either under
    its threshold over its long window or reset by its short window (confidently below the
    threshold, the workbook's reset). Only a test that no longer passes is not enough: at the
    moment a burn is found its p-value hovers about the level, and resolving then closed and
    reopened the alert of one burn in ten (``benchmarks/loop_slo.py`` F). After a long outage a
    busy segment resolves as soon as its short windows are clean; a quiet one, whose short
    windows cannot be confidently clean, once the long windows are back under threshold."""
    if firing(outcomes):
        return False
    return all(
        not o.looks or o.long.rate is None or o.long.rate < o.pair.threshold or o.reset
        for o in outcomes
    )
