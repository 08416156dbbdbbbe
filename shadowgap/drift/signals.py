"""The signals watched per segment: how stored rows become value streams, and their detectors.

Every signal has one entry in :data:`SIGNALS` with its detector, parameters and warm-up. The
table, with the reasoning behind each choice:

==================  ========================  =================================================
signal              value per row             detector (every threshold sized from the budget)
==================  ========================  =================================================
routing_share       event: 1 if routed cheap  two-sided Bernoulli CUSUM, shift 0.10, warm-up 500,
                                              with a two-sided GLR watching the warm-up: a router
                                              that moves a segment either way matters
quality_gap         'gap' verdict: 1 if the   one-sided Bernoulli GLR (no warm-up, window 500):
                    flagship won              verdicts are few, so a small segment must be
                                              watched from its first one
latency             cheap-routed event:       Gaussian CUSUM up, 0.5 sigma of log(1 + ms),
                    latency_ms
                                              warm-up 100, inputs clipped at 4 sigma: latencies
                                              are right-skewed, their log is close to normal
escalation_rate     event: 1 if escalated     Bernoulli CUSUM up, shift +0.05, warm-up 500, GLR
                                              watching the warm-up
error_rate          event: 1 if error or      Bernoulli CUSUM up, shift +0.02, warm-up 500, GLR
                    refused                   watching the warm-up: errors are rare, so a small
                                              absolute shift
cost_per_request    event: cost_usd           Gaussian CUSUM up, 0.5 sigma of log(1 + usd),
                                              warm-up 100, inputs clipped at 4 sigma
tail_latency        cheap-routed event:       tail CUSUM: Bernoulli CUSUM on exceeding the
                    latency_ms                segment's baseline p95 (learned from its first
                                              500 latencies), ratio 2 (5% -> 10% of requests
                                              slower than it): catches a cascade's tail that
                                              moves while the mean does not
traffic_share       all traffic: 1 if the     two-sided Bernoulli CUSUM, ratio 2 (share doubles
                    event is this segment's   or halves), warm-up 2,000 events of all traffic
tool_call_invalid_  cheap answer that calls   Bernoulli CUSUM up, shift +0.05, warm-up 500, GLR
rate                tools: 1 if a call's      watching the warm-up: a model swap or prompt
                    arguments are not JSON    change that breaks calls moves this rate by
                    or break the tool's       several points
                    schema
schema_invalid_     cheap JSON answer (the    as tool_call_invalid_rate
rate                request's response_format
                    asks for JSON): 1 if it
                    does not parse or breaks
                    the schema
truncation_rate     cheap answer with a       Bernoulli CUSUM up, shift +0.02, warm-up 500, GLR
                    finish_reason: 1 if it    watching the warm-up: rare, a small absolute shift
                    is ``length``
refusal_rate        cheap answer with a       as truncation_rate
                    finish_reason (or sent
                    as a message): 1 if it
                    refused
==================  ========================  =================================================

Rows with no value (an event without ``latency_ms`` or ``cost_usd``) are skipped.

**Answer defects.** The last four need no flagship: ingest checks every cheap answer
(:mod:`shadowgap.ingest.answer_checks`) and stores what applies in
``traffic_events.answer_checks``; an event the check does not apply to (no tool call, no JSON
asked for, no ``finish_reason``) gives no value. Refusals the refusal detector watches are
not counted by ``error_rate`` as well (one cause, one alert); it keeps the others (a
flagship-routed refusal, a sender that reports none but its ``refused`` flag).

**Which detectors share the budget.** The first eight signals have a detector in every
segment. The four answer-defect ones (``budget="where_fed"``) count towards the split only in
segments where they have had a value: a segment without tool calls has no tool-call detector,
so watching agentic traffic does not slow the detectors of prose segments. Where they have
values, each takes a quarter of an every-segment detector's share (:data:`ANSWER_SHARE`): a
segment whose four answer detectors all run spends one detector's share on them, as one
combined "answer defect" signal would, without mixing four rates of different levels into one
(see :func:`budget_shares`, :func:`budget_detectors`).

**Quality gap.** The detector sees the unweighted flagship-wins indicator of each 'gap'
verdict: within a segment the inclusion probability barely moves. The GLR maximises over the
unknown level before the change, so it needs no warm-up; a Beta prior pooled over the
segments stands in for the history a young segment lacks, and the segment's own verdicts
outweigh it as they come (segments differ in their normal gap). The *reported* estimate is the
excess gap, i.e. the Hajek flagship-wins rate of 'gap' verdicts minus the same rate of
'noise' verdicts (the flagship against a repeat of itself), both weighted by
``1 / inclusion_probability``, computed by the one definition in
:func:`shadowgap.stats.excess_gap.excess_gap`.

**Traffic share.** The segment's share of all traffic is a Bernoulli stream over *all* events:
0 for another segment's event, 1 for this segment's. Event ids are global, so the gap between
two consecutive ids of the segment says how many zeros came in between, and the CUSUM consumes
that run in O(1) (:meth:`BernoulliCUSUM.update_zeros`). Ids skipped by rolled-back inserts count
as other traffic, a negligible bias. A segment that falls silent produces no new ids: the
no-data alert covers that case.

**Sample accounting for the budget.** ``samples`` says what one detector update is. Each
detector's ARL0 follows the number of updates it sees per week of event time (a share of the
budget per detector, :func:`shadowgap.drift.budget.arl0_for_rate`): a quality detector with 35
verdicts a week gets an ARL0 in the thousands, a busy latency detector one in the millions.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from shadowgap.enums import EventStatus, VerdictKind, Winner

# Smallest inclusion probability honoured; a smaller (or zero) one would give a row unbounded
# weight in the Hajek estimate.
_MIN_PROBABILITY = 1e-6


class EventRow(Protocol):
    """The columns of ``traffic_events`` the signals read."""

    id: int
    is_cheap: bool
    latency_ms: float | None
    escalated: bool
    status: str
    refused: bool
    cost_usd: float | None
    answer_checks: dict[str, Any] | None


class VerdictRow(Protocol):
    """The columns of ``verdicts`` the quality signal reads."""

    id: int
    event_pk: int
    kind: str
    winner: str
    inclusion_probability: float


def routing_share_value(row: EventRow) -> float:
    return 1.0 if row.is_cheap else 0.0


def latency_value(row: EventRow) -> float | None:
    """Latency of cheap-routed requests only: a segment's latency over all tiers is a mixture
    whose weights are the routing share, so every routing wobble would read as a latency change
    (and a routing change would page twice). Routing share and escalation rate have their own
    detectors; this one watches the cheap path, escalations included."""
    return row.latency_ms if row.is_cheap else None


def tail_latency_value(row: EventRow) -> float | None:
    """Cheap-routed latency (as :func:`latency_value`, for the same reason): the tail detector
    compares it with the segment's baseline p95 of the cheap path, escalations included."""
    return row.latency_ms if row.is_cheap else None


