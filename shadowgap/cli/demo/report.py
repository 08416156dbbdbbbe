"""What the demo prints at the end: segments, detections with their delay, alerts, links."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from shadowgap.alerts.schemas import AlertEvidence
from shadowgap.cli.demo.traffic import SimulatedTraffic
from shadowgap.db import models
from shadowgap.db.engine import session_scope
from shadowgap.enums import VerdictKind


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}"


def _segment_rows() -> list[tuple[str, int, float, int, int]]:
    with session_scope() as session:
        verdicts = dict(
            session.execute(
                select(models.Verdict.segment_id, func.count())
                .where(models.Verdict.kind == VerdictKind.GAP)
                .group_by(models.Verdict.segment_id)
            ).all()
        )
        segments = session.execute(
            select(models.Segment).order_by(models.Segment.event_count.desc())
        )
        return [
            (
                s.key,
                s.event_count,
                s.cheap_count / max(s.event_count, 1),
                s.sampled_count,
                verdicts.get(s.id, 0),
            )
            for s in segments.scalars()
        ]


def _delay_in_events(
    session, segment_id: int, shift_event_id: str | None, at_event_pk: int | None
) -> int | None:  # type: ignore[no-untyped-def]
    """How many of the segment's requests arrived after the shift up to the detection."""
    if shift_event_id is None or at_event_pk is None:
        return None
    event = models.TrafficEvent
    first = session.execute(
        select(func.min(event.id)).where(
            event.segment_id == segment_id, event.event_id >= shift_event_id
        )
    ).scalar_one()
    if first is None or at_event_pk < first:
        return None
    return session.execute(
        select(func.count()).where(
            event.segment_id == segment_id, event.id >= first, event.id <= at_event_pk
        )
    ).scalar_one()


def _attribution_line(attribution: dict[str, Any]) -> str | None:
    """The evidence's one-line why, with each factor's share of the quality change."""
    if not attribution.get("available"):
        return None
    quality = attribution.get("quality") or {}
    shares = ", ".join(
        f"{factor['factor'].replace('_', ' ')} {_percent(factor.get('share'))}"
        for factor in quality.get("factors") or []
    )
    return f"{attribution.get('headline')} ({shares})"


def _percent(share: float | None) -> str:
    return "-" if share is None else f"{share:.0%}"


def _print_slices(traffic: SimulatedTraffic) -> None:
    """Slice discovery over the last week: the tenant-declared regression, found undeclared."""
    from shadowgap.config import get_settings
    from shadowgap.slices.discovery import discover, list_slices

    print("\nSlices found without declaring them (last 7 days of event time)")
    with session_scope() as session:
        summary = discover(session, get_settings())
        records = list_slices(session, limit=5)
        if not records:
            print(f"  none ({summary.pairs} judged pairs, {summary.tested} slices tested)")
        for record in records:
            after = (record.details or {}).get("after") or {}
            injected = any(r.segment in record.key.split("&") for r in traffic.regressions)
            mark = "  <- an injected regression" if injected else ""
            print(
                f"  {record.key:<40} share {record.traffic_share:6.2%}  n={record.n:<5} "
                f"excess gap {_fmt(after.get('excess'))}{mark}"
            )


