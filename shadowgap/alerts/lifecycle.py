"""Alert lifecycle: open, attach evidence, re-notify, acknowledge, resolve.

An alert is keyed by segment + signal and at most one per key is unresolved (status ``open`` or
``acknowledged``), which the partial unique index ``uq_alerts_open_segment_signal`` enforces
against concurrent workers: the insert runs in a SAVEPOINT and, when another transaction won,
the existing alert is re-read and updated instead.

Every function takes the session first, never commits, and returns the ids of the Delivery rows
it created (one per channel, see ``shadowgap.alerts.routing``) so the caller can enqueue them
after commit.

Re-notify: a further drift event for an unresolved alert attaches its evidence (the alert keeps
the latest before/after and examples, the original baseline, and a history of drift events) and
re-notifies only when the last notification is at least ``renotify_hours`` old and the alert is
not acknowledged (acknowledged means someone is on it). Severity only ever goes up while open.

Auto-resolve (:func:`observe`): the signal is back at baseline when the mean of its last
``resolve_after_samples`` values is inside the 95% interval of the baseline (the before-mean of
the drift event that opened the alert) or closer to that baseline than to the latest after-mean.
Alerts without a baseline mean only resolve by hand.

Resolve notifications go to the channels the alert was notified on, whatever the routing rules
say now: a PagerDuty resolve must follow its trigger, and nobody else needs it.

Attribution catch-up (:func:`refresh_attribution`): an alert on an event signal (routing share
above all) opens as soon as the events arrive, before the shadow runs of its after-window are
judged, so the quality part of its attribution starts from few or no judged pairs. As verdicts
land (each quality-gap batch of the segment), the unresolved drift alerts of the segment whose
after-window has gained judged pairs get their attribution recomputed, each time the count has
at least doubled (and grown by ``REFRESH_MIN_NEW``), which bounds the recomputations to a few
per alert. Nothing is re-notified: the dashboard, the API and later notifications show it.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import exists, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shadowgap.alerts.channels import CHANNELS
from shadowgap.alerts.evidence import (
    drift_attribution,
    drift_evidence,
    drift_summary,
    no_data_evidence,
    slice_evidence,
    volume_share,
)
from shadowgap.alerts.queries import alerts_with_keys
from shadowgap.alerts.routing import channels_for
from shadowgap.alerts.schemas import AlertEvidence, Baseline, Resolution, WindowSummary
from shadowgap.alerts.severity import drift_severity, max_severity, no_data_severity, signal_spec
from shadowgap.config import Settings
from shadowgap.db.models import Alert, Delivery, DetectorState, DriftEvent, Segment, Verdict
from shadowgap.enums import (
    AlertStatus,
    DeliveryAction,
    DeliveryStatus,
    EvidenceType,
    ResolvedBy,
    Severity,
    VerdictKind,
)
from shadowgap.errors import Conflict, InvalidInput, NotFound
from shadowgap.privacy import copies

NO_DATA = "no_data"
MAX_HISTORY = 20
MAX_LIST_LIMIT = 500
# Fewest new judged pairs in an alert's after-window that recompute its attribution.
REFRESH_MIN_NEW = 5


# --- queries ---------------------------------------------------------------------------------


def _latest_alert(session: Session, segment_id: int, signal: str) -> Alert | None:
    """The newest alert for the key; when one is unresolved it is this one (one at a time)."""
    query = (
        select(Alert)
        .where(Alert.segment_id == segment_id, Alert.signal == signal)
        .order_by(Alert.id.desc())
        .limit(1)
    )
    return session.scalar(query)


def _new_alert(
    segment_id: int,
    signal: str,
    severity: str,
    evidence: AlertEvidence,
    now: datetime,
    drift_event_id: int | None = None,
) -> Alert:
    """An open alert, not yet inserted: every kind opens the same way."""
    return Alert(
        segment_id=segment_id,
        signal=signal,
        status=AlertStatus.OPEN,
        severity=severity,
        drift_event_id=drift_event_id,
        evidence=evidence.to_json(),
        opened_at=now,
        baseline_streak=0,
    )


def _active_alert(session: Session, segment_id: int, signal: str) -> Alert | None:
    query = select(Alert).where(
        Alert.segment_id == segment_id, Alert.signal == signal, Alert.status != AlertStatus.RESOLVED
    )
    return session.scalar(query)


def _get_alert(session: Session, alert_id: int) -> Alert:
    alert = session.get(Alert, alert_id)
    if alert is None:
        raise NotFound(f"alert {alert_id} not found")
    return alert


def _max_seen_drift_id(alert: Alert) -> int:
    history = AlertEvidence.read(alert.evidence).drift_events
    ids = [h.drift_event_id for h in history]
    ids.append(alert.drift_event_id)
    return max((i for i in ids if isinstance(i, int)), default=0)


# --- notifications ---------------------------------------------------------------------------


def _create_deliveries(
    session: Session, alert: Alert, action: DeliveryAction, channels: list[str], now: datetime
) -> list[int]:
    evidence = AlertEvidence.read(alert.evidence)
    deliveries = [
        Delivery(
            alert_id=alert.id,
            channel=channel,
            action=action,
            status=DeliveryStatus.PENDING,
            payload=CHANNELS[channel].build(alert, evidence, action),
            attempts=0,
            created_at=now,
        )
        for channel in channels
    ]
    session.add_all(deliveries)
    session.flush()
    for delivery in deliveries:
        copies.register_delivery(session, delivery, alert)
    return [d.id for d in deliveries]


def _notify(
    session: Session, alert: Alert, action: DeliveryAction, settings: Settings, now: datetime
) -> list[int]:
    """Trigger or re-notify on the channels the routing rules pick for this alert now."""
    alert.last_notified_at = now
    key = AlertEvidence.read(alert.evidence).segment_key
    channels = channels_for(settings, alert.severity, key)
    return _create_deliveries(session, alert, action, channels, now)


def _renotify_due(alert: Alert, settings: Settings, now: datetime) -> bool:
    if alert.status != AlertStatus.OPEN:
        return False
    if alert.last_notified_at is None:
        return True
    return now - alert.last_notified_at >= timedelta(hours=settings.renotify_hours)


def _insert(session: Session, alert: Alert) -> bool:
    """Insert in a SAVEPOINT; False when a concurrent transaction opened the same key first."""
    try:
        with session.begin_nested():
            session.add(alert)
    except IntegrityError:
        return False
    copies.register_alert(session, alert)
    return True


# --- drift alerts ----------------------------------------------------------------------------


def open_or_update(
    session: Session, drift_event_id: int, settings: Settings, now: datetime
) -> list[int]:
    """Open an alert for a drift event, or attach it to the unresolved alert of its key.

    Returns the ids of the deliveries created (trigger, or renotify when due; else none).
    A drift event already recorded by the key's latest alert (a redelivered task, or an older
    event arriving after a newer one) is ignored.
    """
    event = session.get(DriftEvent, drift_event_id)
    if event is None:
        raise NotFound(f"drift event {drift_event_id} not found")
    segment = session.get(Segment, event.segment_id)
    if segment is None:
        raise NotFound(f"segment {event.segment_id} not found")

    latest = _latest_alert(session, event.segment_id, event.signal)
    if latest is not None and event.id <= _max_seen_drift_id(latest):
        return []
    if latest is not None and latest.status != AlertStatus.RESOLVED:
        return _attach(session, latest, event, segment, settings, now)

    evidence = drift_evidence(session, event, segment, settings)
    evidence.baseline = Baseline.of(evidence.before, drift_event_id=event.id)
    evidence.drift_events = [drift_summary(event)]
    alert = _new_alert(
        event.segment_id,
        event.signal,
        _drift_severity(event, evidence),
        evidence,
        now,
        drift_event_id=event.id,
    )
    if _insert(session, alert):
        return _notify(session, alert, DeliveryAction.TRIGGER, settings, now)
    # Another worker opened the alert between our read and our insert: join it.
    existing = _active_alert(session, event.segment_id, event.signal)
    if existing is None:
        raise Conflict(f"alert for segment {event.segment_id} / {event.signal} changed; retry")
    return _attach(session, existing, event, segment, settings, now)


def _drift_severity(event: DriftEvent, evidence: AlertEvidence) -> Severity:
    spec = signal_spec(event.signal, event.details)
    share = evidence.segment.volume_share if evidence.segment else None
    return drift_severity(spec, event.before_mean, event.after_mean, share or 0.0, event.after_n)


def _attach(
    session: Session,
    alert: Alert,
    event: DriftEvent,
    segment: Segment,
    settings: Settings,
    now: datetime,
) -> list[int]:
    if event.id <= _max_seen_drift_id(alert):
        return []
    previous = AlertEvidence.read(alert.evidence)
    evidence = drift_evidence(session, event, segment, settings)
    evidence.baseline = previous.baseline or Baseline.of(evidence.before, drift_event_id=None)
    history = [*previous.drift_events, drift_summary(event)]
    evidence.drift_events = history[-MAX_HISTORY:]
    # A new dict (not an in-place edit) so the JSON column is seen as changed.
    alert.evidence = evidence.to_json()
    copies.register_alert(session, alert)
    alert.severity = max_severity(alert.severity, _drift_severity(event, evidence))
    # The signal drifted again, so any run of at-baseline windows is over.
    alert.baseline_streak = 0
    if _renotify_due(alert, settings, now):
        return _notify(session, alert, DeliveryAction.RENOTIFY, settings, now)
    return []


def back_at_baseline(evidence: AlertEvidence, recent_mean: float) -> bool:
    """Inside the baseline's 95% interval, or closer to the baseline than to the after-mean."""
    baseline = evidence.baseline or Baseline()
    base = baseline.value
    if base is None:
        return False
    interval = baseline.ci
    if interval and interval[0] <= recent_mean <= interval[1]:
        return True
    after = evidence.after.value if evidence.after else None
    if after is None:
        return False
    return abs(recent_mean - base) < abs(recent_mean - after)


