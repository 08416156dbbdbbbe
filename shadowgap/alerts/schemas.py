"""The evidence an alert carries, as one typed model.

:mod:`shadowgap.alerts.evidence` builds it; it is stored as JSON in ``alerts.evidence``, sent as
is by the webhook and read back everywhere through :meth:`AlertEvidence.read`. The stored JSON is
:meth:`AlertEvidence.to_json`: only the keys the writer set, so an evidence reads back and is
written again with the same keys and values.

Rows written by earlier versions must still read, so every field is optional, numbers keep their
JSON type (``int | float``) and keys this version does not know are kept (``extra="allow"``).
Older or hand-made rows say ``mean`` where today's say ``value`` (:attr:`WindowSummary.point`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict

from shadowgap.enums import EvidenceType

# A JSON number, kept as it was written (3 stays 3, 0.5 stays 0.5).
Number = int | float


class _Part(BaseModel):
    # Unknown keys ride along, so reading and rewriting an evidence never drops them.
    model_config = ConfigDict(extra="allow")

    def __bool__(self) -> bool:
        # Like the JSON object it was read from, a part with no keys is falsy.
        return bool(self.model_fields_set or self.model_extra)

    def to_json(self) -> dict[str, Any]:
        """The part as stored: only the keys its writer set."""
        return self.model_dump(mode="json", exclude_unset=True)


class WindowSummary(_Part):
    """One side of a change: value, sample size and its 95% interval."""

    value: Number | None = None
    n: Number | None = None
    ci: list[Number] | None = None
    ci_method: str | None = None
    ci_level: Number | None = None
    mean: Number | None = None  # older rows' name for ``value``

    @property
    def point(self) -> Number | None:
        """The window's value, whichever name the row gave it (an explicit null stays null)."""
        return self.value if "value" in self.model_fields_set else self.mean

    @property
    def count(self) -> int:
        return int(self.n or 0)


class Baseline(WindowSummary):
    """The window an alert resolves back to, and the drift event it came from."""

    drift_event_id: int | None = None

    @classmethod
    def of(cls, window: WindowSummary | None, **extra: Any) -> Baseline:
        """``window``'s keys (and ``extra``'s, e.g. ``drift_event_id``) as a baseline."""
        return cls.model_validate({**(window.to_json() if window else {}), **extra})


class SegmentSummary(_Part):
    id: int | None = None
    key: str | None = None
    dimensions: dict[str, Any] | None = None
    event_count: int | None = None
    volume_share: Number | None = None


class Change(_Part):
    delta: Number | None = None
    effect_size: Number | None = None


class DetectorSummary(_Part):
    name: str | None = None
    statistic: Number | None = None
    threshold: Number | None = None
    sample_index: int | None = None
    detected_at: str | None = None  # ISO 8601
    at_event_pk: int | None = None


class CallView(_Part):
    """One tool call as shown: the function and its arguments, pretty-printed and bounded."""

    name: str | None = None
    arguments: str | None = None  # indented JSON, or the text as sent when it is not JSON
    valid_json: bool | None = None


class CallPair(_Part):
    """One row of the side-by-side view: the calls the tool-call judge matched (either may
    be missing: a call the other side did not make)."""

    cheap: CallView | None = None
    flagship: CallView | None = None


class Difference(_Part):
    """One difference the judge named (:data:`shadowgap.judging.tool_calls.KINDS`)."""

    kind: str | None = None
    side: str | None = None  # whose answer is at fault; None: nobody can tell
    function: str | None = None
    path: str | None = None  # the argument (or JSON field)
    detail: str | None = None


class Comparison(_Part):
    """A judged pair side by side, built by :mod:`shadowgap.alerts.pairs`.

    ``mode`` is ``tool-calls`` (``pairs`` and ``differences`` filled), ``structured-output``
    (the JSON answers: which fields differ, which side breaks the response format) or
    ``text``. ``difference`` is the kind that decided the verdict.
    """

    mode: str | None = None
    difference: str | None = None
    cheap_text: str | None = None  # the prose beside the calls, when there is any
    flagship_text: str | None = None
    pairs: list[CallPair] = []
    differences: list[Difference] = []
    more_differences: int | None = None  # named by the judge but not shown (bounded)
    differing_fields: list[str] = []
    compatible_fields: list[str] = []
    free_text_fields: list[str] = []
    cheap_break: str | None = None  # invalid_json | schema_violation
    flagship_break: str | None = None
    violations: list[str] = []  # where the breaking side breaks the schema


