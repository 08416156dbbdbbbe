"""The threshold what-if as an inline SVG chart (no script), like the dashboard's other charts.

x is the cheap share a threshold gives, y the expected excess gap on the requests it sends
cheap, with its 95% interval as a band; a dashed line marks the target, a ring the recommended
threshold and a vertical line the router's current share. Every point carries data-* attributes
and a <title> so the chart reads without script.
"""

from __future__ import annotations

from typing import Any

from markupsafe import Markup, escape

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
