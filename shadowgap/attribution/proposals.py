"""Routing changes proposed for the segments whose quality burns, with their predicted effect.

For each segment :func:`shadowgap.attribution.proposal_triggers.burning_segments` returns:

- **route to the flagship** when a router can see the segment (every dimension is a tenant,
  team, API key alias, model or tag: ``VISIBLE_DIMENSIONS``): its cheap share becomes 0, so
  does its excess gap, and it costs and takes what its flagship-routed requests do;
- **move its threshold** when its requests carry router scores and the threshold what-if
  certifies a threshold (the largest cheap share whose excess gap is under the target with 90%
  one-sided confidence, forward and reverse-shadow pairs; ``shadowgap.attribution.thresholds``).
  Segments a router cannot name (defined by what requests look like) only get this one.

Each carries the current and predicted cost per day, excess gap and p95 with 95% intervals
(``shadowgap.stats.counterfactual``, ``shadowgap.stats.excess_gap``), the evidence behind
them, the change in the formats routers read (``router_formats``) and a stable id: a hash of
the scope, the rule and the data window, so the same evidence always names the same proposal
and a recorded router change can cite it.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shadowgap.attribution.periods import Period, Window, load_period
from shadowgap.attribution.proposal_triggers import Trigger, burning_segments
from shadowgap.attribution.router_formats import (
    json_rule,
    litellm_tag_fragment,
    litellm_yaml,
    routellm_model_name,
)
from shadowgap.attribution.slice_scope import (
    SliceScope,
    confirmed_slices,
    dimensions_of,
    router_conditions,
    slice_evidence,
)
from shadowgap.attribution.thresholds import (
    ONE_SIDED_CONFIDENCE,
    SEARCH_STEP,
    JudgedPairs,
    load_pairs,
    noise_sums,
    pair_sums,
    recommend,
    threshold_table,
)
from shadowgap.config import Settings
from shadowgap.db.models import TrafficEvent
from shadowgap.db.slice_match import definitions
from shadowgap.stats.counterfactual import cost_per_day, mixture_p95
from shadowgap.stats.estimates import Interval
from shadowgap.stats.excess_gap import ExcessGap, WeightedSums, excess_gap

VISIBLE_DIMENSIONS = ("tenant", "team", "api_key_alias", "route_model")
# The router's own output: it names no requests a router could be told to treat differently.
IGNORED_DIMENSIONS = ("route_tier",)
# A segment dimension's value for requests without it (shadowgap.ingest.segments.MISSING, which
# attribution may not import): no router can be told to match an absent attribute.
MISSING = "-"
_NO_PAIRS = JudgedPairs(
    score=np.zeros(0), flagship_won=np.zeros(0), weight=np.zeros(0), reverse=np.zeros(0, bool)
)
ASSUMPTIONS = (
    "Moved requests are assumed to cost and take what the path's current requests of this "
    "segment do; the excess gap of a threshold is measured on the judged pairs (forward and "
    "reverse shadow) on its cheap side."
)


def visible_conditions(dimensions: dict[str, Any]) -> dict[str, str] | None:
    """The segment's conditions when a router can match them all, else None."""
    conditions: dict[str, str] = {}
    for dimension, value in dimensions.items():
        if dimension in IGNORED_DIMENSIONS:
            continue
        visible = dimension in VISIBLE_DIMENSIONS or dimension.startswith("tag:")
        if not visible or value in (None, "", MISSING):
            return None
        conditions[dimension] = str(value)
    return conditions or None


def request_tag(conditions: dict[str, str]) -> str:
    """The LiteLLM tag that marks the scope's requests: the request's own tag when the scope is
    one tag, else a tag to attach to the scope's key or team."""
    if len(conditions) == 1:
        ((dimension, value),) = conditions.items()
        if dimension.startswith("tag:"):
            return dimension[4:] + value
    return "shadowgap-flagship:" + ",".join(f"{d}={v}" for d, v in sorted(conditions.items()))


def proposal_id(scope: str, rule: dict[str, Any], window: Window) -> str:
    text = json.dumps(
        {"scope": scope, "rule": rule, "window": window.describe()}, sort_keys=True, default=str
    )
    return "p_" + hashlib.sha256(text.encode()).hexdigest()[:16]


def _interval(value: Interval) -> dict[str, float | None]:
    return {"value": value.mean, "low": value.low, "high": value.high}


def _gap(gap: ExcessGap | None) -> dict[str, float | None]:
    if gap is None or gap.excess is None:
        return {"value": None, "low": None, "high": None}
    return {"value": gap.excess, "low": gap.ci_low, "high": gap.ci_high}


