"""The weekly report as one self-contained HTML page.

Summary table first, then one collapsible section per segment holding its Evidently dashboard.
Evidently's JavaScript bundle and icon font are embedded once; each segment contributes only
its dashboard data, drawn when its section is first opened (plotly charts drawn inside a
closed <details> would get a zero width, and a hundred dashboards at once would stall the tab).
No request ever leaves the page: everything it needs is inline.
"""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, select_autoescape
from markupsafe import Markup

from shadowgap import bidi
from shadowgap.reporting.drift_checks import dumps_for_script, evidently_bundle
from shadowgap.reporting.html_template import WEEKLY_TEMPLATE

# The table shows this many segments; the JSON summary always has them all.
TABLE_ROWS = 500
# Sections opened (and drawn) on load: the top of the ranking.
OPEN_SECTIONS = 3
SIGNAL_LABELS = {
    "routing_share": "routing share",
    "quality_gap": "quality gap",
    "latency": "latency",
    "cost_per_request": "cost per request",
}

# finalize: segment keys and values are the senders' text, isolated (shadowgap/bidi.py).
_env = Environment(
    autoescape=select_autoescape(default=True, default_for_string=True), finalize=bidi.finalize
)


def _pct(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value * 100:.{digits}f}%"


def _num(value: float | None, digits: int = 0) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def _usd(value: float | None) -> str:
    if value is None:
        return "–"
    if abs(value) < 0.01 and value != 0:
        return f"${value:.5f}"
    return f"${value:,.2f}"


def _when(iso: str) -> str:
    # "2026-11-09T00:00:00+00:00" -> "2026-11-09 00:00 UTC": the report is always in UTC.
    return f"{iso[:10]} {iso[11:16]} UTC" if len(iso) >= 16 else iso


def _ci(pair: list[float | None] | None) -> str:
    if not pair or pair[0] is None or pair[1] is None:
        return ""
    return f"[{pair[0] * 100:.1f}, {pair[1] * 100:.1f}]"


_env.filters.update(pct=_pct, num=_num, usd=_usd, ci=_ci, when=_when)
_env.globals["labels"] = SIGNAL_LABELS

_TEMPLATE = _env.from_string(WEEKLY_TEMPLATE)


def render_report_html(summary: dict[str, Any], dashboards: dict[int, dict[str, str]]) -> str:
    """The whole page; ``dashboards`` maps segment id to Evidently data (or a full page)."""
    needs_bundle = any("info" in d for d in dashboards.values())
    bundle, font = evidently_bundle() if needs_bundle else ("", "")
    return _TEMPLATE.render(
        s=summary,
        t=summary["totals"],
        dashboards=dashboards,
        table_rows=TABLE_ROWS,
        open_sections=OPEN_SECTIONS,
        # The bundle is trusted package code, embedded verbatim; JSON is escaped for <script>.
        bundle=Markup(bundle.replace("</script", "<\\/script")),
        font=font,
        script_json=lambda text: Markup(dumps_for_script(text)),
    )
