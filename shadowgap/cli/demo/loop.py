"""The demo's loop: the proposal shadowgap makes for the regressing tenant, the router change
that applies it, and what the change's verification says.

The simulated router applies the route-to-flagship proposal at :data:`FIX_AT` of the stream
(traffic.py routes every request of the tenant to the flagship from there), 4.2 days of event
time after the break at 50%: after both of the tenant's detections (in the demo test, 54 and
158 of its requests after the break, about 0.4 and 1.5 days), plus about 2.7 days for someone
to read the alert, take the proposal and ship the rule. The demo replays the stream in two
parts: up to the fix, then (once the proposal is made from the first part and the change is
recorded with the proposal's id through the changes API) the rest; the scope's detectors
re-baseline at the change, and ``shadowgap.changes.verify`` compares before with after.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from shadowgap.attribution.proposals import list_proposals
from shadowgap.config import Settings
from shadowgap.db.models import Segment

FIX_AT = 0.8
ROUTE_TO_FLAGSHIP = "route_to_flagship"


def route_proposal(
    session: Session, settings: Settings, segment_key: str, end: datetime
) -> dict[str, Any] | None:
    """The segment's route-to-flagship proposal over the window ending at ``end``; None when
    shadowgap proposes none (the segment does not burn, or no router can name it)."""
    segment_id = session.scalar(select(Segment.id).where(Segment.key == segment_key))
    if segment_id is None:
        return None
    found = list_proposals(session, settings, end, segment_id=segment_id)["proposals"]
    return next((p for p in found if p["kind"] == ROUTE_TO_FLAGSHIP), None)


def predicted_effect(proposal: dict[str, Any]) -> dict[str, Any]:
    """The proposal's predicted effect as a change records it: after minus before, per metric
    (``shadowgap.changes.record.PREDICTED_METRICS``), with an interval.

    The proposal gives the current and predicted figures, each with its own 95% interval; the
    difference's interval here spans from the lowest to the highest difference the two allow
    (wider than a joint interval would be: a looser tolerance, never a tighter one). The excess
    gap is the proposal's among cheap-routed pairs; the verification measures it per request of
    the scope, so it is scaled by the current cheap share (routed to the flagship, the scope's
    per-request excess becomes 0)."""
    current, predicted = proposal["current"], proposal["predicted"]
    out: dict[str, Any] = {}
    for metric, key in (("cost_per_day", "cost_per_day_usd"), ("p95_ms", "p95_ms")):
        now, then = current[key], predicted[key]
        if None in (now["value"], now["low"], now["high"], then["value"]):
            continue
        low, high = then["low"], then["high"]
        value = then["value"] - now["value"]
        bounds = sorted(
            (
                (low if low is not None else then["value"]) - now["high"],
                (high if high is not None else then["value"]) - now["low"],
            )
        )
        out[metric] = {"value": value, "ci": [min(bounds[0], value), max(bounds[1], value)]}
    gap, share = current["excess_gap"], current["cheap_share"]
    if gap["value"] is not None and gap["low"] is not None and gap["high"] is not None:
        # Per request: share x excess before, 0 after.
        out["excess_gap"] = {
            "value": -share * gap["value"],
            "ci": [-share * gap["high"], -share * gap["low"]],
        }
    return out


def change_body(proposal: dict[str, Any], at: datetime) -> dict[str, Any]:
    """The ``POST /v1/changes`` body recording that the router applied ``proposal`` at ``at``."""
    scope = proposal.get("segment") or proposal.get("slice")
    return {
        "scope": scope,
        "at": at.isoformat(),
        "description": f"router: {scope} routed to the flagship (shadowgap proposal)",
        "proposal_id": proposal["id"],
        "predicted": predicted_effect(proposal),
    }


def verdict_lines(change: dict[str, Any]) -> list[str]:
    """What the verification says about a change (its ``/v1/changes`` view), in plain words."""
    status = change["status"]
    verification = change.get("verification") or {}
    looks = verification.get("looks") or []
    lines = [f"verdict: {status} ({len(looks)} looks taken)"]
    for metric, item in (verification.get("realised") or {}).items():
        if metric == "unit" or not isinstance(item, dict) or item.get("delta") is None:
            continue
        ci = item.get("ci")
        interval = f" [{ci[0]:.3g}, {ci[1]:.3g}]" if ci else ""
        predicted = item.get("predicted") or {}
        expected = f", predicted {predicted['value']:.3g}" if predicted else ""
        lines.append(
            f"  {metric:<13} {item['before']:.3g} -> {item['after']:.3g}: "
            f"{item['delta']:+.3g}{interval}{expected}"
        )
    worse = [metric for look in looks for metric in look.get("worse") or []]
    if worse:
        lines.append(f"  worse beyond tolerance: {', '.join(sorted(set(worse)))}")
    decided = next((look for look in looks if look.get("decisive")), None)
    if status == "verified" and decided is not None and decided.get("all_flagship_after"):
        lines.append(
            f"  decided at look {decided['look']}: no request of the scope went cheap in "
            f"{decided['events_after']} requests after the change, so none can lose on the "
            "cheap path (its excess gap is 0 on every request; no judged pairs needed)"
        )
    pending = verification.get("pending")
    if status == "pending" and pending is not None:
        lines.append(
            f"  pending: {pending.get('pairs')} judged pairs after the change, "
            f"{pending.get('pairs_needed')} needed"
        )
    return lines