def _window_after_change(
    session: Session, alert: Alert, settings: Settings, at_n_updates: int | None = None
) -> bool:
    """Whether the recent window can hold only post-detection samples.

    Right after a detection the last ``resolve_after_samples`` values still include the values
    from before the change, whose mean sits near the baseline; resolving on them would close the
    alert it just opened. The detector's sample count when the mean was taken
    (``at_n_updates``, sent with it) minus the latest drift event's sample_index counts the
    samples since. Without it the stored DetectorState.n_updates stands in, but that count may
    have moved on since the mean was taken (the observe job runs after later batches), which
    let a mean from a window straddling the change resolve the alert it had just opened. When
    either is unknown (or the detector was reset) we cannot tell and do not hold it back.
    """
    detector = AlertEvidence.read(alert.evidence).detector
    sample_index = detector.sample_index if detector else None
    n_updates = at_n_updates
    if n_updates is None:
        state = session.scalar(
            select(DetectorState).where(
                DetectorState.segment_id == alert.segment_id, DetectorState.signal == alert.signal
            )
        )
        n_updates = state.n_updates if state is not None else None
    if n_updates is None or not isinstance(sample_index, int) or n_updates < sample_index:
        return True
    return n_updates - sample_index >= settings.resolve_after_samples


def observe(
    session: Session,
    segment_id: int,
    signal: str,
    recent_mean: float | None,
    recent_n: int,
    settings: Settings,
    now: datetime,
    at_n_updates: int | None = None,
) -> list[int]:
    """Feed the mean of a segment's last ``resolve_after_samples`` values of ``signal`` (taken
    when its detector had seen ``at_n_updates`` samples); auto-resolves the unresolved alert of
    that key once it is back at baseline (module doc). New quality-gap values are new
    verdicts: the segment's alerts' attributions catch up first. Returns the ids of the
    resolve deliveries created."""
    if signal == "quality_gap":
        refresh_attribution(session, segment_id, settings)
    if recent_mean is None or not math.isfinite(recent_mean) or signal == NO_DATA:
        return []
    if recent_n < settings.resolve_after_samples:
        return []
    alert = _active_alert(session, segment_id, signal)
    if alert is None or not _window_after_change(session, alert, settings, at_n_updates):
        return []
    if not back_at_baseline(AlertEvidence.read(alert.evidence), recent_mean):
        alert.baseline_streak = 0
        return []
    alert.baseline_streak = (alert.baseline_streak or 0) + 1
    recent = WindowSummary(value=float(recent_mean), n=int(recent_n))
    return _resolve(session, alert, now, by=ResolvedBy.AUTO, recent=recent)