def _models(session: Session, segment_id: int, window: Window) -> tuple[str | None, str | None]:
    """The segment's most used cheap and flagship models in the window."""
    E = TrafficEvent
    query = (
        select(E.is_cheap, E.route_model, func.count())
        .where(E.segment_id == segment_id)
        .group_by(E.is_cheap, E.route_model)
    )
    if window.start is not None:
        query = query.where(E.occurred_at >= window.start)
    if window.end is not None:
        query = query.where(E.occurred_at < window.end)
    counts: dict[bool, Counter[str]] = {True: Counter(), False: Counter()}
    for cheap, model, n in session.execute(query):
        counts[bool(cheap)][model] += n
    top = {k: (c.most_common(1)[0][0] if c else None) for k, c in counts.items()}
    return top[True], top[False]


def _effects(
    period: Period, share: float, per_day: float, gap: dict[str, float | None]
) -> dict[str, Any]:
    cheap = period.cheap > 0
    return {
        "cheap_share": share,
        "cost_per_day_usd": _interval(
            cost_per_day(share, period.cost[cheap], period.cost[~cheap], per_day)
        ),
        "excess_gap": gap,
        "p95_ms": _interval(mixture_p95(share, period.latency[cheap], period.latency[~cheap])),
    }


@dataclass(frozen=True)
class Scope:
    """What a proposal is for: a segment or a confirmed slice, with its evidence."""

    field: str  # segment | slice
    key: str
    dimensions: dict[str, str]  # every condition, as {dimension: value}
    visible: dict[str, str] | None  # the conditions when a router can match them all
    reasons: list[str]
    gap: ExcessGap | None
    period: Period
    pairs: JudgedPairs
    noise: WeightedSums
    global_noise: WeightedSums
    cheap_model: str | None
    flagship_model: str | None
    # How a derived condition (cadence) is computed, for a router that matches it.
    definitions: dict[str, str] | None = None


def segment_proposals(
    session: Session, settings: Settings, trigger: Trigger, window: Window, days: float
) -> list[dict[str, Any]]:
    """The proposals for one triggered segment (none when neither change applies)."""
    period = load_period(session, trigger.segment_id, window)
    if len(period) == 0:
        return []
    cheap_model, flagship_model = _models(session, trigger.segment_id, window)
    scope = Scope(
        field="segment",
        key=trigger.segment_key,
        dimensions={
            d: str(v) for d, v in trigger.dimensions.items() if d not in IGNORED_DIMENSIONS
        },
        visible=visible_conditions(trigger.dimensions),
        reasons=trigger.reasons,
        gap=trigger.gap,
        period=period,
        pairs=load_pairs(session, trigger.segment_id, window)
        if np.isfinite(period.score).any()
        else _NO_PAIRS,
        noise=noise_sums(session, window, trigger.segment_id),
        global_noise=noise_sums(session, window, None),
        cheap_model=cheap_model,
        flagship_model=flagship_model,
    )
    per_day = _event_count(session, trigger.segment_id, window) / days
    return scope_proposals(settings, scope, window, per_day)


def scope_proposals(
    settings: Settings, scope: Scope, window: Window, per_day: float
) -> list[dict[str, Any]]:
    """Route to the flagship when a router can see the scope; a threshold when its scores and
    pairs certify one."""
    period = scope.period
    current_share = float(period.cheap.mean())
    flagship_model = scope.flagship_model or settings.flagship_model
    cheap_model = scope.cheap_model
    cheap_when = settings.router_cheap_when
    base = {
        scope.field: scope.key,
        "triggered_by": scope.reasons,
        "window": window.describe(),
        "current": _effects(period, current_share, per_day, _gap(scope.gap)),
        "assumptions": ASSUMPTIONS,
    }
    found: list[dict[str, Any]] = []
    conditions = scope.visible
    if conditions:
        rule = json_rule(conditions, "route_to_flagship", threshold=None, cheap_when=cheap_when)
        tag = request_tag(conditions)
        group = settings.proposal_model_group or cheap_model or "default"
        fragment = litellm_tag_fragment(group, flagship_model, cheap_model or "cheap", tag)
        comment = (
            f"shadowgap proposal: route {scope.key} to the flagship.\n"
            f"Requests tagged '{tag}' (request metadata.tags, or the tags of the key or team "
            "that sends them) go to the flagship deployment; untagged ones to 'default'."
        )
        found.append(
            {
                **base,
                "id": proposal_id(scope.key, rule, window),
                "kind": "route_to_flagship",
                "conditions": conditions,
                "predicted": _effects(
                    period, 0.0, per_day, {"value": 0.0, "low": 0.0, "high": 0.0}
                ),
                "evidence": {"events": len(period), "judged_pairs": period.judged},
                "formats": {
                    "litellm_config": litellm_yaml(fragment, comment),
                    "routellm_model": None,
                    "json_rule": rule,
                },
            }
        )
    threshold = _threshold_proposal(settings, scope, window, per_day, base)
    if threshold is not None:
        found.append(threshold)
    return found


