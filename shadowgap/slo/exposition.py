"""The SLO state in Prometheus' text format, for ``/metrics``.

Computed from the database at each scrape (:func:`shadowgap.slo.budget.slo_statuses`, windows
ending at the event-time watermark), never kept in a process: every API worker answers the same
numbers for the same rows, so a scraper that hits a different one of ``--workers 4`` each time
sees one consistent series.

Cardinality stays bounded at any number of segments: per-segment series only for the
``SHADOWGAP_SLO_METRICS_TOP_K`` segments burning fastest (the slowest pair's long-window burn
rate, ties by key), and for every segment in aggregate: how many are burning, how many have
spent their budget, how many are not listed, and the least budget left among them. At 10,000
segments and the default k of 100 that is at most ``6 * 100 + 7`` series. The latency and
error-rate SLOs follow the same rule under their own names (``shadowgap_slo_request_*``, label
``objective``): at most ``2 * 7 * k + 10`` more.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.orm import Session

from shadowgap.config import Settings
from shadowgap.slo.budget import SegmentSlo, slo_statuses
from shadowgap.slo.request_rules import window_label
from shadowgap.slo.requests import RequestSlo, request_slo_statuses


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


def _request_rank(statuses: list[RequestSlo]) -> tuple[float, str]:
    rates = [s.burn_rate for s in statuses if s.burn_rate is not None]
    return (-max(rates, default=float("-inf")), statuses[0].key)


class RequestSloCollector(Collector):
    """Gauges of the latency and error-rate SLOs (label ``objective``), under the same top-k
    rule: per-segment series for the ``k`` segments whose faster-burning objective burns
    fastest over the budget pair's 3-day window, aggregates for all."""

    def __init__(self, statuses: list[RequestSlo], k: int) -> None:
        self.statuses = statuses
        self.k = k

    def collect(self) -> Iterator[GaugeMetricFamily]:
        by_segment: dict[int, list[RequestSlo]] = {}
        for status in self.statuses:
            by_segment.setdefault(status.segment_id, []).append(status)
        listed = sorted(by_segment.values(), key=_request_rank)[: self.k]
        burn = GaugeMetricFamily(
            "shadowgap_slo_request_burn_rate",
            "Latency / error-rate SLO burn rate (bad share of all requests over the allowed "
            "share) of the segments burning fastest, per window",
            labels=["segment", "objective", "window"],
        )
        remaining = GaugeMetricFamily(
            "shadowgap_slo_request_budget_remaining_ratio",
            "Share of the latency / error-rate SLO's error budget left over the SLO window "
            "(negative: overspent)",
            labels=["segment", "objective"],
        )
        objective = GaugeMetricFamily(
            "shadowgap_slo_request_objective_ratio",
            "The share of requests the segment's latency / error-rate SLO allows to be slow "
            "or to fail",
            labels=["segment", "objective"],
        )
        burning = GaugeMetricFamily(
            "shadowgap_slo_request_burning",
            "1 while a burn-rate pair of the segment's latency / error-rate SLO fires",
            labels=["segment", "objective"],
        )
        for group in listed:
            for status in group:
                labels = [status.key, status.kind]
                if status.window is not None and status.window.rate is not None:
                    burn.add_metric([*labels, window_label(status.window_days)], status.window.rate)
                for outcome in status.pairs:
                    if outcome.long.rate is not None:
                        window = window_label(outcome.pair.long_days)
                        burn.add_metric([*labels, window], outcome.long.rate)
                budget = status.budget
                if budget is not None and budget.remaining is not None:
                    remaining.add_metric(labels, budget.remaining)
                objective.add_metric(labels, status.objective.allowed)
                burning.add_metric(labels, 1.0 if status.burning else 0.0)
        yield from (burn, remaining, objective, burning)

        segments = GaugeMetricFamily(
            "shadowgap_slo_request_segments",
            "Segments with requests in the latency / error-rate SLO windows, by state "
            "(burning: a pair fires; exhausted: no budget left; unlisted: not in the top k)",
            labels=["objective", "state"],
        )
        least = GaugeMetricFamily(
            "shadowgap_slo_request_budget_remaining_min_ratio",
            "The least latency / error-rate SLO budget left among all segments",
            labels=["objective"],
        )
        for kind in ("latency", "error"):
            of_kind = [s for s in self.statuses if s.kind == kind]
            left = [
                s.budget.remaining
                for s in of_kind
                if s.budget is not None and s.budget.remaining is not None
            ]
            segments.add_metric([kind, "all"], len(of_kind))
            segments.add_metric([kind, "burning"], sum(1 for s in of_kind if s.burning))
            segments.add_metric([kind, "exhausted"], sum(1 for r in left if r <= 0))
            segments.add_metric([kind, "unlisted"], max(0, len(by_segment) - len(listed)))
            if left:
                least.add_metric([kind], min(left))
        yield from (segments, least)


def slo_exposition(session: Session, settings: Settings) -> bytes:
    """The SLO gauges in Prometheus' text format: the quality SLO's, then the latency and
    error-rate SLOs'."""
    registry = CollectorRegistry(auto_describe=False)
    k = settings.slo_metrics_top_k
    registry.register(SloCollector(slo_statuses(session, settings=settings), k))
    registry.register(RequestSloCollector(request_slo_statuses(session, settings=settings), k))
    return generate_latest(registry)