def _judged_pairs(session: Session, segment_id: int, window: dict[str, Any]) -> int:
    """'gap' verdicts of the segment's events inside an attribution window's id bounds."""
    query = (
        select(func.count())
        .select_from(Verdict)
        .where(Verdict.kind == VerdictKind.GAP, Verdict.segment_id == segment_id)
    )
    if window.get("first_event_pk") is not None:
        query = query.where(Verdict.event_pk >= window["first_event_pk"])
    if window.get("last_event_pk") is not None:
        query = query.where(Verdict.event_pk <= window["last_event_pk"])
    return int(session.scalar(query) or 0)


def refresh_attribution(session: Session, segment_id: int, settings: Settings) -> list[int]:
    """Recompute the attribution of the segment's unresolved drift alerts whose after-window
    has gained judged pairs (module doc); the ids of the alerts refreshed."""
    refreshed = []
    alerts = session.scalars(
        select(Alert).where(
            Alert.segment_id == segment_id,
            Alert.status != AlertStatus.RESOLVED,
            Alert.drift_event_id.is_not(None),
        )
    )
    for alert in alerts:
        evidence = AlertEvidence.read(alert.evidence)
        attribution = evidence.attribution or {}
        if evidence.type != EvidenceType.DRIFT or not attribution.get("available"):
            continue
        after = attribution.get("after") or {}
        then = int(after.get("judged_pairs") or 0)
        now = _judged_pairs(session, segment_id, after.get("window") or {})
        if now < max(2 * then, then + REFRESH_MIN_NEW):
            continue
        event = session.get(DriftEvent, evidence.drift_event_id or alert.drift_event_id)
        if event is None:
            continue
        spec = signal_spec(event.signal, event.details)
        evidence.attribution = drift_attribution(session, event, spec, settings)
        # A new dict (not an in-place edit) so the JSON column is seen as changed.
        alert.evidence = evidence.to_json()
        refreshed.append(alert.id)
    return refreshed


