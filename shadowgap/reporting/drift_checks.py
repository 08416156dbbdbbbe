"""Per-segment Evidently drift reports: the only module that imports evidently.

Every column's drift method is chosen here on purpose instead of Evidently's default, which
switches tests by row count (K-S below 1,000 rows, Wasserstein above) and so would change the
meaning of "drift" from one segment to the next:

* routing share (is_cheap) -- Jensen-Shannon distance. Shares are computed on thousands of
  events, where any p-value test flags differences nobody cares about; a distance of 0.1 is
  roughly a 13-point move around a 70% share.
* quality gap (flagship won a judged pair) -- two-proportion z-test, p < 0.01. Judged pairs are
  a few hundred per segment and week, so here significance is what guards against noise.
* latency_ms -- Wasserstein distance normed by the reference std: it sees a shift of the tail
  that a mean would hide and stays scale-free across segments.
* cost_usd -- population stability index, natural for a price mix with a few token-count modes.

Distance thresholds are the usual 0.1, raised on small segments to the statistic's 99th
percentile under no change (see :class:`ColumnCheck`), so that a 200-event segment is not
flagged on sampling noise. Each segment's summary records the method and threshold used.

Evidently's page embeds its 3.5 MB JavaScript bundle; with a hundred segments that would be a
third of a gigabyte, so each segment keeps only its dashboard data and the weekly page loads
the bundle once (see :mod:`shadowgap.reporting.html`).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import re
import threading
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import pandas as pd
import plotly.io as pio
from evidently import DataDefinition, Dataset, Report
from evidently.metrics import ValueDrift
from sqlalchemy import Engine

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ColumnCheck:
    """One column's drift test. Distance methods get a sample-size-aware threshold.

    A distance between two samples of one and the same distribution is not zero: it shrinks
    like ``c / n_eff ** power`` (n_eff = n_ref * n_cur / (n_ref + n_cur)). ``null_c`` is that
    statistic's 99th percentile measured by simulation (normal, gamma, log-normal and bimodal
    price mixes), so the threshold used is max(floor, c / n_eff ** power): the method's usual
    line on big segments, and above sampling noise on small ones.
    """

    signal: str
    column: str
    kind: str  # categorical | numerical
    method: str
    floor: float
    null_c: float | None
    null_power: float
    min_rows: int
    why: str

    def threshold(self, n_ref: int, n_cur: int) -> float:
        if self.null_c is None or n_ref <= 0 or n_cur <= 0:
            return self.floor
        n_eff = n_ref * n_cur / (n_ref + n_cur)
        return max(self.floor, self.null_c / n_eff**self.null_power)

    @property
    def rule(self) -> str:
        if self.method == "z":
            return f"p-value < {self.floor}"
        power = "sqrt(n_eff)" if self.null_power == 0.5 else "n_eff"
        return f"score >= max({self.floor}, {self.null_c} / {power})"


CHECKS: tuple[ColumnCheck, ...] = (
    ColumnCheck(
        "routing_share",
        "is_cheap",
        "categorical",
        "jensenshannon",
        0.1,
        0.95,
        0.5,
        30,
        "an effect size: shares come from thousands of events, where p-values flag moves "
        "nobody cares about (0.1 is about a 13-point move around a 70% share)",
    ),
    ColumnCheck(
        "quality_gap",
        "gap",
        "categorical",
        "z",
        0.01,
        None,
        0.0,
        20,
        "two-proportion z-test: judged pairs are a few hundred per segment and week, so "
        "significance is what separates a real gap change from noise (1% across many segments)",
    ),
    ColumnCheck(
        "latency",
        "latency_ms",
        "numerical",
        "wasserstein",
        0.1,
        2.8,
        0.5,
        30,
        "Wasserstein distance normed by the reference std: sees tail shifts a mean hides and "
        "is scale-free across segments",
    ),
    ColumnCheck(
        "cost_per_request",
        "cost_usd",
        "numerical",
        "psi",
        0.1,
        36.0,
        1.0,
        30,
        "population stability index on the per-request price, the usual stability measure "
        "for a price mix with a few token-count modes",
    ),
)


@dataclass
class SegmentDrift:
    """Drift results of one segment, plus its Evidently dashboard data for the HTML page."""

    segment_id: int
    columns: dict[str, dict[str, Any]] = field(default_factory=dict)
    dashboard: dict[str, str] | None = None  # {"info": json, "graphs": json} or {"page": html}
    error: str | None = None

    @property
    def drifted(self) -> list[str]:
        return [name for name, col in self.columns.items() if col.get("drift_detected")]


@dataclass
class SegmentFrames:
    """Reference (previous period) and current rows of one segment; NaN where not measured."""

    segment_id: int
    reference: pd.DataFrame
    current: pd.DataFrame


def methods_view() -> dict[str, dict[str, Any]]:
    return {
        c.signal: {
            "column": c.column,
            "kind": c.kind,
            "method": c.method,
            "threshold": c.floor,
            "detected_when": c.rule,
            "min_rows_per_period": c.min_rows,
            "why": c.why,
        }
        for c in CHECKS
    }


def run_segment(frames: SegmentFrames) -> SegmentDrift:
    """One Evidently report for one segment, with every method set explicitly."""
    result = SegmentDrift(frames.segment_id)
    usable: list[ColumnCheck] = []
    for check in CHECKS:
        n_ref = int(frames.reference[check.column].notna().sum())
        n_cur = int(frames.current[check.column].notna().sum())
        view: dict[str, Any] = {
            "column": check.column,
            "method": check.method,
            "threshold": check.threshold(n_ref, n_cur),
            "n_reference": n_ref,
            "n_current": n_cur,
        }
        if min(n_ref, n_cur) < check.min_rows:
            view["skipped"] = f"fewer than {check.min_rows} rows in a period"
        else:
            usable.append(check)
        result.columns[check.signal] = view
    if not usable:
        return result
    definition = DataDefinition(
        numerical_columns=[c.column for c in usable if c.kind == "numerical"],
        categorical_columns=[c.column for c in usable if c.kind == "categorical"],
    )
    names = [c.column for c in usable]
    report = Report(
        [
            ValueDrift(
                column=c.column,
                method=c.method,
                threshold=result.columns[c.signal]["threshold"],
            )
            for c in usable
        ],
        include_tests=True,
    )
    try:
        snapshot = report.run(
            Dataset.from_pandas(frames.current[names], data_definition=definition),
            Dataset.from_pandas(frames.reference[names], data_definition=definition),
        )
    except (ValueError, ZeroDivisionError) as exc:
        # A degenerate column (constant in both periods, say) must not sink the whole report.
        result.error = f"{type(exc).__name__}: {exc}"
        log.warning("evidently failed for segment %s: %s", frames.segment_id, result.error)
        return result
    _read_results(snapshot.dict(), usable, result)
    result.dashboard = _dashboard_data(snapshot.get_html_str(as_iframe=False))
    return result


def _read_results(data: dict[str, Any], usable: list[ColumnCheck], out: SegmentDrift) -> None:
    by_column = {c.column: c for c in usable}
    status: dict[str, str] = {}
    for test in data.get("tests", []):
        metric_id = test.get("metric_config", {}).get("metric_id")
        if metric_id:
            status[metric_id] = test.get("status", "")
    for metric in data.get("metrics", []):
        column = metric.get("config", {}).get("column")
        check = by_column.get(column)
        if check is None:
            continue
        view = out.columns[check.signal]
        view["score"] = _finite(metric.get("value"))
        view["drift_detected"] = status.get(metric.get("id", "")) == "FAIL"


def _finite(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number == number and abs(number) != float("inf") else None


# Evidently 0.7 writes each dashboard's data as two one-line JS assignments; everything else on
# the page is the shared bundle. Matching them keeps this on the public get_html_str().
_DATA = re.compile(
    r"var (?P<id>metric_[0-9a-f]+) = (?P<info>[^\n]*);\n\s*"
    r"var additional_graphs_(?P=id) = (?P<graphs>[^\n]*);\n"
)


def _dashboard_data(page: str) -> dict[str, str]:
    match = _DATA.search(page)
    if match is None:
        # An unexpected page layout still renders, at the price of a heavy iframe.
        log.warning("evidently page layout not recognised; embedding the whole page")
        return {"page": page}
    return {"info": match.group("info"), "graphs": match.group("graphs")}


def evidently_bundle() -> tuple[str, str]:
    """Evidently's dashboard JavaScript and its icon font (base64), loaded once per page."""
    import base64

    static = resources.files("evidently") / "nbextension" / "static"
    script = (static / "index.js").read_text(encoding="utf-8")
    font = base64.b64encode((static / "material-ui-icons.woff2").read_bytes()).decode()
    return script, font


