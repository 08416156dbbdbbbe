"""The SLO state in Prometheus' text format, for ``/metrics``.

Computed from the database at each scrape (:func:`shadowgap.slo.budget.slo_statuses`, windows
ending at the event-time watermark), never kept in a process: every API worker answers the same
numbers for the same rows, so a scraper that hits a different one of ``--workers 4`` each time
sees one consistent series.

Cardinality stays bounded at any number of segments: per-segment series only for the
``SHADOWGAP_SLO_METRICS_TOP_K`` segments burning fastest (the slowest pair's long-window burn
rate, ties by key), and for every segment in aggregate: how many are burning, how many have
spent their budget, how many are not listed, and the least budget left among them. At 10,000
segments and the default k of 100 that is at most ``6 * 100 + 7`` series.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.orm import Session

from shadowgap.config import Settings
from shadowgap.slo.budget import SegmentSlo, slo_statuses


def _rank(status: SegmentSlo) -> tuple[float, str]:
    rate = status.burn_rate
    return (-(rate if rate is not None else float("-inf")), status.key)


def top_k(statuses: list[SegmentSlo], k: int) -> list[SegmentSlo]:
    """The ``k`` segments burning fastest (no burn rate last)."""
    return sorted(statuses, key=_rank)[:k]


class SloCollector(Collector):
    """Gauges of a fixed list of SLO states (module doc)."""

    def __init__(self, statuses: list[SegmentSlo], k: int) -> None:
        self.statuses = statuses
        self.k = k

    def collect(self) -> Iterator[GaugeMetricFamily]:
        listed = top_k(self.statuses, self.k)
        burn = GaugeMetricFamily(
            "shadowgap_slo_burn_rate",
            "Quality SLO burn rate (excess flagship-win rate per cheap-routed request over the "
            "objective) of the segments burning fastest, per window",
            labels=["segment", "window"],
        )
        remaining = GaugeMetricFamily(
            "shadowgap_slo_budget_remaining_ratio",
            "Share of the quality SLO's error budget left over the SLO window (negative: "
            "overspent)",
            labels=["segment"],
        )
        objective = GaugeMetricFamily(
            "shadowgap_slo_objective_ratio",
            "The segment's quality SLO objective (excess flagship-win rate allowed)",
            labels=["segment"],
        )
        burning = GaugeMetricFamily(
            "shadowgap_slo_burning",
            "1 while a burn-rate pair of the segment fires",
            labels=["segment"],
        )
        for status in listed:
            key = status.key
            if status.window.rate is not None:
                burn.add_metric([key, f"{status.window_days:g}d"], status.window.rate)
            for outcome in status.pairs:
                if outcome.long.rate is not None:
                    burn.add_metric([key, f"{outcome.pair.long_days:g}d"], outcome.long.rate)
            if status.budget.remaining is not None:
                remaining.add_metric([key], status.budget.remaining)
            objective.add_metric([key], status.objective)
            burning.add_metric([key], 1.0 if status.burning else 0.0)
        yield from (burn, remaining, objective, burning)

        segments = GaugeMetricFamily(
            "shadowgap_slo_segments",
            "Segments with judged pairs in the SLO window, by state (burning: a pair fires; "
            "exhausted: no budget left; all: every one)",
            labels=["state"],
        )
        segments.add_metric(["all"], len(self.statuses))
        segments.add_metric(["burning"], sum(1 for s in self.statuses if s.burning))
        exhausted = sum(
            1 for s in self.statuses if s.budget.remaining is not None and s.budget.remaining <= 0
        )
        segments.add_metric(["exhausted"], exhausted)
        segments.add_metric(["unlisted"], max(0, len(self.statuses) - len(listed)))
        yield segments
        known = [s.budget.remaining for s in self.statuses if s.budget.remaining is not None]
        least = GaugeMetricFamily(
            "shadowgap_slo_budget_remaining_min_ratio",
            "The least error budget left among all segments (listed or not)",
        )
        if known:
            least.add_metric([], min(known))
        yield least


def slo_exposition(session: Session, settings: Settings) -> bytes:
    """The SLO gauges in Prometheus' text format."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(
        SloCollector(slo_statuses(session, settings=settings), settings.slo_metrics_top_k)
    )
    return generate_latest(registry)