# --- slice alerts ----------------------------------------------------------------------------


def slice_signal(slice_id: int) -> str:
    """A slice alert's signal: one per slice, so the open-alert index keeps it unique."""
    return f"slice:{slice_id}"


def open_slice_alert(
    session: Session, record: Any, segment_id: int, settings: Settings, now: datetime
) -> list[int]:
    """Open the alert of a confirmed slice (``shadowgap.db.models.Slice``) once: a slice that
    already has an alert, or an unresolved alert under its key, gets no second one. The alert
    is filed under the segment holding most of the slice's pairs (routing rules match it)."""
    if record.alert_id is not None:
        return []
    segment = session.get(Segment, segment_id)
    if segment is None:
        raise NotFound(f"segment {segment_id} not found")
    signal = slice_signal(record.id)
    existing = _active_alert(session, segment_id, signal)
    if existing is not None:
        record.alert_id = existing.id
        return []
    evidence = slice_evidence(session, record, segment, settings)
    evidence.baseline = Baseline.of(evidence.before)
    before = evidence.before.value if evidence.before else None
    after = evidence.after.value if evidence.after else None
    spec = signal_spec("quality_gap")
    severity = drift_severity(spec, before, after, record.traffic_share or 0.0)
    alert = _new_alert(segment_id, signal, severity, evidence, now)
    if not _insert(session, alert):
        return []
    record.alert_id = alert.id
    return _notify(session, alert, DeliveryAction.TRIGGER, settings, now)


# --- router-change alerts --------------------------------------------------------------------


def change_signal(change_id: int) -> str:
    """A change_regressed alert's signal: one per recorded router change."""
    return f"change:{change_id}"


def open_change_alert(
    session: Session,
    change_id: int,
    segment_id: int,
    evidence: AlertEvidence,
    severity: Severity,
    settings: Settings,
    now: datetime,
) -> tuple[int | None, list[int]]:
    """Open the ``change_regressed`` alert of a router change once (built by
    ``shadowgap.changes.alerting``); ``(alert id, trigger deliveries)``. An unresolved alert
    under its key is returned as it is."""
    signal = change_signal(change_id)
    existing = _active_alert(session, segment_id, signal)
    if existing is not None:
        return existing.id, []
    evidence.baseline = Baseline.of(evidence.before)
    alert = _new_alert(segment_id, signal, severity, evidence, now)
    if not _insert(session, alert):
        existing = _active_alert(session, segment_id, signal)
        return (existing.id if existing else None), []
    return alert.id, _notify(session, alert, DeliveryAction.TRIGGER, settings, now)


# --- SLO burn alerts -------------------------------------------------------------------------

