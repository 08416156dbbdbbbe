"""How big a change is, and how loud its alert should be.

Severity mapping (documented here because operators tune routing rules against it):

1. Effect size, on the signal's own scale:

   * ``absolute`` signals (routing share, flagship-wins rate, escalation and error rates):
     ``|after - before|``; small >= 0.05, medium >= 0.10, large >= 0.20 (percentage points / 100).
   * ``relative`` signals (latency, cost per request, a segment's share of all traffic):
     ``|after - before| / |before|``; small >= 0.2, medium >= 0.5, large >= 1.0 (a doubling).

   That gives an effect level: tiny 0, small 1, medium 2, large 3. A detector that fired without
   before/after means counts as small (1): something changed, we cannot say how much.

2. Segment volume, as the segment's share of all events (``Segment.event_count``):
   share >= 10% adds 1, share < 1% subtracts 1, anything in between adds 0. Small segments still
   alert (that is the point of per-segment detection) but page less often.

3. ``effect level + volume adjustment``: >= 4 critical, 3 error, 2 warning, <= 1 info.
   So a large change on a big segment is critical, a large change on a mid-size segment (or a
   medium one on a big segment) is an error, and so on.

4. A change in the harmless direction (latency, cost, error rate or quality gap going *down*) is
   capped at info: it is still worth a record, never a page.

5. Sample size. A drift with fewer than ``MIN_PAGE_SAMPLES`` samples after its change point is
   capped at warning (a record and a Slack message, never a page): one absurd value, or a
   handful, must not wake anyone, however large the change looks.

No-data alerts use volume alone: share >= 10% error, >= 1% warning, else info.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

from shadowgap.config import ALERT_SEVERITIES
from shadowgap.enums import Severity

SEVERITIES: tuple[str, ...] = ALERT_SEVERITIES
SEVERITY_RANK: dict[str, int] = {
    Severity.INFO: 0,
    Severity.WARNING: 1,
    Severity.ERROR: 2,
    Severity.CRITICAL: 3,
}

Kind = Literal["rate", "mean"]
Scale = Literal["absolute", "relative"]
Source = Literal["events", "verdicts"]
Direction = Literal["up", "down", "both"]

EFFECT_THRESHOLDS: dict[str, tuple[float, float, float]] = {
    "absolute": (0.05, 0.10, 0.20),
    "relative": (0.20, 0.50, 1.00),
}
BIG_SEGMENT_SHARE = 0.10
SMALL_SEGMENT_SHARE = 0.01
MIN_PAGE_SAMPLES = 20


@dataclass(frozen=True)
class SignalSpec:
    """What a signal's values are, so effect sizes and confidence intervals make sense.

    kind: ``rate`` values are proportions (Wilson interval), ``mean`` values are averages of
    per-request values (normal interval). scale: how the effect size is measured. source: whether
    the signal is fed by traffic events or by judged verdicts (decides which requests count as
    "after the change" when picking examples). bad: the direction that hurts.
    """

    kind: Kind
    scale: Scale
    source: Source = "events"
    bad: Direction = "up"


_RATE = SignalSpec("rate", "absolute")
_AMOUNT = SignalSpec("mean", "relative")

# The signals of shadowgap/drift/signals.py. Their DriftEvent before/after means are on the raw
# scale (rates of the 0/1 values the CUSUMs see; milliseconds; USD). Other names fall back to
# the heuristics in signal_spec, and DriftEvent.details can always say it explicitly.
KNOWN_SIGNALS: dict[str, SignalSpec] = {
    # A router moving a segment is news whichever way it goes.
    "routing_share": SignalSpec("rate", "absolute", bad="both"),
    # The flagship-wins rate of judged pairs: up means the cheap path got worse.
    "quality_gap": SignalSpec("rate", "absolute", source="verdicts"),
    "latency": _AMOUNT,
    "escalation_rate": _RATE,
    "error_rate": _RATE,
    "cost_per_request": _AMOUNT,
    "tail_latency": _AMOUNT,
    # A share of all traffic is small, so it is judged relative: doubling or halving is large.
    "traffic_share": SignalSpec("rate", "relative", bad="both"),
    # Answer defects of the cheap path, checked at ingest without a flagship.
    "tool_call_invalid_rate": _RATE,
    "schema_invalid_rate": _RATE,
    "truncation_rate": _RATE,
    "refusal_rate": _RATE,
}


def signal_spec(signal: str, details: dict[str, Any] | None = None) -> SignalSpec:
    """The spec of ``signal``; ``details`` keys kind/scale/source/bad override it."""
    base = KNOWN_SIGNALS.get(signal) or _guess(signal)
    details = details or {}
    kind = details.get("kind") if details.get("kind") in ("rate", "mean") else base.kind
    scale = details.get("scale") if details.get("scale") in EFFECT_THRESHOLDS else base.scale
    source = details.get("source") if details.get("source") in ("events", "verdicts") else None
    bad = details.get("bad") if details.get("bad") in ("up", "down", "both") else base.bad
    return SignalSpec(kind, scale, source or base.source, bad)  # type: ignore[arg-type]


def _guess(signal: str) -> SignalSpec:
    name = signal.lower()
    if "share" in name:
        return SignalSpec("rate", "absolute", bad="both")
    if name.endswith("_rate") or name.startswith("rate_"):
        source: Source = "verdicts" if ("win" in name or "quality" in name) else "events"
        return SignalSpec("rate", "absolute", source=source)
    if "quality" in name or "gap" in name:
        return SignalSpec("rate", "absolute", source="verdicts")
    return _AMOUNT


def effect_size(spec: SignalSpec, before: float | None, after: float | None) -> float | None:
    """Size of the change on the signal's scale (see the module docstring), or None."""
    if before is None or after is None:
        return None
    delta = abs(after - before)
    if spec.scale == "absolute":
        return delta
    if before == 0:
        return math.inf if delta > 0 else 0.0
    return delta / abs(before)