def escalation_value(row: EventRow) -> float:
    return 1.0 if row.escalated else 0.0


def _answer_check(row: EventRow, key: str) -> Any:
    checks = getattr(row, "answer_checks", None)
    return checks.get(key) if isinstance(checks, dict) else None


def error_value(row: EventRow) -> float:
    """1 for an error, or a refusal that :func:`refusal_value` does not watch already."""
    if row.status == EventStatus.ERROR:
        return 1.0
    return 1.0 if row.refused and _answer_check(row, "refusal") is None else 0.0


def _defect(row: EventRow, key: str) -> float | None:
    found = _answer_check(row, key)
    if isinstance(found, dict):
        return 1.0 if found.get("invalid") else 0.0
    return None


def _flag(row: EventRow, key: str) -> float | None:
    found = _answer_check(row, key)
    return None if found is None else (1.0 if found else 0.0)


def tool_call_invalid_value(row: EventRow) -> float | None:
    """Cheap answers that call tools: 1 when a call's arguments break JSON or the schema."""
    return _defect(row, "tool_args")


def schema_invalid_value(row: EventRow) -> float | None:
    """Cheap answers to a request for JSON: 1 when the answer breaks the response schema."""
    return _defect(row, "schema")


def truncation_value(row: EventRow) -> float | None:
    """Cheap answers with a known finish reason: 1 when cut at the token limit."""
    return _flag(row, "truncated")


def refusal_value(row: EventRow) -> float | None:
    """Cheap answers with a known finish reason (or sent as a message): 1 for a refusal."""
    return _flag(row, "refusal")


def cost_value(row: EventRow) -> float | None:
    return row.cost_usd


def flagship_won(row: VerdictRow) -> float:
    """1 when the flagship beat the other answer (the cheap one, or its own repeat)."""
    return 1.0 if row.winner == Winner.FLAGSHIP else 0.0


@dataclass(frozen=True)
class SignalSpec:
    """One watched signal: where its values come from and how it is tested."""

    name: str
    source: Literal["events", "verdicts"]
    detector: str
    params: dict[str, Any]
    estimator: Literal["rate", "mean", "share", "excess"]
    samples: Literal["segment_events", "all_traffic", "verdicts"]
    description: str
    value: Callable[[EventRow], float | None] | None = field(default=None, compare=False)
    # "every_segment": a detector in every segment shares the false-alarm budget;
    # "where_fed": only in segments where the signal has had a value.
    budget: Literal["every_segment", "where_fed"] = "every_segment"
    # The key of ``traffic_events.answer_checks`` it reads (answer-defect signals only).
    check: str | None = None