SLO_BURN = "slo_burn"
QUALITY_GAP = "quality_gap"
# The latency and error-rate SLOs' burn alerts (shadowgap.slo.requests), and the detectors'
# alerts that are the same problem (a burn found while one is open is folded into it).
SLO_LATENCY_BURN = "slo_latency_burn"
SLO_ERROR_BURN = "slo_error_burn"
SLO_FOLDS_INTO: dict[str, tuple[str, ...]] = {
    SLO_BURN: (QUALITY_GAP,),
    SLO_LATENCY_BURN: ("latency", "tail_latency"),
    SLO_ERROR_BURN: ("error_rate",),
}


def raise_slo_burn(
    session: Session,
    segment_id: int,
    evidence: AlertEvidence,
    severity: Severity,
    settings: Settings,
    now: datetime,
    signal: str = SLO_BURN,
) -> list[int]:
    """Open the segment's ``signal`` SLO burn alert (``slo_burn``, ``slo_latency_burn``,
    ``slo_error_burn``) or update its open one (re-notifying when due, severity only going
    up). One alert per problem: when a detector's alert on the same problem is already open
    (:data:`SLO_FOLDS_INTO`: ``quality_gap`` for the quality SLO), the burn is that problem
    seen through the budget, so its state is folded into that alert's evidence (``slo``) and
    nobody is notified twice."""
    existing = _active_alert(session, segment_id, signal)
    if existing is None:
        for other in SLO_FOLDS_INTO[signal]:
            detector_alert = _active_alert(session, segment_id, other)
            if detector_alert is not None:
                folded = AlertEvidence.read(detector_alert.evidence)
                folded.slo = evidence.slo
                detector_alert.evidence = folded.to_json()
                return []
    if existing is not None:
        evidence.baseline = AlertEvidence.read(existing.evidence).baseline
        existing.evidence = evidence.to_json()
        existing.baseline_streak = 0  # burning again: any run of recovered looks is over
        copies.register_alert(session, existing)
        existing.severity = max_severity(existing.severity, severity)
        if _renotify_due(existing, settings, now):
            return _notify(session, existing, DeliveryAction.RENOTIFY, settings, now)
        return []
    evidence.baseline = Baseline.of(evidence.before)
    alert = _new_alert(segment_id, signal, severity, evidence, now)
    if not _insert(session, alert):
        return []  # a concurrent evaluation opened it: it notified
    return _notify(session, alert, DeliveryAction.TRIGGER, settings, now)


def clear_slo_burn(
    session: Session,
    segment_id: int,
    slo: dict[str, Any] | None,
    now: datetime,
    looks_needed: int = 1,
    signal: str = SLO_BURN,
) -> list[int]:
    """One look at which the segment's budget no longer burns: count it on the open
    ``signal`` SLO burn alert (``baseline_streak``) and resolve the alert, keeping the SLO
    state it resolved on, once ``looks_needed`` such looks came in a row; the resolve
    deliveries."""
    alert = _active_alert(session, segment_id, signal)
    if alert is None:
        return []
    alert.baseline_streak = (alert.baseline_streak or 0) + 1
    if alert.baseline_streak < looks_needed:
        return []
    evidence = AlertEvidence.read(alert.evidence)
    if slo is not None:
        evidence.slo = slo
    alert.evidence = evidence.to_json()
    return _resolve(session, alert, now, by=ResolvedBy.AUTO)


def hold_slo_burn(session: Session, segment_id: int, signal: str = SLO_BURN) -> None:
    """A look at which the open ``signal`` SLO burn alert's segment has not recovered: the run
    of recovered looks starts again."""
    alert = _active_alert(session, segment_id, signal)
    if alert is not None:
        alert.baseline_streak = 0


def open_slo_burn_segments(session: Session, signal: str = SLO_BURN) -> list[int]:
    """Segments with an unresolved ``signal`` SLO burn alert."""
    query = select(Alert.segment_id).where(
        Alert.signal == signal, Alert.status != AlertStatus.RESOLVED
    )
    return list(session.scalars(query))


# --- no-data alerts --------------------------------------------------------------------------


