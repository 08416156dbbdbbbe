"""Which objective a segment is held to: the first ``SHADOWGAP_SLO_OBJECTIVES`` glob its key
matches (a key glob over dimensions is a slice), else ``SHADOWGAP_SLO_OBJECTIVE``."""

from __future__ import annotations

from fnmatch import fnmatchcase

from shadowgap.config import Settings, parse_slo_objectives


def objective_for(settings: Settings, segment_key: str) -> float:
    """The objective of the segment with this key.

    >>> s = Settings(slo_objective=0.1, slo_objectives="tenant=hooli*=0.05; *team=batch*=0.2")
    >>> objective_for(s, "tenant=hooli|team=batch"), objective_for(s, "tenant=acme|team=batch")
    (0.05, 0.2)
    >>> objective_for(s, "tenant=acme")
    0.1
    """
    for glob, objective in parse_slo_objectives(settings.slo_objectives):
        if fnmatchcase(segment_key, glob):
            return objective
    return settings.slo_objective
