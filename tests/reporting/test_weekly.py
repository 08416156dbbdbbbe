"""The weekly report on two weeks of generated traffic where one segment degrades."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from shadowgap.config import Settings
from shadowgap.db import models
from shadowgap.reporting import build_weekly_report, slack_summary
from tests.support.synthetic import QUIET, SHIFTED, SMALL, STABLE, START, WEEK

SETTINGS = Settings(dashboard_url="https://shadowgap.example.com/")


@pytest.fixture(scope="module")
def report(report_engine: Engine) -> models.Report:
    with Session(report_engine, expire_on_commit=False) as session:
        built = build_weekly_report(session, START + WEEK, START + 2 * WEEK, SETTINGS, workers=1)
        session.commit()
        return built


def _row(report: models.Report, key: str) -> dict[str, Any]:
    return next(row for row in report.summary["segments"] if row["key"] == key)


def test_shifted_segment_ranks_first(report: models.Report) -> None:
    ranking = [row["key"] for row in report.summary["segments"]]
    assert ranking[0] == SHIFTED
    assert [row["rank"] for row in report.summary["segments"]] == [1, 2, 3, 4]
    shifted = _row(report, SHIFTED)
    assert shifted["current"]["excess_gap"] > 0.2
    assert shifted["previous"]["excess_gap"] < 0.1
    low, high = shifted["current"]["excess_gap_ci"]
    assert low < shifted["current"]["excess_gap"] < high


def test_drift_flagged_for_shifted_segment_only(report: models.Report) -> None:
    shifted, stable = _row(report, SHIFTED), _row(report, STABLE)
    assert {"quality_gap", "latency"} <= set(shifted["drifted_signals"])
    assert shifted["drift"]["quality_gap"]["drift_detected"] is True
    assert shifted["drift"]["latency"]["drift_detected"] is True
    assert shifted["drift"]["routing_share"]["drift_detected"] is False
    assert stable["drifted_signals"] == []
    assert all(not col["drift_detected"] for col in stable["drift"].values())
    # The small segment is not flagged on sampling noise either.
    assert _row(report, SMALL)["drifted_signals"] == []


def test_methods_are_explicit_and_recorded(report: models.Report) -> None:
    methods = report.summary["drift_methods"]
    assert methods["routing_share"]["method"] == "jensenshannon"
    assert methods["quality_gap"]["method"] == "z"
    assert methods["latency"]["method"] == "wasserstein"
    assert methods["cost_per_request"]["method"] == "psi"
    for row in report.summary["segments"]:
        for signal, col in row["drift"].items():
            assert col["method"] == methods[signal]["method"]
            assert col["threshold"] > 0
            assert col["n_reference"] > 0 and col["n_current"] > 0
    small, big = _row(report, SMALL)["drift"], _row(report, STABLE)["drift"]
    # Small samples get a higher line than the method's usual 0.1; big ones keep it.
    assert small["latency"]["threshold"] > big["latency"]["threshold"] >= 0.1
    assert small["cost_per_request"]["threshold"] > 0.1
    assert big["cost_per_request"]["threshold"] == pytest.approx(0.1)
    assert big["quality_gap"]["threshold"] == pytest.approx(0.01)


def test_summary_fields(report: models.Report) -> None:
    summary = report.summary
    json.dumps(summary, allow_nan=False)  # strict JSON: JSONB refuses NaN
    assert summary["period"]["since"].startswith("2026-11-09")
    assert summary["period"]["previous_since"].startswith("2026-11-02")
    assert summary["url"] == f"https://shadowgap.example.com/reports/{report.id}"
    totals = summary["totals"]
    assert totals["segments"] == 4
    assert totals["events"] == 3500 and totals["previous_events"] == 3500
    assert totals["alerts_opened"] == 1 and totals["alerts_resolved"] == 1
    assert [a["segment"] for a in summary["alerts"]["opened"]] == [SHIFTED]
    assert [a["segment"] for a in summary["alerts"]["resolved"]] == [STABLE]
    shifted = _row(report, SHIFTED)
    for name in ("routing_share", "gap_rate", "noise_rate", "excess_gap", "latency_ms_mean"):
        assert name in shifted["current"] and name in shifted["previous"]
    assert shifted["alerts"] == {"opened": 1, "resolved": 0}
    assert shifted["evidently"] == "ok"
    assert shifted["quality_lost"] == pytest.approx(
        shifted["current"]["excess_gap"] * shifted["current"]["cheap_events"]
    )


def test_cost_saved_uses_shadow_run_price(report: models.Report) -> None:
    row = _row(report, STABLE)
    assert row["flagship_cost_source"] == "segment_shadow_runs"
    assert row["flagship_cost_per_request_usd"] == pytest.approx(0.01)
    expected = row["current"]["cheap_events"] * 0.01 - row["current"]["cheap_cost_usd"]
    assert row["cost_saved_usd"] == pytest.approx(expected)
    assert row["cost_saved_usd"] > 0


def test_rates_match_a_direct_count(report_engine: Engine, report: models.Report) -> None:
    # Every inclusion probability in the fixture is equal, so the weighted rate is the count.
    with Session(report_engine) as session:
        seg = session.execute(
            select(models.Segment.id).where(models.Segment.key == SHIFTED)
        ).scalar_one()
        won, total = session.execute(
            select(func.sum(func.iif(models.Verdict.winner == "flagship", 1, 0)), func.count())
            .join(models.TrafficEvent, models.TrafficEvent.id == models.Verdict.event_pk)
            .where(
                models.Verdict.segment_id == seg,
                models.Verdict.kind == "gap",
                models.TrafficEvent.occurred_at >= START + WEEK,
            )
        ).one()
    assert _row(report, SHIFTED)["current"]["gap_rate"] == pytest.approx(won / total)


def test_html_page(report: models.Report) -> None:
    html = report.html
    assert html.startswith("<!DOCTYPE html>")
    for key in (SHIFTED, STABLE, SMALL, QUIET):
        assert key in html
    assert "window.drawDashboard" in html
    assert html.count('class="evidently-root"') == 4
    # The Evidently bundle is embedded once, not once per segment.
    assert html.count("var global = globalThis") == 1
    assert "jensenshannon" in html and "wasserstein" in html
    assert "http://" not in html.split("<script>var global")[0].replace("http://www.w3.org", "")


def test_report_row_is_added_not_committed(report_engine: Engine) -> None:
    with Session(report_engine) as session:
        before = session.execute(select(func.count()).select_from(models.Report)).scalar_one()
        built = build_weekly_report(session, START + WEEK, START + 2 * WEEK, SETTINGS, workers=1)
        assert built.id is not None
        session.rollback()
        after = session.execute(select(func.count()).select_from(models.Report)).scalar_one()
    assert after == before


def test_period_without_traffic(report_engine: Engine) -> None:
    with Session(report_engine) as session:
        empty = build_weekly_report(
            session, START + 10 * WEEK, START + 11 * WEEK, SETTINGS, workers=1
        )
        assert empty.summary["segments"] == []
        assert empty.summary["totals"]["events"] == 0
        message = slack_summary(empty, SETTINGS)
        session.rollback()
    assert "No traffic" in json.dumps(message)


def test_rejects_naive_or_inverted_periods(report_engine: Engine) -> None:
    with Session(report_engine) as session:
        with pytest.raises(ValueError):
            build_weekly_report(session, START.replace(tzinfo=None), START + WEEK, SETTINGS)
        with pytest.raises(ValueError):
            build_weekly_report(session, START + WEEK, START, SETTINGS)


def test_slack_summary(report: models.Report) -> None:
    message = slack_summary(report, SETTINGS)
    blocks = message["blocks"]
    assert len(blocks) <= 50
    assert blocks[0]["type"] == "header" and len(blocks[0]["text"]["text"]) <= 150
    sections = [b for b in blocks if b["type"] == "section"]
    assert all(len(b["text"]["text"]) <= 3000 for b in sections)
    assert SHIFTED in sections[1]["text"]["text"]  # first segment section, after the overview
    button = next(b for b in blocks if b["type"] == "actions")["elements"][0]
    assert button["url"] == f"https://shadowgap.example.com/reports/{report.id}"
    assert message["text"]


def test_slack_summary_keeps_top_five_and_escapes() -> None:
    rows = [
        {
            "rank": i,
            "key": f"tenant=<evil&{i}>" + "x" * 500,
            "current": {"excess_gap": 0.1, "excess_gap_ci": [0.0, 0.2], "cheap_events": 10},
            "previous": {},
            "drifted_signals": ["latency"],
        }
        for i in range(1, 9)
    ]
    report = models.Report(id=7, summary={"segments": rows, "totals": {}, "period": {}}, html="")
    message = slack_summary(report, SETTINGS)
    texts = [b["text"]["text"] for b in message["blocks"] if b["type"] == "section"]
    assert len(texts) == 1 + 5
    assert all("<evil" not in text and "&lt;evil&amp;" in text for text in texts[1:])
    assert all(len(text) <= 3000 for text in texts)


def test_forked_workers_give_the_same_results(report_engine: Engine, report: models.Report) -> None:
    from shadowgap.reporting.drift_checks import plan_processes

    if plan_processes(4, 2) < 2:
        pytest.skip("this process may not fork (threads running or daemonic)")
    with Session(report_engine) as session:
        parallel = build_weekly_report(session, START + WEEK, START + 2 * WEEK, SETTINGS, workers=2)
        session.rollback()
    assert parallel.summary["timings_seconds"]["evidently_processes"] == 2
    assert report.summary["timings_seconds"]["evidently_processes"] == 1
    serial_rows = {row["key"]: row["drift"] for row in report.summary["segments"]}
    for row in parallel.summary["segments"]:
        assert row["drift"] == serial_rows[row["key"]]
    assert parallel.html.count('class="evidently-root"') == 4
