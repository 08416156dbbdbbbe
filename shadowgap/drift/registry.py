"""Build a drift detector from a name and parameters (what the signal table configures).

Names:

- ``adwin``: River's ``ADWIN`` (``delta``, ``clock``, ``grace_period``, ...).
- ``page_hinkley``: River's ``PageHinkley`` (``delta``, ``threshold``, ``alpha``, ``mode``, ...).
- ``ddm``: River's binary ``DDM`` (``warm_start``, ``drift_threshold``, ...).
- ``hddm_a``: River's binary ``HDDM_A`` (``drift_confidence``, ``two_sided_test``, ...).
- ``bernoulli_cusum``: :class:`~shadowgap.drift.bernoulli_cusum.BernoulliCUSUM`; with
  ``two_sided=True`` an upper and a lower one in a
  :class:`~shadowgap.drift.two_sided.TwoSidedCUSUM`.
- ``gaussian_cusum``: :class:`~shadowgap.drift.gaussian_cusum.GaussianCUSUM`; ``two_sided=True``
  likewise.
- ``bernoulli_glr``: :class:`~shadowgap.drift.glr.BernoulliGLR` (``side``, ``window``): no warm-up.
- ``self_starting_bernoulli``: the ``bernoulli_cusum`` built from the same parameters, with a
  :class:`~shadowgap.drift.glr.BernoulliGLR` watching its warm-up
  (:class:`~shadowgap.drift.self_starting.SelfStartingCUSUM`).

``warmup`` is accepted by every name and mapped onto the River detector's own warm-up
parameter where it has one (ADWIN ``grace_period``, Page-Hinkley ``min_instances``, DDM
``warm_start``; HDDM_A has none and ignores it). ``arl0`` sizes the CUSUM thresholds unless the
parameters fix ``h``; River's detectors have no ARL-calibrated parameter and ignore it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from river import drift
from river.base import BinaryDriftDetector, DriftDetector

from shadowgap.drift.bernoulli_cusum import BernoulliCUSUM
from shadowgap.drift.gaussian_cusum import GaussianCUSUM
from shadowgap.drift.glr import BernoulliGLR
from shadowgap.drift.self_starting import SelfStartingCUSUM
from shadowgap.drift.tail_cusum import TailCUSUM
from shadowgap.drift.two_sided import TwoSidedCUSUM

# River keeps binary detectors outside the DriftDetector hierarchy; both share its interface.
AnyDetector = DriftDetector | BinaryDriftDetector
Factory = Callable[[dict[str, Any], float | None], AnyDetector]

# River's name for each detector's warm-up parameter (None: it has none).
_RIVER_WARMUP = {
    "adwin": "grace_period",
    "page_hinkley": "min_instances",
    "ddm": "warm_start",
    "hddm_a": None,
}


def _river(cls: type[AnyDetector], name: str) -> Factory:
    def build(params: dict[str, Any], arl0: float | None) -> AnyDetector:
        warmup = params.pop("warmup", None)
        target = _RIVER_WARMUP[name]
        if warmup is not None and target is not None:
            params.setdefault(target, warmup)
        return cls(**params)

    return build


def _bernoulli(params: dict[str, Any], arl0: float | None) -> AnyDetector:
    if params.pop("two_sided", False):
        params.pop("direction", None)
        return TwoSidedCUSUM.bernoulli(arl0=arl0, **params)
    return BernoulliCUSUM(arl0=arl0, **params)


def _gaussian(params: dict[str, Any], arl0: float | None) -> AnyDetector:
    if params.pop("two_sided", False):
        return TwoSidedCUSUM.gaussian(arl0=arl0, **params)
    return GaussianCUSUM(arl0=arl0, **params)


def _glr(params: dict[str, Any], arl0: float | None) -> AnyDetector:
    params.pop("warmup", None)  # it needs none
    return BernoulliGLR(arl0=arl0, **params)


def _self_starting(params: dict[str, Any], arl0: float | None) -> AnyDetector:
    two_sided = bool(params.get("two_sided", False))
    side = "both" if two_sided else str(params.get("direction", "up"))
    window = int(params.pop("glr_window", 500))
    cusum = _bernoulli(params, arl0)
    return SelfStartingCUSUM(cusum, side, window)  # type: ignore[arg-type]


DETECTORS: dict[str, Factory] = {
    "adwin": _river(drift.ADWIN, "adwin"),
    "page_hinkley": _river(drift.PageHinkley, "page_hinkley"),
    "ddm": _river(drift.binary.DDM, "ddm"),
    "hddm_a": _river(drift.binary.HDDMA, "hddm_a"),
    "bernoulli_cusum": _bernoulli,
    "gaussian_cusum": _gaussian,
    "bernoulli_glr": _glr,
    "self_starting_bernoulli": _self_starting,
    "tail_cusum": lambda params, arl0: TailCUSUM(arl0=arl0, **params),
}

# Detectors that only accept 0/1 inputs.
BINARY_DETECTORS = frozenset(
    {"ddm", "hddm_a", "bernoulli_cusum", "bernoulli_glr", "self_starting_bernoulli"}
)


def build_detector(
    name: str, params: Mapping[str, Any] | None = None, *, arl0: float | None = None
) -> AnyDetector:
    """A fresh detector called ``name`` with ``params`` (see the module docstring).

    >>> build_detector("bernoulli_cusum", {"p0": 0.1, "p1": 0.2}, arl0=10_000).threshold > 5
    True
    >>> type(build_detector("hddm_a", {"warmup": 100})).__name__
    'HDDMA'
    """
    try:
        factory = DETECTORS[name]
    except KeyError:
        raise ValueError(f"unknown detector {name!r}; known: {sorted(DETECTORS)}") from None
    return factory(dict(params or {}), arl0)


def retarget(detector: AnyDetector, arl0: float) -> None:
    """Give a CUSUM a new ARL0 target; detectors without one are left alone."""
    set_arl0 = getattr(detector, "set_arl0", None)
    if set_arl0 is not None:
        set_arl0(arl0)
