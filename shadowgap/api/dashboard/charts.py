"""The dashboard's inline SVG charts (no script): a signal over time, and the threshold what-if.

The line chart draws one signal's buckets with drift events marked; the threshold what-if

puts on x the cheap share a threshold gives, y the expected excess gap on the requests it sends
cheap, with its 95% interval as a band; a dashed line marks the target, a ring the recommended
threshold and a vertical line the router's current share. Every point carries data-* attributes
and a <title> so the chart reads without script.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from markupsafe import Markup, escape

from shadowgap.db import models

WIDTH, HEIGHT = 720, 220
LEFT, RIGHT, TOP, BOTTOM = 62, 14, 12, 34


def threshold_chart(view: dict[str, Any]) -> Markup:
    rows = [r for r in view.get("thresholds") or [] if r["excess_gap"] is not None]
    target = float(view.get("target_excess_gap") or 0.0)
    values = [target] + [v for r in rows for v in (r["excess_gap_ci"] or [r["excess_gap"]])]
    lo, hi = min(min(values), 0.0), max(values) * 1.1 or 0.1
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(share: float) -> float:
        return LEFT + share * plot_w

    def y(value: float) -> float:
        return TOP + (1.0 - (value - lo) / (hi - lo)) * plot_h

    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" data-signal="thresholds" '
        'aria-label="Threshold what-if: excess gap by cheap share">'
    ]
    for i in range(5):
        v = lo + (hi - lo) * i / 4
        parts.append(
            f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(v):.1f}" y2="{y(v):.1f}"/>'
            f'<text class="axis" x="{LEFT - 6}" y="{y(v) + 4:.1f}" text-anchor="end">'
            f"{v * 100:.1f}%</text>"
        )
    for i in range(6):
        share = i / 5
        parts.append(
            f'<text class="axis" x="{x(share):.1f}" y="{HEIGHT - 18}" text-anchor="middle">'
            f"{share * 100:.0f}%</text>"
        )
    parts.append(
        f'<text class="axis" x="{LEFT + plot_w / 2:.1f}" y="{HEIGHT - 4}" text-anchor="middle">'
        "share sent cheap at the threshold</text>"
    )
    bands = [r for r in rows if r["excess_gap_ci"]]
    if bands:
        upper = " ".join(f"{x(r['cheap_share']):.1f},{y(r['excess_gap_ci'][1]):.1f}" for r in bands)
        lower = " ".join(
            f"{x(r['cheap_share']):.1f},{y(r['excess_gap_ci'][0]):.1f}" for r in reversed(bands)
        )
        parts.append(f'<polygon class="band" points="{upper} {lower}"/>')
    parts.append(
        f'<line class="target" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(target):.1f}" '
        f'y2="{y(target):.1f}" stroke-dasharray="6 4"><title>target excess gap '
        f"{target * 100:.1f}%</title></line>"
    )
    if rows:
        path = " ".join(
            f"{'M' if i == 0 else 'L'}{x(r['cheap_share']):.1f},{y(r['excess_gap']):.1f}"
            for i, r in enumerate(rows)
        )
        parts.append(f'<path class="line whatif" d="{path}"/>')
    else:
        parts.append(
            f'<text class="empty" x="{LEFT + plot_w / 2}" y="{TOP + plot_h / 2}" '
            'text-anchor="middle">not enough scored, judged pairs yet</text>'
        )
    recommended = view.get("recommended") or {}
    for r in rows:
        best = recommended.get("threshold") == r["threshold"]
        tip = (
            f"threshold {r['threshold']:.4g}: {r['cheap_share'] * 100:.1f}% cheap, excess gap "
            f"{r['excess_gap'] * 100:.1f}% ({r['pairs']} pairs)"
            + (" — recommended" if best else "")
        )
        parts.append(
            f'<circle class="pt{" best" if best else ""}" cx="{x(r["cheap_share"]):.1f}" '
            f'cy="{y(r["excess_gap"]):.1f}" r="{5 if best else 2.6}" '
            f'data-threshold="{r["threshold"]:.6g}" data-share="{r["cheap_share"]:.6g}" '
            f'data-v="{r["excess_gap"]:.6g}"><title>{escape(tip)}</title></circle>'
        )
    current = view.get("current_cheap_share")
    if isinstance(current, float):
        parts.append(
            f'<g class="drift" data-share="{current:.6g}"><title>current cheap share '
            f"{current * 100:.1f}%</title>"
            f'<line x1="{x(current):.1f}" x2="{x(current):.1f}" y1="{TOP}" '
            f'y2="{TOP + plot_h}"/></g>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


# The line chart of a signal over time.
LINE_WIDTH, LINE_HEIGHT = 720, 190
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 62, 14, 12, 28


@dataclass
class Series:
    signal: str
    title: str
    points: list[tuple[float, float]] = field(default_factory=list)  # (epoch seconds, value)
    band: list[tuple[float, float, float]] = field(default_factory=list)  # (t, low, high)
    counts: list[int] = field(default_factory=list)
    unit: str = ""


def line_chart(
    series: Series,
    t_start: float,
    t_end: float,
    drift: list[models.DriftEvent],
    changes: list[models.RouterChange] | None = None,
) -> Markup:
    """One signal as an SVG line chart: interval band, line, points, drift-event markers, and
    a marker where each recorded router change went live (its verdict in class and tooltip).

    Every point carries data-t/data-v attributes and a <title>, so the chart reads without
    script and the browser tests can check the drawn values against the database.
    """
    if t_end <= t_start:
        t_end = t_start + 1.0
    values = [v for _, v in series.points] + [x for b in series.band for x in b[1:]]
    lo, hi = (min(values), max(values)) if values else (0.0, 1.0)
    lo = min(lo, 0.0)
    if series.unit == "share":
        hi = max(hi, 0.05)
    if hi - lo < 1e-12:
        hi = lo + 1.0
    # Head-room above the highest point, but a share axis never passes 100%.
    top = hi + (hi - lo) * 0.08
    hi = min(top, 1.0) if series.unit == "share" and hi <= 1.0 else top
    plot_w = LINE_WIDTH - PAD_LEFT - PAD_RIGHT
    plot_h = LINE_HEIGHT - PAD_TOP - PAD_BOTTOM

    def x(t: float) -> float:
        return PAD_LEFT + (t - t_start) / (t_end - t_start) * plot_w

    def y(v: float) -> float:
        return PAD_TOP + (1.0 - (v - lo) / (hi - lo)) * plot_h

    parts = [
        f'<svg class="chart" viewBox="0 0 {LINE_WIDTH} {LINE_HEIGHT}" role="img" '
        f'data-signal="{series.signal}" aria-label="{escape(series.title)}">'
    ]
    for i in range(5):  # horizontal grid with value labels
        v = lo + (hi - lo) * i / 4
        parts.append(
            f'<line class="grid" x1="{PAD_LEFT}" x2="{LINE_WIDTH - PAD_RIGHT}" '
            f'y1="{y(v):.1f}" y2="{y(v):.1f}"/>'
            f'<text class="axis" x="{PAD_LEFT - 6}" y="{y(v) + 4:.1f}" text-anchor="end">'
            f"{escape(format_value(v, series.unit))}</text>"
        )
    for i in range(5):  # time labels
        t = t_start + (t_end - t_start) * i / 4
        anchor = "start" if i == 0 else "end" if i == 4 else "middle"
        label = datetime.fromtimestamp(t, UTC).strftime("%m-%d %H:%M")
        parts.append(
            f'<text class="axis" x="{x(t):.1f}" y="{LINE_HEIGHT - 8}" text-anchor="{anchor}">'
            f"{label}</text>"
        )
    if series.band:
        upper = " ".join(f"{x(t):.1f},{y(h):.1f}" for t, _, h in series.band)
        lower = " ".join(f"{x(t):.1f},{y(low):.1f}" for t, low, _ in reversed(series.band))
        parts.append(f'<polygon class="band" points="{upper} {lower}"/>')
    if series.points:
        path = " ".join(
            f"{'M' if i == 0 else 'L'}{x(t):.1f},{y(v):.1f}"
            for i, (t, v) in enumerate(series.points)
        )
        parts.append(f'<path class="line" d="{path}"/>')
        for (t, v), n in zip(series.points, series.counts, strict=False):
            when = datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M")
            parts.append(
                f'<circle class="pt" cx="{x(t):.1f}" cy="{y(v):.1f}" r="2.6" '
                f'data-t="{t:.0f}" data-v="{v:.6g}"><title>{when} UTC: '
                f"{escape(format_value(v, series.unit))} (n={n})</title></circle>"
            )
    else:
        parts.append(
            f'<text class="empty" x="{PAD_LEFT + plot_w / 2}" y="{PAD_TOP + plot_h / 2}" '
            f'text-anchor="middle">no data in this window</text>'
        )
    for event in drift:
        t = event.detected_at.timestamp()
        if not t_start <= t <= t_end:
            continue
        tip = (
            f"drift ({event.detector}) at {event.detected_at:%Y-%m-%d %H:%M} UTC: "
            f"{format_value(event.before_mean, series.unit)} (n={event.before_n}) -> "
            f"{format_value(event.after_mean, series.unit)} (n={event.after_n})"
        )
        parts.append(
            f'<g class="drift" data-t="{t:.0f}"><title>{escape(tip)}</title>'
            f'<line x1="{x(t):.1f}" x2="{x(t):.1f}" y1="{PAD_TOP}" y2="{PAD_TOP + plot_h}"/>'
            f'<path d="M{x(t) - 5:.1f},{PAD_TOP} L{x(t) + 5:.1f},{PAD_TOP} '
            f'L{x(t):.1f},{PAD_TOP + 8}Z"/></g>'
        )
    for change in changes or []:
        t = change.at.timestamp()
        if not t_start <= t <= t_end:
            continue
        tip = (
            f"router change {change.id} live at {change.at:%Y-%m-%d %H:%M} UTC: "
            f"{change.description or change.scope} ({change.status})"
        )
        parts.append(
            f'<g class="change change-{escape(str(change.status))}" data-t="{t:.0f}" '
            f'data-change="{change.id}"><title>{escape(tip)}</title>'
            f'<line x1="{x(t):.1f}" x2="{x(t):.1f}" y1="{PAD_TOP}" y2="{PAD_TOP + plot_h}"/>'
            f'<rect x="{x(t) - 4:.1f}" y="{PAD_TOP + plot_h - 8}" width="8" height="8"/></g>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def format_value(value: float | None, unit: str) -> str:
    if value is None:
        return "–"
    if unit == "share":
        return f"{value * 100:.1f}%"
    if unit == "usd":
        return f"${value:.4f}" if abs(value) < 1 else f"${value:,.2f}"
    if unit == "ms":
        return f"{value:,.0f} ms"
    return f"{value:.3g}"