def _rate_up(
    name: str,
    value: Callable[[EventRow], float | None],
    *,
    shift: float,
    description: str,
    check: str | None = None,
) -> SignalSpec:
    """A rate over the segment's events, watched upwards for a rise of ``shift`` (a
    self-starting Bernoulli CUSUM). An answer-defect signal (``check``, the answer check it
    reads) is a rate over the cheap answers its check applies to, and takes budget only in
    segments that feed it (see ANSWER_SHARE)."""
    return SignalSpec(
        name=name,
        source="events",
        detector="self_starting_bernoulli",
        params={"direction": "up", "shift": shift, "warmup": 500},
        estimator="rate",
        samples="segment_events",
        description=description,
        value=value,
        budget="every_segment" if check is None else "where_fed",
        check=check,
    )


def _log_mean(
    name: str, value: Callable[[EventRow], float | None], *, description: str
) -> SignalSpec:
    """A mean of right-skewed positive values (latency, cost), tested on ``log(1 + x)`` by a
    Gaussian CUSUM for a rise or fall of half a standard deviation."""
    return SignalSpec(
        name=name,
        source="events",
        detector="gaussian_cusum",
        params={"delta": 0.5, "transform": "log1p", "warmup": 100},
        estimator="mean",
        samples="segment_events",
        description=description,
        value=value,
    )


SIGNALS: dict[str, SignalSpec] = {
    spec.name: spec
    for spec in (
        SignalSpec(
            name="routing_share",
            source="events",
            detector="self_starting_bernoulli",
            params={"two_sided": True, "shift": 0.10, "warmup": 500},
            estimator="rate",
            samples="segment_events",
            description="Share of the segment's requests routed to the cheap path.",
            value=routing_share_value,
        ),
        SignalSpec(
            name="quality_gap",
            source="verdicts",
            detector="bernoulli_glr",
            params={"side": "up", "window": 500},
            estimator="excess",
            samples="verdicts",
            description="Rate at which the flagship beats the cheap answer, beyond the "
            "flagship-vs-flagship noise floor.",
        ),
        _log_mean(
            "latency",
            latency_value,
            description="Latency in ms of cheap-routed requests, escalations included (tested "
            "on log(1 + ms)).",
        ),
        _rate_up(
            "escalation_rate",
            escalation_value,
            shift=0.05,
            description="Share of requests a cascade escalated to a bigger model.",
        ),
        _rate_up(
            "error_rate",
            error_value,
            shift=0.02,
            description="Share of requests that errored or were refused.",
        ),
        _log_mean(
            "cost_per_request",
            cost_value,
            description="Router-reported cost per request in USD (tested on log(1 + usd)).",
        ),
        SignalSpec(
            name="tail_latency",
            source="events",
            detector="tail_cusum",
            params={"quantile": 0.95, "ratio": 2.0, "warmup": 500},
            estimator="mean",
            samples="segment_events",
            description="Cheap-path latency tail: tested as the share of cheap-routed requests "
            "slower than the segment's baseline p95 (a cascade's tail); reported as mean ms.",
            value=tail_latency_value,
        ),
        SignalSpec(
            name="traffic_share",
            source="events",
            detector="bernoulli_cusum",
            params={"two_sided": True, "ratio": 2.0, "warmup": 2000},
            estimator="share",
            samples="all_traffic",
            description="The segment's share of all mirrored traffic.",
        ),
        _rate_up(
            "tool_call_invalid_rate",
            tool_call_invalid_value,
            check="tool_args",
            shift=0.05,
            description="Share of cheap answers calling tools whose arguments are not valid "
            "JSON or break the tool's schema.",
        ),
        _rate_up(
            "schema_invalid_rate",
            schema_invalid_value,
            check="schema",
            shift=0.05,
            description="Share of cheap JSON answers (response_format) that do not parse or "
            "break the response schema.",
        ),
        _rate_up(
            "truncation_rate",
            truncation_value,
            check="truncated",
            shift=0.02,
            description="Share of cheap answers cut at the token limit (finish_reason length).",
        ),
        _rate_up(
            "refusal_rate",
            refusal_value,
            check="refusal",
            shift=0.02,
            description="Share of cheap answers that refused (a refusal, or finish_reason "
            "content_filter).",
        ),
    )
}

# Signals with a detector in every segment; the others count only where fed.
EVERY_SEGMENT = tuple(name for name, spec in SIGNALS.items() if spec.budget == "every_segment")
WHERE_FED = tuple(name for name, spec in SIGNALS.items() if spec.budget == "where_fed")


