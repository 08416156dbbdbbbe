"""Per-segment online drift detection.

Detectors follow River's ``DriftDetector`` interface; the CUSUMs are the project's own, sized
from the deployment's false-alarm budget (:mod:`shadowgap.drift.budget`). Signals turn stored rows
into value streams (:mod:`shadowgap.drift.signals`) and the store feeds them in micro-batches with
persisted state (:mod:`shadowgap.drift.store`). Only this package imports river.
"""

from shadowgap.drift.bernoulli_cusum import BernoulliCUSUM
from shadowgap.drift.budget import (
    BernoulliDesign,
    arl0_per_detector,
    bernoulli_arl,
    design_bernoulli_cusum,
    gaussian_delay,
    gaussian_threshold,
    siegmund_arl,
)
from shadowgap.drift.gaussian_cusum import GaussianCUSUM
from shadowgap.drift.registry import DETECTORS, build_detector
from shadowgap.drift.signals import SIGNALS, SignalSpec
from shadowgap.drift.store import SignalBatch, segment_signal_views, update_segment
from shadowgap.drift.two_sided import TwoSidedCUSUM

__all__ = [
    "DETECTORS",
    "SIGNALS",
    "BernoulliCUSUM",
    "BernoulliDesign",
    "GaussianCUSUM",
    "SignalBatch",
    "SignalSpec",
    "TwoSidedCUSUM",
    "arl0_per_detector",
    "bernoulli_arl",
    "build_detector",
    "design_bernoulli_cusum",
    "gaussian_delay",
    "gaussian_threshold",
    "segment_signal_views",
    "siegmund_arl",
    "update_segment",
]
