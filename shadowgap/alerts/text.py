"""Plain-text pieces shared by the notifiers: numbers, intervals, one-line summaries."""

from __future__ import annotations

import json
from typing import Any

from shadowgap.alerts.schemas import (
    AlertEvidence,
    CallView,
    Comparison,
    Difference,
    Resolution,
    WindowSummary,
)
from shadowgap.db.models import Alert
from shadowgap.enums import DeliveryAction, EvidenceType


def clip(text: str, limit: int, marker: str = "…") -> str:
    """``text`` cut to at most ``limit`` characters, marking the cut."""
    if len(text) <= limit:
        return text
    return text[: max(0, limit - len(marker))] + marker


def fmt_value(value: float | None, kind: str | None) -> str:
    if value is None:
        return "n/a"
    if kind == "rate":
        return f"{value * 100:.1f}%"
    return f"{value:.4g}"


def fmt_window(window: WindowSummary | None, kind: str | None) -> str:
    """'12.0% (n=1,200; 95% CI 10.2%–13.9%)'."""
    if not window:
        return "n/a"
    text = f"{fmt_value(window.value, kind)} (n={window.count:,}"
    ci = window.ci
    if ci:
        text += f"; 95% CI {fmt_value(ci[0], kind)}–{fmt_value(ci[1], kind)}"
    return text + ")"


def change_line(evidence: AlertEvidence) -> str:
    """'0.12 -> 0.31 (n=1200 -> 400)' for drift evidence, the silence for no-data evidence."""
    if evidence.type == EvidenceType.NO_DATA:
        minutes = evidence.silent_minutes
        silent = f"{minutes:.0f} min" if isinstance(minutes, int | float) else "unknown"
        return f"no events for {silent} (last at {evidence.last_event_at or 'never'})"
    if evidence.type == EvidenceType.SLO_BURN:
        return slo_line(evidence)
    kind = evidence.signal_kind
    before, after = evidence.before or WindowSummary(), evidence.after or WindowSummary()
    return (
        f"{fmt_value(before.value, kind)} → {fmt_value(after.value, kind)} "
        f"(n={before.count:,} → {after.count:,})"
    )


def _request_slo_what(slo: dict[str, Any], share: str) -> str:
    """'3.0% slower than 10,000 ms vs 1.0% allowed' (latency) or '3.0% failed vs 1.0%
    allowed' (error rate)."""
    allowed = fmt_value(slo.get("objective"), "rate")
    threshold = slo.get("threshold_ms")
    if slo.get("objective_kind") == "latency" and isinstance(threshold, int | float):
        return f"{share} slower than {threshold:,.0f} ms vs {allowed} allowed"
    return f"{share} failed vs {allowed} allowed"


def slo_line(evidence: AlertEvidence) -> str:
    """'burning 2.3x over 28 d (excess 23.0% vs objective 10.0%, n=120); 58% of the 28-day
    budget spent' for an SLO burn: the first firing window's burn, the SLO window's budget.
    A latency or error-rate SLO reads 'burning 20.0x over 1h (20.0% slower than 10,000 ms
    vs 1.0% allowed, n=1,200)'."""
    slo = evidence.slo or {}
    after = evidence.after or WindowSummary()
    windows = [w for w in slo.get("windows") or [] if isinstance(w, dict) and w.get("fires")]
    first = windows[0] if windows else {}
    rate, days = first.get("long_burn_rate"), first.get("long_days")
    text = f"burning {rate:.1f}x" if isinstance(rate, int | float) else "burning"
    if isinstance(first.get("long"), str):
        text += f" over {first['long']}"
    elif isinstance(days, int | float):
        text += f" over {days:g} d"
    objective = slo.get("objective")
    if slo.get("objective_kind") in ("latency", "error"):
        what = _request_slo_what(slo, fmt_value(after.value, "rate"))
        text += f" ({what}, n={after.count:,})"
    else:
        text += (
            f" (excess {fmt_value(after.value, 'rate')} vs objective "
            f"{fmt_value(objective, 'rate')}, n={after.count:,})"
        )
    remaining = (slo.get("budget") or {}).get("remaining")
    window_days = slo.get("window_days")
    if isinstance(remaining, int | float) and isinstance(window_days, int | float):
        text += f"; {(1.0 - remaining) * 100:.0f}% of the {window_days:g}-day budget spent"
    return text


def problem(alert: Alert, evidence: AlertEvidence) -> str:
    """What the alert is about: 'no traffic', '<signal> drift' or 'regressed slice <key>'."""
    if evidence.type == EvidenceType.NO_DATA:
        return "no traffic"
    if evidence.type == EvidenceType.CHANGE_REGRESSED:
        # The rollback recommendation rides in the headline, so every channel carries it.
        return str(evidence.model_extra.get("recommendation") if evidence.model_extra else "")
    if evidence.type == EvidenceType.SLICE:
        key = (
            evidence.slice.key
            if evidence.slice and "key" in evidence.slice.model_fields_set
            else "?"
        )
        return f"regressed slice {key}"
    if evidence.type == EvidenceType.SLO_BURN:
        kind = (evidence.slo or {}).get("objective_kind")
        name = {"latency": "latency", "error": "error-rate"}.get(str(kind), "quality")
        return f"{name} SLO budget burning"
    return f"{alert.signal} drift"