def check_no_data(session: Session, settings: Settings, now: datetime) -> list[int]:
    """Open 'no_data' alerts for segments silent for ``no_data_minutes`` after having sent
    traffic, resolve them when traffic is back, re-notify the rest when due."""
    ids = _sweep_open_no_data(session, settings, now)
    cutoff = now - timedelta(minutes=settings.no_data_minutes)
    # One alert per silence: skip segments with an unresolved no-data alert, or one opened
    # after their last event (resolved by hand while the segment is still silent).
    already = exists().where(
        Alert.segment_id == Segment.id,
        Alert.signal == NO_DATA,
        or_(Alert.status != AlertStatus.RESOLVED, Alert.opened_at >= Segment.last_seen_at),
    )
    silent = select(Segment).where(
        Segment.last_seen_at.is_not(None), Segment.last_seen_at <= cutoff, ~already
    )
    for segment in session.scalars(silent.order_by(Segment.id)).all():
        evidence = no_data_evidence(session, segment, settings, now)
        alert = _new_alert(
            segment.id, NO_DATA, no_data_severity(volume_share(session, segment)), evidence, now
        )
        if _insert(session, alert):
            ids += _notify(session, alert, DeliveryAction.TRIGGER, settings, now)
    return ids


def _sweep_open_no_data(session: Session, settings: Settings, now: datetime) -> list[int]:
    ids: list[int] = []
    query = (
        select(Alert, Segment)
        .join(Segment, Segment.id == Alert.segment_id)
        .where(Alert.signal == NO_DATA, Alert.status != AlertStatus.RESOLVED)
        .order_by(Alert.id)
    )
    for alert, segment in session.execute(query).all():
        silent_since = AlertEvidence.read(alert.evidence).last_event_at
        last = segment.last_seen_at
        if last is not None and (
            silent_since is None or last > datetime.fromisoformat(silent_since)
        ):
            ids += _resolve(session, alert, now, by=ResolvedBy.AUTO)
        elif _renotify_due(alert, settings, now):
            alert.evidence = no_data_evidence(session, segment, settings, now).to_json()
            ids += _notify(session, alert, DeliveryAction.RENOTIFY, settings, now)
    return ids


# --- user actions ----------------------------------------------------------------------------


def acknowledge(session: Session, alert_id: int, now: datetime) -> Alert:
    """open -> acknowledged (stops re-notifications); acknowledging twice is a no-op."""
    alert = _get_alert(session, alert_id)
    if alert.status == AlertStatus.RESOLVED:
        raise Conflict(f"alert {alert_id} is resolved")
    if alert.status == AlertStatus.OPEN:
        alert.status = AlertStatus.ACKNOWLEDGED
        alert.acknowledged_at = now
    return alert


def resolve(session: Session, alert_id: int, now: datetime, by: str = ResolvedBy.USER) -> list[int]:
    """Resolve by hand; returns the resolve deliveries (none when already resolved)."""
    alert = _get_alert(session, alert_id)
    if alert.status == AlertStatus.RESOLVED:
        return []
    return _resolve(session, alert, now, by=by)


def _resolve(
    session: Session,
    alert: Alert,
    now: datetime,
    by: str,
    recent: WindowSummary | None = None,
) -> list[int]:
    alert.status = AlertStatus.RESOLVED
    alert.resolved_at = now
    alert.resolved_by = by[:32]
    evidence = AlertEvidence.read(alert.evidence)
    evidence.resolution = Resolution(by=by, at=now.isoformat(), recent=recent)
    alert.evidence = evidence.to_json()
    notified = session.scalars(
        select(Delivery.channel)
        .where(
            Delivery.alert_id == alert.id,
            Delivery.action.in_((DeliveryAction.TRIGGER, DeliveryAction.RENOTIFY)),
        )
        .order_by(Delivery.id)
    ).all()
    channels = list(dict.fromkeys(notified))
    return _create_deliveries(session, alert, DeliveryAction.RESOLVE, channels, now)


def list_alerts(
    session: Session, status: str | None = None, limit: int = 50, offset: int = 0
) -> list[Alert]:
    """Newest first. ``status`` is open, acknowledged, resolved, or 'active' (not resolved)."""
    if status is not None and status not in (*AlertStatus, "active"):
        raise InvalidInput(f"unknown alert status {status!r}", field="status")
    if limit < 1 or offset < 0:
        raise InvalidInput("limit must be >= 1 and offset >= 0", field="limit")
    query = alerts_with_keys(status).limit(min(limit, MAX_LIST_LIMIT)).offset(offset)
    return [alert for alert, _ in session.execute(query).all()]