def print_results(traffic: SimulatedTraffic, url: str, demo_dir: Path) -> bool:
    print("\nSegments")
    print(f"  {'segment':<22}{'requests':>10}{'cheap share':>13}{'sampled':>9}{'judged':>8}")
    for key, volume, share, sampled, judged in _segment_rows():
        print(f"  {key:<22}{volume:>10,}{share:>13.1%}{sampled:>9,}{judged:>8,}")

    caught: dict[str, set[str]] = {r.segment: set() for r in traffic.regressions}
    elsewhere = 0
    print("\nWhat the detectors caught")
    with session_scope() as session:
        rows = session.execute(
            select(models.DriftEvent, models.Segment.key)
            .join(models.Segment, models.Segment.id == models.DriftEvent.segment_id)
            .order_by(models.DriftEvent.id)
        ).all()
        if not rows:
            print("  nothing")
        for drift, key in rows:
            regression = traffic.regression(key)
            delay = (
                _delay_in_events(
                    session, drift.segment_id, regression.first_event_id, drift.at_event_pk
                )
                if regression is not None
                else None
            )
            if regression is not None and delay is not None:
                caught[key].add(drift.signal)
            if regression is None:
                elsewhere += 1
            when = (
                f"{delay} requests after the shift"
                if delay is not None
                else (
                    "before the shift"
                    if regression is not None
                    else "FALSE ALARM (no change injected here)"
                )
            )
            print(
                f"  {key:<18} {drift.signal:<16} {_fmt(drift.before_mean)} (n={drift.before_n}) -> "
                f"{_fmt(drift.after_mean)} (n={drift.after_n})  by {drift.detector}, {when}"
            )
        alerts = session.execute(
            select(models.Alert, models.Segment.key).join(
                models.Segment, models.Segment.id == models.Alert.segment_id
            )
        ).all()
        print("\nAlerts")
        if not alerts:
            print("  none")
        for alert, key in alerts:
            print(f"  #{alert.id} {alert.severity:<8} {key} / {alert.signal}: {alert.status}")
            why = _attribution_line(AlertEvidence.read(alert.evidence).attribution or {})
            if why:
                print(f"     why: {why}")
    _print_slices(traffic)
    outbox = sorted((demo_dir / "outbox").glob("*.json")) if (demo_dir / "outbox").exists() else []
    if outbox:
        rendered_dir = demo_dir / "outbox" / "rendered"
        rendered_dir.mkdir(exist_ok=True)
        print(
            "\nNotifications (no Slack/PagerDuty configured, so written to "
            f"{demo_dir / 'outbox'}/):"
        )
        for path in outbox:
            payload = json.loads(path.read_text())
            for channel, body in (payload.get("rendered") or {}).items():
                target = rendered_dir / f"{path.stem}-{channel}.json"
                target.write_text(json.dumps(body, indent=2, ensure_ascii=False))
            print(f"  {path.name}  (+ Slack and PagerDuty renderings in rendered/)")
            slack = (payload.get("rendered") or {}).get("slack") or {}
            pagerduty = (payload.get("rendered") or {}).get("pagerduty") or {}
            print(f"    Slack:     {slack.get('text', '')[:160]}")
            summary = (pagerduty.get("payload") or {}).get(
                "summary", pagerduty.get("event_action", "")
            )
            print(f"    PagerDuty: {pagerduty.get('event_action', '')} {summary[:150]}")

    print("\nLook further")
    print(f"  dashboard        {url}/")
    for regression in traffic.regressions:
        print(f"  segment          {url}/segments/{regression.segment}")
    print(f"  segments API     {url}/v1/segments")
    print(f"  drift events API {url}/v1/drift-events")
    print(f"  alerts API       {url}/v1/alerts")
    print("  (the API stops with the demo: run `shadowgap demo --keep-running` to browse)")

    missing = [
        f"{r.segment}/{signal}"
        for r in traffic.regressions
        for signal in r.signals
        if signal not in caught[r.segment]
    ]
    ok = not missing and elsewhere == 0
    found = "; ".join(
        f"{segment} ({', '.join(sorted(signals))})" for segment, signals in caught.items()
    )
    print(
        "\nResult: "
        + (
            f"the regressions were caught in {found} and nothing fired elsewhere."
            if ok
            else f"missed {missing or '-'}; {elsewhere} detections in other segments."
        )
    )
    return ok


def print_loop(
    traffic: SimulatedTraffic, proposal: dict[str, Any] | None, change: dict[str, Any] | None
) -> bool:
    """The loop (shadowgap/cli/demo/loop.py): the proposal, the change that applied it, what
    its verification says. True when the change was recorded and not found worse."""
    from shadowgap.cli.demo.loop import verdict_lines

    print(f"\nThe loop for {traffic.regressing_segment}")
    if proposal is None:
        print("  no proposal was made: the loop did not run")
        return False
    print(f"  proposal   {proposal['id']} ({proposal['kind']})")
    if change is None:
        print("  the change was not recorded")
        return False
    print(f"  change     #{change['id']} live at {change['at']}, citing {change['proposal_id']}")
    for line in verdict_lines(change):
        print(f"  {line}")
    return str(change["status"]) != "regressed"
