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
  that look and their distinct looks, as the quality SLO's, :func:`shadowgap.slo.rules.
  pair_alpha`). A busy segment passes the test as soon as it crosses the threshold: the
  workbook's rule;
- the short window vetoes when it is confidently below the threshold (the exact test of
  "burning at the threshold" rejects downwards at 2.5%): the workbook's reset for a busy
  segment, while an empty five minutes of a quiet one cannot silence a burn.
"""

from __future__ import annotations

from dataclasses import dataclass

from shadowgap.enums import Severity
from shadowgap.slo.rules import NULL_RATE, BurnPair, pair_alpha
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
    p_value: float | None  # of "burning at most NULL_RATE", None when the window did not look
    alpha: float  # the level it is held to (0 when it does not look)
    fires: bool

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
        alpha = pair_alpha(pair, share_per_week, looks_per_week, len(looking))
        p_value = count_burn_pvalue(long, NULL_RATE)
        rate = long.rate
        long_holds = (
            rate is not None and rate >= pair.threshold and p_value is not None and p_value <= alpha
        )
        below = count_below_pvalue(short, pair.threshold)
        short_recovered = below is not None and below < SHORT_VETO_LEVEL
        out.append(
            CountOutcome(pair, long, short, p_value, alpha, long_holds and not short_recovered)
        )
    return out


def firing(outcomes: list[CountOutcome]) -> list[CountOutcome]:
    return [outcome for outcome in outcomes if outcome.fires]


def recovered(outcomes: list[CountOutcome]) -> bool:
    """An open alert may resolve once no pair fires and the slow pair's long window (6 h) is
    back under 1x, on pace to keep the budget: the hysteresis keeps a burn that hovers at a
    threshold from closing and reopening its alert every few looks. A segment without
    requests in that window has nothing burning."""
    if firing(outcomes):
        return False
    slow = next(o for o in outcomes if o.pair.name == "slow")
    return slow.long.rate is None or slow.long.rate < 1.0
