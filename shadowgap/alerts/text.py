"""Plain-text pieces shared by the notifiers: numbers, intervals, one-line summaries."""

from __future__ import annotations

from typing import Any

from shadowgap.db.models import Alert


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


def fmt_window(window: dict[str, Any] | None, kind: str | None) -> str:
    """'12.0% (n=1,200; 95% CI 10.2%–13.9%)'."""
    if not window:
        return "n/a"
    text = f"{fmt_value(window.get('value'), kind)} (n={int(window.get('n') or 0):,}"
    ci = window.get("ci")
    if ci:
        text += f"; 95% CI {fmt_value(ci[0], kind)}–{fmt_value(ci[1], kind)}"
    return text + ")"


def segment_key(evidence: dict[str, Any]) -> str:
    return str((evidence.get("segment") or {}).get("key", "?"))


def change_line(evidence: dict[str, Any]) -> str:
    """'0.12 -> 0.31 (n=1200 -> 400)' for drift evidence, the silence for no-data evidence."""
    if evidence.get("type") == "no_data":
        minutes = evidence.get("silent_minutes")
        silent = f"{minutes:.0f} min" if isinstance(minutes, int | float) else "unknown"
        return f"no events for {silent} (last at {evidence.get('last_event_at') or 'never'})"
    kind = evidence.get("signal_kind")
    before, after = evidence.get("before") or {}, evidence.get("after") or {}
    return (
        f"{fmt_value(before.get('value'), kind)} → {fmt_value(after.get('value'), kind)} "
        f"(n={int(before.get('n') or 0):,} → {int(after.get('n') or 0):,})"
    )


def problem(alert: Alert, evidence: dict[str, Any]) -> str:
    """What the alert is about: 'no traffic', '<signal> drift' or 'regressed slice <key>'."""
    if evidence.get("type") == "no_data":
        return "no traffic"
    if evidence.get("type") == "slice":
        return f"regressed slice {(evidence.get('slice') or {}).get('key', '?')}"
    return f"{alert.signal} drift"


def headline(alert: Alert, evidence: dict[str, Any], action: str) -> str:
    """One line naming severity, signal, segment and the change (or the resolution)."""
    key = segment_key(evidence)
    if action == "resolve":
        return f"Resolved: {alert.signal} in {key} ({resolution_line(evidence)})"
    what = problem(alert, evidence)
    prefix = "Still open: " if action == "renotify" else ""
    return f"{prefix}[{alert.severity.upper()}] {what} in {key}: {change_line(evidence)}"


def resolution_line(evidence: dict[str, Any]) -> str:
    resolution = evidence.get("resolution") or {}
    by = resolution.get("by", "user")
    if evidence.get("type") == "no_data":
        return f"traffic is back, resolved by {by}"
    recent = resolution.get("recent") or {}
    if recent.get("value") is not None:
        kind = evidence.get("signal_kind")
        return (
            f"back at baseline: {fmt_value(recent['value'], kind)} over the last "
            f"{int(recent.get('n') or 0):,} samples, resolved by {by}"
        )
    return f"resolved by {by}"


def why_line(evidence: dict[str, Any]) -> str | None:
    """The attribution's headline with every factor's share, e.g. '72% of the rise comes
    from the router sending more of this segment cheap (router share 72% [55%–90%], ...)'."""
    attribution = evidence.get("attribution") or {}
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