@contextmanager
def _plain_plotly() -> Iterator[None]:
    """Plotly's default template is merged (deep-copied) into every figure Evidently builds and
    then serialised into the page; without it a segment renders ~15% faster and lighter.
    Evidently sets its own colours, so the charts keep their look."""
    previous = pio.templates.default
    pio.templates.default = "none"
    try:
        yield
    finally:
        pio.templates.default = previous


def _init_worker(engine: Engine | None) -> None:
    # A forked child must not reuse the parent's pooled DB connections (SQLAlchemy's recipe).
    if engine is not None:
        engine.dispose(close=False)
    pio.templates.default = "none"  # the child is ours alone


def plan_processes(n_frames: int, workers: int | None) -> int:
    """How many processes :func:`run_all` will use (1 means in this process)."""
    wanted = min(workers if workers is not None else (os.cpu_count() or 1), n_frames)
    # Forking a process that runs other threads can copy a lock mid-use into the child.
    can_fork = (
        "fork" in multiprocessing.get_all_start_methods()
        and threading.active_count() == 1
        and not multiprocessing.current_process().daemon
    )
    return wanted if wanted > 1 and n_frames >= 4 and can_fork else 1


def run_all(
    frames: list[SegmentFrames], engine: Engine | None, workers: int | None = None
) -> list[SegmentDrift]:
    """Run every segment, in forked worker processes when that is allowed and worth it.

    Plotly figure building dominates (about half a second a segment), and it is CPU-bound
    Python, so threads would not help. Fork shares the already-imported evidently (a fresh
    interpreter spends ~10 s importing it). Daemonic processes (Celery's prefork children)
    may not have children and threaded ones (a web server) should not fork, so both run
    serially.
    """
    processes = plan_processes(len(frames), workers)
    if processes <= 1:
        with _plain_plotly():
            return [run_segment(f) for f in frames]
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(
        processes, mp_context=context, initializer=_init_worker, initargs=(engine,)
    ) as pool:
        return list(pool.map(run_segment, frames, chunksize=1))


def dumps_for_script(text: str) -> str:
    """JSON already serialised by Evidently, made safe inside a <script> element."""
    # "<" only ever occurs inside JSON strings, where \u003c is the same character.
    return text.replace("<", "\\u003c")
