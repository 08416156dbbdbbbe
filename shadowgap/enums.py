"""The closed sets of values stored in string columns, as ``StrEnum``s.

Each member's value is the string stored in the database, so a member compares equal to that
string, binds as it in SQL and serialises as it in JSON: nothing stored or sent changes. The
columns stay ``String`` (no migration); :class:`shadowgap.db.models.EnumString` hands the
members back when a row is read. They sit on the ground floor (below ``db``) because the wire
schemas and the settings use them too.

Alert signals are not a closed set (a slice alert's signal is ``slice:<id>``), so they stay
strings; :data:`shadowgap.drift.signals.SIGNALS` names the detector signals.
"""

from __future__ import annotations

from enum import StrEnum


class AlertStatus(StrEnum):
    """``alerts.status``: open -> acknowledged -> resolved (or open -> resolved)."""

    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class Severity(StrEnum):
    """``alerts.severity``, loudest first (shadowgap.alerts.severity maps changes to it)."""

    CRITICAL = "critical"
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


class ResolvedBy(StrEnum):
    """``alerts.resolved_by``: a person (API, dashboard) or the lifecycle itself."""

    USER = "user"
    AUTO = "auto"


class DeliveryAction(StrEnum):
    """``deliveries.action``: what a notification says about its alert."""

    TRIGGER = "trigger"
    RENOTIFY = "renotify"
    RESOLVE = "resolve"


class DeliveryStatus(StrEnum):
    """``deliveries.status``: pending until delivered, expired or failed for good."""

    PENDING = "pending"
    DELIVERED = "delivered"
    EXPIRED = "expired"
    FAILED = "failed"


class EventStatus(StrEnum):
    """``traffic_events.status``: how the routed model's call went, as the sender reported."""

    OK = "ok"
    ERROR = "error"


class RunStatus(StrEnum):
    """``shadow_runs.status``: whether the re-run produced an answer."""

    OK = "ok"
    FAILED = "failed"


class VerdictKind(StrEnum):
    """``verdicts.kind``: which pair was judged (shadowgap.db.models.Verdict)."""

    GAP = "gap"  # the cheap answer against the flagship's
    NOISE = "noise"  # the flagship against its own repeat
    REVERSE = "reverse"  # the cheap model's re-run against the flagship answer served


class Winner(StrEnum):
    """``verdicts.winner``: which answer the judge preferred."""

    FLAGSHIP = "flagship"
    CHEAP = "cheap"
    TIE = "tie"


class CostKind(StrEnum):
    """``cost_ledger.kind``: what the shadow spend paid for."""

    FLAGSHIP = "flagship"
    JUDGE = "judge"


class SliceStatus(StrEnum):
    """``slices.status`` (shadowgap.db.models.Slice explains each)."""

    FOUND = "found"
    CONFIRMED = "confirmed"
    UNCONFIRMED = "unconfirmed"


class AuditVia(StrEnum):
    """``audit_log.via``: how the actor signed in."""

    KEY = "key"
    SSO = "sso"
    SESSION = "session"


class AuditAction(StrEnum):
    """``audit_log.action``: what a person did."""

    ACKNOWLEDGE = "acknowledge"
    RESOLVE = "resolve"
    SIGN_IN = "sign-in"
    SIGN_OUT = "sign-out"


class EvidenceType(StrEnum):
    """``alerts.evidence['type']``: what opened the alert."""

    DRIFT = "drift"
    NO_DATA = "no_data"
    SLICE = "slice"
    CHANGE_REGRESSED = "change_regressed"  # a recorded router change made things worse
    SLO_BURN = "slo_burn"  # a segment's quality SLO budget burns (shadowgap.slo)


class ChangeStatus(StrEnum):
    """``router_changes.status``: the verification's verdict (shadowgap.changes.verify)."""

    PENDING = "pending"  # not enough pairs since the change to decide yet
    VERIFIED = "verified"  # decided with the power the design asks for; nothing got worse
    REGRESSED = "regressed"  # quality, cost or p95 got worse beyond its interval