def _threshold_proposal(
    settings: Settings,
    scope: Scope,
    window: Window,
    per_day: float,
    base: dict[str, Any],
) -> dict[str, Any] | None:
    period, pairs = scope.period, scope.pairs
    if not np.isfinite(period.score).any():
        return None
    rows = threshold_table(
        period,
        pairs,
        scope.noise,
        scope.global_noise,
        cheap_below=settings.router_cheap_when == "below",
        step=SEARCH_STEP,
    )
    best = recommend(rows, settings.target_excess_gap)
    # Nothing certified, or the certified threshold is where the router already is.
    if best is None or abs(best.cheap_share - float(period.cheap.mean())) < SEARCH_STEP / 2:
        return None
    rule = json_rule(
        scope.dimensions,
        "set_threshold",
        threshold=best.threshold,
        cheap_when=settings.router_cheap_when,
    )
    if scope.definitions:
        rule["definitions"] = scope.definitions
    return {
        **base,
        "id": proposal_id(scope.key, rule, window),
        "kind": "threshold",
        "conditions": scope.dimensions,
        "threshold": best.threshold,
        "confidence": ONE_SIDED_CONFIDENCE,
        "predicted": _effects(period, best.cheap_share, per_day, _gap(best.gap)),
        "evidence": {
            "events": len(period),
            "forward_pairs": int(np.count_nonzero(~pairs.reverse)),
            "reverse_pairs": int(np.count_nonzero(pairs.reverse)),
            "pairs_below_threshold": best.gap.gap_pairs if best.gap else 0,
        },
        "formats": {
            "litellm_config": None,
            "routellm_model": routellm_model_name(settings.routellm_router, best.threshold)
            if settings.router_cheap_when == "below"
            else None,
            "json_rule": rule,
        },
    }


def _event_count(session: Session, segment_id: int, window: Window) -> int:
    E = TrafficEvent
    query = select(func.count()).select_from(E).where(E.segment_id == segment_id)
    if window.start is not None:
        query = query.where(E.occurred_at >= window.start)
    if window.end is not None:
        query = query.where(E.occurred_at < window.end)
    return int(session.scalar(query) or 0)


def slice_proposals(
    session: Session, settings: Settings, scope: SliceScope, window: Window, days: float
) -> list[dict[str, Any]]:
    """The proposals for one confirmed slice: route to the flagship when a router can see it
    (tenant, team, key, tag, model), else a threshold for its requests (a cadence slice's rule
    says how the class is computed). Its noise floor is the
    deployment's (slices pool it: shadowgap.slices.lattice)."""
    evidence = slice_evidence(session, scope, window)
    period, pairs = evidence.period, evidence.pairs
    if len(period) == 0:
        return []
    global_noise = noise_sums(session, window, None)
    forward = ~pairs.reverse
    gap = excess_gap(
        pair_sums(pairs.flagship_won[forward], pairs.weight[forward]),
        WeightedSums(),
        global_noise,
    )
    reasons = [f"confirmed slice {scope.key}"]
    if scope.alert_id is not None:
        reasons.append(f"slice alert #{scope.alert_id}")
    found = Scope(
        field="slice",
        key=scope.key,
        dimensions=dimensions_of(scope.conditions),
        visible=router_conditions(scope.conditions),
        reasons=reasons,
        gap=gap,
        period=period,
        pairs=pairs,
        noise=WeightedSums(),
        global_noise=global_noise,
        cheap_model=evidence.cheap_model,
        flagship_model=evidence.flagship_model,
        definitions=definitions((name for name, _ in scope.conditions), settings.slice_window_days),
    )
    return scope_proposals(settings, found, window, len(period) / days)


def list_proposals(
    session: Session,
    settings: Settings,
    end: Any,
    *,
    segment_id: int | None = None,
    slice_key: str | None = None,
    slices_only: bool = False,
) -> dict[str, Any]:
    """Every proposal over the window ending at ``end``: for the burning segments and the
    confirmed slices (only one segment's, one slice's, or the slices', when given)."""
    days = settings.proposal_window_days
    window = Window(start=end - timedelta(days=days), end=end)
    proposals = []
    if slice_key is None and not slices_only:
        triggers = burning_segments(
            session, window, settings.target_excess_gap, segment_id=segment_id
        )
        for trigger in triggers:
            proposals.extend(segment_proposals(session, settings, trigger, window, float(days)))
    # Feature values of unsampled events are emptied once slice_feature_days old (the text
    # window): a slice's evidence stops there, or its requests would be only the sampled ones.
    slice_days = min(float(days), settings.slice_feature_days)
    if segment_id is None and slice_days > 0:
        slice_window = Window(start=end - timedelta(days=slice_days), end=end)
        for scope in confirmed_slices(session, slice_key):
            proposals.extend(slice_proposals(session, settings, scope, slice_window, slice_days))
    return {
        "window": window.describe(),
        "target_excess_gap": settings.target_excess_gap,
        "proposals": proposals,
    }