class Example(_Part):
    """A request from the after-change window with both answers and the judge's rationale."""

    event_pk: int | None = None
    event_id: str | None = None
    occurred_at: str | None = None  # ISO 8601
    route_tier: str | None = None
    route_model: str | None = None
    prompt: str | None = None
    cheap_answer: str | None = None
    flagship_model: str | None = None
    flagship_answer: str | None = None
    winner: str | None = None
    gap_score: Number | None = None
    judge: str | None = None
    rationale: str | None = None
    comparison: Comparison | None = None  # tool calls / JSON fields side by side


class DriftSummary(_Part):
    """One line of an alert's drift history."""

    drift_event_id: int | None = None
    detected_at: str | None = None
    before: Number | None = None
    after: Number | None = None
    after_n: int | None = None


class Resolution(_Part):
    by: str | None = None
    at: str | None = None
    recent: WindowSummary | None = None  # the window that was back at baseline (auto)


class SliceSummary(_Part):
    id: int | None = None
    key: str | None = None
    conditions: list[Any] | None = None
    traffic_share: Number | None = None
    n: int | None = None
    window_start: str | None = None
    window_end: str | None = None
    complement: dict[str, Any] | None = None
    q_value: Number | None = None


class AlertEvidence(_Part):
    """What changed, how sure we are and what it looks like (module doc).

    ``type`` says which fields a writer fills: ``drift`` (before/after, change, detector,
    examples, attribution), ``slice`` (the same plus ``slice`` and ``confirmation``) or
    ``no_data`` (``last_event_at``, ``silent_minutes``, ``threshold_minutes``) or ``slo_burn``
    (``slo``; ``before`` is the objective, ``after`` the burning window's excess). The lifecycle
    adds ``baseline``, ``drift_events`` and, once resolved, ``resolution``.
    """

    type: EvidenceType | None = None
    drift_event_id: int | None = None
    segment: SegmentSummary | None = None
    signal: str | None = None
    signal_kind: str | None = None
    effect_scale: str | None = None
    slice: SliceSummary | None = None
    before: WindowSummary | None = None
    after: WindowSummary | None = None
    change: Change | None = None
    confirmation: dict[str, Any] | None = None
    detector: DetectorSummary | None = None
    last_event_at: str | None = None  # ISO 8601, no-data alerts
    silent_minutes: Number | None = None
    threshold_minutes: Number | None = None
    examples: list[Example] = []
    # Shaped by shadowgap.attribution.explain (plain JSON), which documents it.
    attribution: dict[str, Any] | None = None
    # Answer-defect signals only: which tools and error kinds the defective answers show
    # (shadowgap.alerts.evidence.answer_defects documents it).
    answer_defects: dict[str, Any] | None = None
    # SLO burn alerts, and quality-gap alerts an SLO burn was folded into: the segment's SLO
    # state (shadowgap.slo.budget.SegmentSlo.to_json documents it).
    slo: dict[str, Any] | None = None
    dashboard_url: str | None = None
    baseline: Baseline | None = None
    drift_events: list[DriftSummary] = []
    resolution: Resolution | None = None

    @classmethod
    def read(cls, raw: EvidenceInput | None) -> AlertEvidence:
        """The evidence of a stored row (or a payload under test); an empty one for NULL."""
        if isinstance(raw, AlertEvidence):
            return raw
        return cls.model_validate(dict(raw or {}))

    @property
    def segment_key(self) -> str:
        if self.segment is None or "key" not in self.segment.model_fields_set:
            return "?"
        return str(self.segment.key)


# What the notifiers accept: the model, or its JSON as stored in alerts.evidence.
EvidenceInput = AlertEvidence | Mapping[str, Any]


def part_json(part: _Part | None) -> dict[str, Any] | None:
    """A part's JSON as stored (None when the evidence has no such key)."""
    return None if part is None else part.to_json()
