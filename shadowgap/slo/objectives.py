"""Which objectives a segment is held to: the first glob of a per-segment override setting its
key matches (a key glob over dimensions is a slice), else the setting's default. One parser
(:func:`shadowgap.config.parse_slo_objectives`) reads every override setting."""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase
from functools import lru_cache

from shadowgap.config import MAX_SLO_LATENCY_MS, Settings, parse_slo_objectives


@lru_cache(maxsize=64)
def _overrides(text: str, upper: float) -> tuple[tuple[str, float], ...]:
    # Settings were validated at load; cached so a look over 10,000 segments parses once.
    return tuple(parse_slo_objectives(text, upper=upper))


def _first_match(text: str, segment_key: str, default: float, upper: float = 1.0) -> float:
    for glob, value in _overrides(text, upper):
        if fnmatchcase(segment_key, glob):
            return value
    return default


def objective_for(settings: Settings, segment_key: str) -> float:
    """The quality objective of the segment with this key.

    >>> s = Settings(slo_objective=0.1, slo_objectives="tenant=hooli*=0.05; *team=batch*=0.2")
    >>> objective_for(s, "tenant=hooli|team=batch"), objective_for(s, "tenant=acme|team=batch")
    (0.05, 0.2)
    >>> objective_for(s, "tenant=acme")
    0.1
    """
    return _first_match(settings.slo_objectives, segment_key, settings.slo_objective)


@dataclass(frozen=True)
class RequestObjective:
    """A latency or error-rate objective: the share of requests allowed to be bad, and for
    latency the threshold (ms) past which a request is bad."""

    kind: str  # "latency" | "error"
    allowed: float  # 1 - latency target, or the error objective
    threshold_ms: float | None = None

    @property
    def target(self) -> float:
        """The share of requests that must be good (0.99 for '99% within 10 s')."""
        return 1.0 - self.allowed


def latency_objective_for(settings: Settings, segment_key: str) -> RequestObjective:
    """'At least P of the requests within T ms' of the segment with this key.

    >>> s = Settings(slo_latency_targets="tenant=hooli*=0.995",
    ...     slo_latency_thresholds_ms="*team=batch*=60000")
    >>> o = latency_objective_for(s, "tenant=hooli|team=batch")
    >>> round(o.target, 3), o.threshold_ms
    (0.995, 60000.0)
    """
    target = _first_match(settings.slo_latency_targets, segment_key, settings.slo_latency_target)
    threshold = _first_match(
        settings.slo_latency_thresholds_ms,
        segment_key,
        settings.slo_latency_threshold_ms,
        upper=MAX_SLO_LATENCY_MS,
    )
    return RequestObjective("latency", 1.0 - target, threshold)


def error_objective_for(settings: Settings, segment_key: str) -> RequestObjective:
    """'At most E of the requests fail' of the segment with this key.

    >>> error_objective_for(Settings(slo_error_objectives="tenant=acme=0.05"), "tenant=acme")
    RequestObjective(kind='error', allowed=0.05, threshold_ms=None)
    """
    allowed = _first_match(settings.slo_error_objectives, segment_key, settings.slo_error_objective)
    return RequestObjective("error", allowed)