def effect_level(spec: SignalSpec, effect: float | None) -> int:
    if effect is None:
        return 1
    small, medium, large = EFFECT_THRESHOLDS[spec.scale]
    if effect >= large:
        return 3
    if effect >= medium:
        return 2
    if effect >= small:
        return 1
    return 0


def volume_adjustment(share: float) -> int:
    if share >= BIG_SEGMENT_SHARE:
        return 1
    if share < SMALL_SEGMENT_SHARE:
        return -1
    return 0


def _from_score(score: int) -> Severity:
    if score >= 4:
        return Severity.CRITICAL
    if score == 3:
        return Severity.ERROR
    if score == 2:
        return Severity.WARNING
    return Severity.INFO


def is_harmless_direction(spec: SignalSpec, before: float | None, after: float | None) -> bool:
    if before is None or after is None or spec.bad == "both":
        return False
    return after < before if spec.bad == "up" else after > before


def drift_severity(
    spec: SignalSpec,
    before: float | None,
    after: float | None,
    volume_share: float,
    after_n: int | None = None,
) -> Severity:
    """critical | error | warning | info for a drift, per the mapping in the module docstring."""
    if is_harmless_direction(spec, before, after):
        return Severity.INFO
    effect = effect_size(spec, before, after)
    severity = _from_score(effect_level(spec, effect) + volume_adjustment(volume_share))
    if after_n is not None and after_n < MIN_PAGE_SAMPLES:
        return min(severity, Severity.WARNING, key=lambda s: SEVERITY_RANK.get(s, 0))
    return severity


def no_data_severity(volume_share: float) -> Severity:
    if volume_share >= BIG_SEGMENT_SHARE:
        return Severity.ERROR
    if volume_share >= SMALL_SEGMENT_SHARE:
        return Severity.WARNING
    return Severity.INFO


def max_severity(a: Severity, b: Severity) -> Severity:
    return a if SEVERITY_RANK.get(a, 0) >= SEVERITY_RANK.get(b, 0) else b