def headline(alert: Alert, evidence: AlertEvidence, action: str) -> str:
    """One line naming severity, signal, segment and the change (or the resolution)."""
    key = evidence.segment_key
    if action == DeliveryAction.RESOLVE:
        return f"Resolved: {alert.signal} in {key} ({resolution_line(evidence)})"
    what = problem(alert, evidence)
    prefix = "Still open: " if action == DeliveryAction.RENOTIFY else ""
    return f"{prefix}[{alert.severity.upper()}] {what} in {key}: {change_line(evidence)}"


def resolution_line(evidence: AlertEvidence) -> str:
    resolution = evidence.resolution or Resolution()
    by = resolution.by if "by" in resolution.model_fields_set else "user"
    if evidence.type == EvidenceType.NO_DATA:
        return f"traffic is back, resolved by {by}"
    recent = resolution.recent or WindowSummary()
    if recent.value is not None:
        kind = evidence.signal_kind
        return (
            f"back at baseline: {fmt_value(recent.value, kind)} over the last "
            f"{recent.count:,} samples, resolved by {by}"
        )
    return f"resolved by {by}"


def why_line(evidence: AlertEvidence) -> str | None:
    """The attribution's headline with every factor's share, e.g. '72% of the rise comes
    from the router sending more of this segment cheap (router share 72% [55%–90%], ...)'."""
    attribution = evidence.attribution or {}
    if not attribution.get("available"):
        return None
    text = str(attribution.get("headline") or "")
    metric = attribution.get(attribution.get("headline_metric") or "") or {}
    parts = []
    for factor in metric.get("factors") or []:
        share = factor.get("share")
        if share is None:
            continue
        bit = f"{str(factor.get('factor', '?')).replace('_', ' ')} {share * 100:.0f}%"
        ci = factor.get("share_ci")
        if ci:
            bit += f" [{ci[0] * 100:.0f}%–{ci[1] * 100:.0f}%]"
        parts.append(bit)
    if parts:
        text += f" ({'; '.join(parts)}; 95% bootstrap intervals)"
    return text or None


def defects_line(evidence: AlertEvidence) -> str | None:
    """What the defective answers show, e.g. '31 of 120 answers: get_weather
    missing_argument at city (27), invalid_arguments_json (4)' (answer-defect signals)."""
    defects = evidence.answer_defects or {}
    kinds = defects.get("by_kind") or []
    if not kinds:
        return None
    parts = []
    for item in kinds:
        bit = str(item.get("kind") or "?")
        if item.get("tool"):
            bit = f"{item['tool']} {bit}"
        if item.get("path"):
            bit += f" at {item['path']}"
        parts.append(f"{bit} ({item.get('count', 0)})")
    head = f"{defects.get('defective', 0)} of {defects.get('answers', 0)} answers"
    return f"{head}: {', '.join(parts)}"


def difference_line(difference: Difference) -> str:
    """'wrong_value (cheap) get_weather.unit: cheap 'F' vs flagship 'celsius''."""
    where = ".".join(str(p) for p in (difference.function, difference.path) if p)
    side = f" ({difference.side})" if difference.side else ""
    text = f"{difference.kind or '?'}{side}"
    if where:
        text += f" {where}"
    return f"{text}: {difference.detail}" if difference.detail else text


def call_line(call: CallView | None) -> str:
    """A call on one line, 'name({"city": "Rome"})'; '(no call)' for a missing one."""
    if call is None:
        return "(no call)"
    arguments = call.arguments or ""
    if call.valid_json:
        # The stored form is indented for pages; one line for chat and incident tools.
        try:
            arguments = json.dumps(json.loads(arguments), ensure_ascii=False)
        except ValueError:
            pass  # cut by the evidence's bound: shown as stored
    return f"{call.name or '?'}({arguments})"


def fields_line(comparison: Comparison) -> str | None:
    """The structured-output judge's finding: which side breaks the format, which fields
    differ, which may name the same thing."""
    if comparison.cheap_break or comparison.flagship_break:
        sides = [
            f"{side} answer: {broken}"
            for side, broken in (
                ("cheap", comparison.cheap_break),
                ("flagship", comparison.flagship_break),
            )
            if broken
        ]
        text = "; ".join(sides)
        if comparison.violations:
            text += f" ({'; '.join(comparison.violations[:3])})"
        return text
    parts = []
    if comparison.differing_fields:
        parts.append(f"fields differ: {', '.join(comparison.differing_fields)}")
    if comparison.compatible_fields:
        parts.append(f"may name the same thing: {', '.join(comparison.compatible_fields)}")
    if comparison.free_text_fields:
        parts.append(f"free text: {', '.join(comparison.free_text_fields)}")
    return "; ".join(parts) or None