# An answer-defect detector's share of the budget, relative to an every-segment detector's:
# a segment whose four answer detectors all have inputs spends one detector's share on them.
ANSWER_SHARE = 0.25


# The quality SLO's burn-rate alerts (shadowgap.slo) of one segment take two every-segment
# detectors' shares of the budget: the SLO is the promise users read, and on a small segment
# one share leaves it short of the power to see a 2x burn within its window (docs/slo.md).
SLO_SHARE = 2.0

# The latency SLO's and the error-rate SLO's burn-rate alerts of one segment take a quarter of
# an every-segment detector's share each (as an answer-defect detector does): they count every
# request exactly, so a big segment passes their test as soon as it burns, and the level only
# decides how much evidence a low-traffic segment needs (docs/slo.md).
REQUEST_SLO_SHARE = 0.25
REQUEST_SLOS = 2  # latency, error rate


def budget_shares(n_segments: int, fed_where_fed: int) -> float:
    """Detectors sharing the false-alarm budget, each counted by its share: every segment's
    :data:`EVERY_SEGMENT` detectors (share 1), its quality SLO burn alerts (:data:`SLO_SHARE`)
    and its latency and error-rate SLO burn alerts (:data:`REQUEST_SLO_SHARE` each), plus the
    answer-defect detectors that have had a value (``fed_where_fed`` over all segments, share
    :data:`ANSWER_SHARE` each). A detector that never gets a value never
    raises a false alarm, so leaving it out keeps the expected total at the budget.

    >>> budget_shares(5, 0), budget_shares(5, 2)
    (52.5, 53.0)
    """
    per_segment = len(EVERY_SEGMENT) + SLO_SHARE + REQUEST_SLOS * REQUEST_SLO_SHARE
    return float(max(1, n_segments) * per_segment) + ANSWER_SHARE * max(0, fed_where_fed)


def budget_detectors(spec: SignalSpec, shares: float) -> int:
    """The ``D`` of ``ARL0 = D * N_d / F`` for one detector of ``spec``: the shares divided by
    its own share, so that the detectors' expected false alarms add up to the budget
    (a weighted union split: ``sum_d N_d / ARL0_d = F * sum_d share_d / shares = F``).

    >>> budget_detectors(SIGNALS["latency"], 50.5), budget_detectors(SIGNALS["refusal_rate"], 50.5)
    (51, 202)
    """
    share = 1.0 if spec.budget == "every_segment" else ANSWER_SHARE
    return math.ceil(shares / share)


def event_values(spec: SignalSpec, rows: Iterable[EventRow]) -> list[tuple[int, float]]:
    """``(event id, value)`` of an event signal, in row order, skipping rows without a value."""
    if spec.value is None:
        raise ValueError(f"{spec.name} is not a per-event value signal")
    out: list[tuple[int, float]] = []
    for row in rows:
        value = spec.value(row)
        if value is not None and math.isfinite(value):
            out.append((row.id, float(value)))
    return out


def traffic_gaps(event_ids: Sequence[int], previous_id: int | None) -> list[tuple[int, int]]:
    """``(event id, gap)``: how many all-traffic events each segment event closes.

    The gap counts the other segments' events since the previous one of this segment plus the
    event itself, so the share over a run of events is ``count / sum(gaps)``. The segment's
    first event ever has gap 1 (the stream starts there).

    >>> traffic_gaps([10, 13, 14], previous_id=4)
    [(10, 6), (13, 3), (14, 1)]
    """
    out: list[tuple[int, int]] = []
    previous = previous_id
    for event_id in event_ids:
        gap = 1 if previous is None else event_id - previous
        if gap < 1:
            raise ValueError("event ids must increase")
        out.append((event_id, gap))
        previous = event_id
    return out


def quality_stream(rows: Iterable[VerdictRow]) -> list[tuple[str, int, float, float]]:
    """``(kind, event_pk, value, weight)`` of 'gap' and 'noise' verdicts, in row order.

    The value is 1 when the flagship won; the weight is ``1 / inclusion_probability``. Other
    kinds are ignored, and so are rows taken only by the exploration draw (``base_draw``
    False). A probability outside ``(0, 1]`` is clamped into it rather than
    rejected: one bad row must not stall a segment's detectors for good.
    """
    out: list[tuple[str, int, float, float]] = []
    for row in rows:
        if row.kind not in (VerdictKind.GAP, VerdictKind.NOISE):
            continue
        if not getattr(row, "base_draw", True):
            continue  # taken only by the exploration draw: not the base design's sample
        probability = min(1.0, max(_MIN_PROBABILITY, float(row.inclusion_probability)))
        out.append((row.kind, row.event_pk, flagship_won(row), 1.0 / probability))
    return out
