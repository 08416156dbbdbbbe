"""Drift detection: delay against the CUSUM limit, false alarms, sampling, speed, memory.

Seeded synthetic streams only. Prints plain-text tables (``--json PATH`` writes them too):

1. Detection delay for a quality drop ``0.90 -> 0.80`` (an error rate ``0.10 -> 0.20``, fed as
   1 = error) for River's ADWIN, Page-Hinkley, DDM and HDDM_A (defaults and tuned to an
   in-control ARL0 of 10,000 by simulation) and the project's Bernoulli CUSUM, next to the
   exact CUSUM limit (Lorden's worst-case delay at ARL0 = 10,000, about 111 samples). The
   change comes at a random point; the delay is the number of post-change samples up to and
   including the first alarm, averaged over the runs.
2. False alarms per 1,000,000 stationary samples (error rate 0.10), i.e. the measured ARL0.
3. A segment with 3% of traffic, a 2% shadow budget and 5 segments: traffic until a quality
   drop is detected with per-segment sampling vs uniform sampling. The delay is the
   conditional one (runs with a false alarm before the change left out of both schemes; the
   ratio over all runs is printed next to it).
   The shipped power allocation (:func:`shadowgap.shadow.sampling.plan_allocation`) is compared with
   uniform sampling twice: at the same ARL0 per verdict, and at equal false alarms per unit of
   traffic (each detector's ARL0 follows its own verdict rate, as the budget sizes it); each
   for the known-level CUSUM and for the detector the product ships for quality (the GLR).
   The target is held on the shipped detector: it is what a user's segment runs.
4. Microseconds per update for each detector, and the memory of 10,000 segments x 5 signals of
   the persisted per-signal state (its stored JSON, :mod:`shadowgap.drift.codec`).
5. Small segments at the default budget (``benchmarks/small_segments.py``): delay against the
   known-level CUSUM limit and false alarms in 50 stationary weeks.

Targets: the best detector that does not know the in-control rate (the known-rate CUSUM is the
limit, not a candidate) within 1.3x of the limit; <= 10 us per update (CUSUM path); <= 300 MB;
per-segment sampling >= 5x sooner than uniform at equal false alarms per unit of traffic; and
section 5's. The script exits 1 when any target fails.

Usage: python benchmarks/detection.py [--quick] [--json PATH] [--seed N] [--answer-signals K]
(K answer-defect detectors with inputs in every segment in section 5; see small_segments.py)
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import small_segments  # noqa: E402

from shadowgap.config import Settings  # noqa: E402
from shadowgap.drift import SIGNALS, build_detector, codec, design_bernoulli_cusum  # noqa: E402
from shadowgap.drift.state import SignalState  # noqa: E402
from shadowgap.shadow.sampling import plan_allocation  # noqa: E402
from shadowgap.stats.pooled import beta_prior  # noqa: E402

P0, P1 = 0.10, 0.20  # error rates: quality 0.90 -> 0.80
TARGET_ARL0 = 10_000.0

# Detectors are used through update()/drift_detected only; River annotates binary ones as
# taking bool, while all of them compute with 0.0/1.0, so the benchmark types them loosely.
Detector = Any
Factory = Callable[[], Detector]


@dataclass
class Config:
    quick: bool
    seed: int

    @property
    def delay_runs(self) -> int:
        return 50 if self.quick else 200

    @property
    def tune_samples(self) -> int:
        """Stationary samples per tuning step (about 100 false alarms at the target)."""
        return 250_000 if self.quick else 1_000_000

    @property
    def tune_samples_slow(self) -> int:
        """The same for HDDM_A, whose update costs about 8 us in Python."""
        return 100_000 if self.quick else 300_000

    @property
    def stationary_samples(self) -> int:
        return 250_000 if self.quick else 1_000_000

    @property
    def sampling_runs(self) -> int:
        return 100 if self.quick else 400


# --- streams and measurements --------------------------------------------------------------


def bernoulli(rng: np.random.Generator, p: float, n: int) -> list[float]:
    return (rng.random(n) < p).astype(float).tolist()


def count_alarms(detector: Detector, stream: Sequence[float]) -> int:
    """Alarms over a stream; every detector resets itself after an alarm (renewal)."""
    alarms = 0
    update = detector.update
    for x in stream:
        update(x)
        if detector.drift_detected:
            alarms += 1
    return alarms


def arl0_estimate(alarms: int, samples: int) -> float:
    return samples / alarms if alarms else math.inf


def tune(
    make: Callable[[float], Detector],
    low: float,
    high: float,
    *,
    conservative_high: bool,
    log_scale: bool,
    stream: Sequence[float],
    iterations: int = 9,
) -> float:
    """Bisect a parameter until the measured ARL0 on ``stream`` is about the target.

    ``conservative_high``: larger values mean fewer alarms. The same stream is used for every
    candidate (common random numbers), which keeps the search monotone.
    """

    def point(a: float, b: float) -> float:
        return math.sqrt(a * b) if log_scale else (a + b) / 2.0

    for _ in range(iterations):
        mid = point(low, high)
        arl0 = arl0_estimate(count_alarms(make(mid), stream), len(stream))
        too_sensitive = arl0 < TARGET_ARL0
        if too_sensitive == conservative_high:
            low = mid
        else:
            high = mid
    # End on the conservative side of the bracket.
    return high if conservative_high else low


def delays(factory: Factory, cfg: Config) -> dict[str, Any]:
    """Mean delay over seeded runs with the change at a random point in [2000, 6000)."""
    rng = np.random.default_rng(cfg.seed + 1)
    cap = 5_000
    results, early, censored = [], 0, 0
    for _ in range(cfg.delay_runs):
        change = int(rng.integers(2000, 6000))
        pre = bernoulli(rng, P0, change)
        post = bernoulli(rng, P1, cap)
        detector = factory()
        early += count_alarms(detector, pre) > 0
        for i, x in enumerate(post):
            detector.update(x)
            if detector.drift_detected:
                results.append(i + 1)
                break
        else:
            censored += 1
            results.append(cap)
    return {
        "mean_delay": statistics.fmean(results),
        "median_delay": statistics.median(results),
        "runs": len(results),
        "runs_with_false_alarm_before_change": early,
        "censored": censored,
    }


def us_per_update(factory: Factory, n: int, seed: int) -> tuple[float, float]:
    """(steady state, amortised from a fresh detector) microseconds per update.

    The amortised figure includes the warm-up and every threshold design (the exact ARL
    solves of the CUSUMs); the steady one is measured on a detector that is past them.
    """
    stream = bernoulli(np.random.default_rng(seed), P0, n)
    detector = factory()
    start = time.perf_counter()
    for x in stream:
        detector.update(x)
        if detector.drift_detected:
            pass
    amortised = (time.perf_counter() - start) / n * 1e6
    start = time.perf_counter()
    for x in stream:
        detector.update(x)
        if detector.drift_detected:
            pass
    return (time.perf_counter() - start) / n * 1e6, amortised


# --- the detectors compared ----------------------------------------------------------------


def detector_table(cfg: Config) -> list[tuple[str, Factory, str]]:
    """(label, factory, how its parameter was chosen)."""
    tune_stream = bernoulli(np.random.default_rng(cfg.seed), P0, cfg.tune_samples)

    def timed_tune(name: str, stream: Sequence[float] = tune_stream, **kwargs: Any) -> float:
        start = time.perf_counter()
        value = tune(stream=stream, **kwargs)
        print(f"  tuned {name}: {value:.4g} ({time.perf_counter() - start:.1f} s)", flush=True)
        return value

    print("tuning River detectors to ARL0 = 10,000 by simulation ...", flush=True)
    adwin_delta = timed_tune(
        "ADWIN delta (clock=1)",
        make=lambda d: build_detector("adwin", {"delta": d, "clock": 1}),
        low=1e-12,
        high=0.5,
        conservative_high=False,
        log_scale=True,
    )
    ph_params = {"delta": (P1 - P0) / 2, "alpha": 1.0, "mode": "up", "min_instances": 30}
    ph_threshold = timed_tune(
        "Page-Hinkley threshold (delta=0.05, up, alpha=1)",
        make=lambda t: build_detector("page_hinkley", {**ph_params, "threshold": t}),
        low=0.5,
        high=50.0,
        conservative_high=True,
        log_scale=True,
    )
    ddm_threshold = timed_tune(
        "DDM drift_threshold",
        make=lambda t: build_detector("ddm", {"drift_threshold": t, "warning_threshold": t}),
        low=1.0,
        high=20.0,
        conservative_high=True,
        log_scale=True,
    )
    hddm_confidence = timed_tune(
        "HDDM_A drift_confidence",
        stream=tune_stream[: cfg.tune_samples_slow],
        make=lambda c: build_detector("hddm_a", {"drift_confidence": c}),
        low=1e-12,
        high=0.5,
        conservative_high=False,
        log_scale=True,
    )
    return [
        ("ADWIN default (delta=0.002, clock=32)", lambda: build_detector("adwin"), "default"),
        (
            f"ADWIN tuned (delta={adwin_delta:.2g}, clock=1)",
            lambda: build_detector("adwin", {"delta": adwin_delta, "clock": 1}),
            "tuned",
        ),
        ("Page-Hinkley default", lambda: build_detector("page_hinkley"), "default"),
        (
            f"Page-Hinkley tuned (up, delta=0.05, lambda={ph_threshold:.3g})",
            lambda: build_detector("page_hinkley", {**ph_params, "threshold": ph_threshold}),
            "tuned",
        ),
        ("DDM default", lambda: build_detector("ddm"), "default"),
        (
            f"DDM tuned (drift_threshold={ddm_threshold:.3g})",
            lambda: build_detector(
                "ddm", {"drift_threshold": ddm_threshold, "warning_threshold": ddm_threshold}
            ),
            "tuned",
        ),
        ("HDDM_A default", lambda: build_detector("hddm_a"), "default"),
        (
            f"HDDM_A tuned (drift_confidence={hddm_confidence:.2g})",
            lambda: build_detector("hddm_a", {"drift_confidence": hddm_confidence}),
            "tuned",
        ),
        (
            "Bernoulli CUSUM, p0 known (exact design)",
            lambda: build_detector("bernoulli_cusum", {"p0": P0, "p1": P1}, arl0=TARGET_ARL0),
            "exact",
        ),
        (
            "Bernoulli CUSUM, p0 estimated, no margin (warm-up 500)",
            lambda: build_detector(
                "bernoulli_cusum",
                {"shift": P1 - P0, "warmup": 500, "margin": 0.0},
                arl0=TARGET_ARL0,
            ),
            "exact, plug-in",
        ),
        (
            "Bernoulli CUSUM, p0 estimated (warm-up 500)",
            lambda: build_detector(
                "bernoulli_cusum", {"shift": P1 - P0, "warmup": 500}, arl0=TARGET_ARL0
            ),
            "exact+margin",
        ),
        (
            "Bernoulli GLR, p0 unknown (shipped for quality_gap)",
            lambda: build_detector("bernoulli_glr", {"side": "up"}, arl0=TARGET_ARL0),
            "calibrated",
        ),
    ]


# --- sections ------------------------------------------------------------------------------


def section_delay(cfg: Config) -> dict[str, Any]:
    design = design_bernoulli_cusum(P0, P1, TARGET_ARL0)
    rows = []
    stationary = bernoulli(np.random.default_rng(cfg.seed + 2), P0, cfg.stationary_samples)
    for label, factory, chosen in detector_table(cfg):
        start = time.perf_counter()
        alarms = count_alarms(factory(), stationary)
        delay = delays(factory, cfg)
        per_million = alarms * 1_000_000 / len(stationary)
        measured = arl0_estimate(alarms, len(stationary))
        # The CUSUM's exact worst-case delay at the ARL0 this detector actually showed (at
        # least the stream length when it raised nothing): a like-for-like limit.
        limit_here = design_bernoulli_cusum(P0, P1, float(min(measured, len(stationary)))).arl1
        rows.append(
            {
                "detector": label,
                "parameter": chosen,
                "measured_arl0": measured,
                "false_alarms_per_1M": per_million,
                **delay,
                "ratio_to_limit": delay["mean_delay"] / design.arl1,
                "limit_at_measured_arl0": limit_here,
                "ratio_to_limit_at_measured_arl0": delay["mean_delay"] / limit_here,
            }
        )
        print(f"  measured {label} ({time.perf_counter() - start:.1f} s)", flush=True)
    return {
        "limit": {
            "arl0_exact": design.arl0,
            "worst_case_delay_exact": design.arl1,
            "threshold_nats": design.h,
        },
        "rows": rows,
    }


SAMPLING_SHARES = (0.03, 0.07, 0.2, 0.3, 0.4)  # the 3% segment first
EVENTS_PER_WEEK = 100_000


def allocation(budget: float, *, false_alarms_by_traffic: bool = False) -> float:
    """The shipped power allocation's probability for the 3% segment (defaults otherwise);
    with ``false_alarms_by_traffic`` it plans for a false-alarm budget split in proportion to
    traffic instead of the service's equal split per detector."""
    settings = Settings(sampling_budget_fraction=budget)
    volumes = {i: EVENTS_PER_WEEK * share for i, share in enumerate(SAMPLING_SHARES)}
    weights = dict(enumerate(SAMPLING_SHARES)) if false_alarms_by_traffic else None
    return plan_allocation(volumes, EVENTS_PER_WEEK, settings, weights)[0].probability


# The pooled prior the store would give the 3% segment's quality detector: fitted over the other
# four segments' verdicts (500 each at the same in-control rate), as shadowgap.drift.store does.
_OTHER_SEGMENTS = np.random.default_rng(11).binomial(500, P0, 4)
POOLED_PRIOR = beta_prior((float(ones), 500.0) for ones in _OTHER_SEGMENTS)


def _shipped_quality(arl0: float) -> Detector:
    detector = build_detector(
        SIGNALS["quality_gap"].detector, SIGNALS["quality_gap"].params, arl0=arl0
    )
    detector.set_prior(POOLED_PRIOR)
    return detector


# The two quality detectors the sampling comparison runs: the known-level CUSUM (the textbook
# case) and the detector the product ships for ``quality_gap``, with its pooled prior (without
# one, a false alarm just before the change leaves it too little history to see the change).
SAMPLING_DETECTORS: dict[str, Callable[[float], Detector]] = {
    "known-level CUSUM": lambda arl0: build_detector(
        "bernoulli_cusum", {"p0": P0, "p1": P1}, arl0=arl0
    ),
    "shipped quality_gap detector": _shipped_quality,
}
SHIPPED = "shipped quality_gap detector"


def verdicts_until_detection(
    make: Callable[[float], Detector], arl0: float, runs: int, seed: int
) -> tuple[list[int], list[bool]]:
    """Verdicts from the change to the alarm of a quality detector, per seeded run, and whether
    the run had a false alarm before the change.

    The quality stream is the flagship-wins indicator (0.10 -> 0.20, i.e. the cheap answer's
    quality 0.90 -> 0.80). The same seed gives the same outcomes for every ARL0 (common random
    numbers), so the sampling schemes differ only by what they change.
    """
    rng = np.random.default_rng(seed)
    counts, false_alarms = [], []
    for _ in range(runs):
        detector: Detector = make(arl0)
        # Run in control for a while, so the statistic is in its stationary regime.
        alarmed = False
        for x in bernoulli(rng, P0, int(rng.integers(500, 2000))):
            alarmed |= bool(detector.update(x).drift_detected)
        false_alarms.append(alarmed)
        post = bernoulli(rng, P1, 20_000)
        for i, x in enumerate(post):
            detector.update(x)
            if detector.drift_detected:
                counts.append(i + 1)
                break
        else:
            counts.append(len(post))
    return counts, false_alarms


def traffic_for(verdicts: list[int], rate: float, seed: int) -> float:
    """Mean all-traffic events elapsed while ``verdicts`` arrive at ``rate`` per event.

    The change falls inside a gap; by memorylessness the wait to the next verdict is
    geometric again, so the traffic is a sum of fresh geometric gaps.
    """
    rng = np.random.default_rng(seed)
    return statistics.fmean(float(rng.geometric(rate, n).sum()) for n in verdicts)


def section_sampling(cfg: Config) -> dict[str, Any]:
    share, budget, segments = SAMPLING_SHARES[0], 0.02, len(SAMPLING_SHARES)
    uniform = budget
    # (a) the same ARL0 per verdict for both schemes, with the service's plan (an equal
    #     false-alarm split per detector);
    # (b) the same false alarms per unit of traffic: the budget is split in proportion to
    #     traffic under both schemes, so the 3% segment's detector keeps the false alarms a week
    #     it has under uniform sampling: fed p_s / B times more verdicts, its ARL0 in verdicts
    #     is that factor higher. The plan is made for that split (a detector with a higher
    #     threshold needs more verdicts, so the planner gives the segment more of the budget).
    per_segment = allocation(budget)
    fair_per_segment = allocation(budget, false_alarms_by_traffic=True)
    out: dict[str, Any] = {
        "share": share,
        "budget": budget,
        "segments": segments,
        "p_per_segment": per_segment,
        "p_per_segment_fair": fair_per_segment,
        "p_uniform": uniform,
        "formula_source": "shadowgap.shadow.sampling.plan_allocation (shipped defaults)",
        "detectors": {},
    }
    seed = cfg.seed + 3
    scaled_arl0 = TARGET_ARL0 * fair_per_segment / uniform
    for name, make in SAMPLING_DETECTORS.items():
        base, base_alarms = verdicts_until_detection(make, TARGET_ARL0, cfg.sampling_runs, seed)
        fair, fair_alarms = verdicts_until_detection(make, scaled_arl0, cfg.sampling_runs, seed)
        rows: dict[str, Any] = {}
        for key, verdicts, alarms, arl0_segment, p_segment in (
            ("equal_arl0_per_verdict", base, base_alarms, TARGET_ARL0, per_segment),
            ("equal_false_alarms_per_traffic", fair, fair_alarms, scaled_arl0, fair_per_segment),
        ):
            # The delay is the conditional one: runs where either scheme alarmed falsely before
            # the change are left out of both (the mean over all runs is kept for the record).
            clean = [not a and not b for a, b in zip(alarms, base_alarms, strict=True)]
            kept_segment = [n for n, ok in zip(verdicts, clean, strict=True) if ok]
            kept_uniform = [n for n, ok in zip(base, clean, strict=True) if ok]
            segment_traffic = traffic_for(kept_segment, share * p_segment, seed + 2)
            uniform_traffic = traffic_for(kept_uniform, share * uniform, seed + 1)
            all_segment = traffic_for(verdicts, share * p_segment, seed + 2)
            all_uniform = traffic_for(base, share * uniform, seed + 1)
            rows[key] = {
                "p_per_segment": p_segment,
                "traffic_per_segment": segment_traffic,
                "traffic_uniform": uniform_traffic,
                "ratio": uniform_traffic / segment_traffic,
                "arl0_per_segment_verdicts": arl0_segment,
                "mean_verdicts_per_segment": statistics.fmean(kept_segment),
                "mean_verdicts_uniform": statistics.fmean(kept_uniform),
                "runs": len(verdicts),
                "runs_with_false_alarm_before_change": len(verdicts) - len(kept_segment),
                "unconditional_ratio": all_uniform / all_segment,
                "censored_per_segment": sum(n >= 20_000 for n in verdicts),
                "censored_uniform": sum(n >= 20_000 for n in base),
            }
        out["detectors"][name] = rows
    return out


def section_speed(cfg: Config) -> list[dict[str, Any]]:
    n = 50_000 if cfg.quick else 200_000
    rows = []
    factories: list[tuple[str, Factory]] = [
        ("ADWIN (clock=32)", lambda: build_detector("adwin")),
        ("ADWIN (clock=1)", lambda: build_detector("adwin", {"clock": 1})),
        ("Page-Hinkley", lambda: build_detector("page_hinkley")),
        ("DDM", lambda: build_detector("ddm")),
        ("HDDM_A", lambda: build_detector("hddm_a")),
        (
            "Bernoulli CUSUM",
            lambda: build_detector("bernoulli_cusum", {"shift": 0.1}, arl0=1e8),
        ),
        (
            "Bernoulli CUSUM, two-sided",
            lambda: build_detector("bernoulli_cusum", {"shift": 0.1, "two_sided": True}, arl0=1e8),
        ),
        ("Gaussian CUSUM", lambda: build_detector("gaussian_cusum", {"delta": 0.5}, arl0=1e8)),
        ("Bernoulli GLR (window 500)", lambda: build_detector("bernoulli_glr", arl0=1e8)),
    ]
    for label, factory in factories:
        steady, amortised = us_per_update(factory, n, cfg.seed)
        rows.append({"detector": label, "us_per_update": steady, "us_amortised": amortised})
    # The store's whole per-value path for one signal: estimate, window, detector.
    state = SignalState(SIGNALS["routing_share"], arl0=1e8, window=200)
    stream = bernoulli(np.random.default_rng(cfg.seed), 0.5, n)
    timings = []
    for _ in range(2):
        start = time.perf_counter()
        for i, x in enumerate(stream):
            state.feed(x, i)
        timings.append((time.perf_counter() - start) / n * 1e6)
    rows.append(
        {
            "detector": "SignalState.feed (routing_share: estimate, window, two-sided CUSUM)",
            "us_per_update": timings[1],
            "us_amortised": timings[0],
        }
    )
    return rows


def _warm_state(name: str, seed: int, window: int) -> SignalState:
    """A signal's state after enough data to be armed, with a full recent window."""
    rng = np.random.default_rng(seed)
    state = SignalState(SIGNALS[name], arl0=1e8, window=window)
    spec = SIGNALS[name]
    n = 3000
    if spec.estimator == "share":
        for i, gap in enumerate(rng.geometric(0.05, n).tolist()):
            state.feed_gap(i * 100, int(gap))
    elif spec.detector == "gaussian_cusum":
        for i, x in enumerate(rng.lognormal(5.0, 0.4, n).tolist()):
            state.feed(x, i)
    else:
        for i, x in enumerate((rng.random(n) < 0.2).astype(float).tolist()):
            state.feed(x, i, weight=10.0)
        if spec.estimator == "excess":
            for x in (rng.random(600) < 0.1).astype(float).tolist():
                state.feed_noise(x, 10.0)
    return state


def section_memory(cfg: Config) -> dict[str, Any]:
    window = 200  # resolve_after_samples default
    segments = 10_000
    names = list(SIGNALS)
    five = ["routing_share", "quality_gap", "latency", "escalation_rate", "error_rate"]
    docs = {name: json.dumps(codec.dumps(_warm_state(name, cfg.seed, window))) for name in names}
    stored = {name: len(doc) for name, doc in docs.items()}
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    live = [codec.loads(json.loads(docs[name])) for _ in range(segments) for name in five]
    in_memory = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    del live
    return {
        "segments": segments,
        "signals": five,
        "stored_bytes_per_state": stored,
        "stored_total_mb_5_signals": sum(stored[n] for n in five) * segments / 1e6,
        "stored_total_mb_all_signals": sum(stored.values()) * segments / 1e6,
        "in_memory_mb_5_signals": in_memory / 1e6,
    }


# --- output --------------------------------------------------------------------------------


def print_report(result: dict[str, Any]) -> None:
    delay = result["delay"]
    limit = delay["limit"]
    print()
    print(
        "1-2. Quality 0.90 -> 0.80 (error rate 0.10 -> 0.20), ARL0 target 10,000. "
        f"Exact CUSUM limit: worst-case delay {limit['worst_case_delay_exact']:.1f} samples "
        f"(threshold {limit['threshold_nats']:.3f} nats, exact ARL0 {limit['arl0_exact']:.0f})"
    )
    header = (
        f"{'detector':<58} {'ARL0 meas.':>10} {'FA/1M':>7} {'delay':>7} {'median':>7} "
        f"{'x limit':>7} {'limit@ARL0':>10} {'x':>5} {'FA<chg':>6} {'cens':>5}"
    )
    print(header)
    print("-" * len(header))
    for row in delay["rows"]:
        arl0 = row["measured_arl0"]
        arl0_text = f"{arl0:>10.0f}" if math.isfinite(arl0) else f"{'no alarm':>10}"
        print(
            f"{row['detector']:<58} {arl0_text} {row['false_alarms_per_1M']:>7.1f} "
            f"{row['mean_delay']:>7.1f} {row['median_delay']:>7.1f} "
            f"{row['ratio_to_limit']:>7.2f} {row['limit_at_measured_arl0']:>10.1f} "
            f"{row['ratio_to_limit_at_measured_arl0']:>5.2f} "
            f"{row['runs_with_false_alarm_before_change']:>6} {row['censored']:>5}"
        )
    runs = delay["rows"][0]["runs"]
    print(
        f"(delay: mean post-change samples to the first alarm over {runs} runs, change at a "
        "random index in [2000, 6000); x limit: delay / the limit at ARL0 10,000; "
        "limit@ARL0: the exact CUSUM worst-case delay at the ARL0 this detector showed, and x: "
        "delay / that; FA<chg: runs with a false alarm before the change; cens: runs without "
        "an alarm within 5,000 samples. The CUSUM's own average delay is below its worst case "
        "because the statistic is often above zero when the change comes.)"
    )

    sampling = result["sampling"]
    print()
    print(
        f"3. Segment with {sampling['share']:.0%} of traffic, budget {sampling['budget']:.0%}, "
        f"{sampling['segments']} segments: "
        f"p_segment = {sampling['p_per_segment']:.4f} (planned for false alarms by traffic: "
        f"{sampling['p_per_segment_fair']:.4f}) vs uniform {sampling['p_uniform']:.4f} "
        f"({sampling['formula_source']})"
    )
    for name, rows in sampling["detectors"].items():
        print(f"   {name}:")
        for key, label in (
            ("equal_arl0_per_verdict", "same ARL0 (10,000 verdicts) for both"),
            ("equal_false_alarms_per_traffic", "same false alarms per unit of traffic"),
        ):
            row = rows[key]
            print(
                f"     {label:<38} traffic until detection: per-segment "
                f"{row['traffic_per_segment']:>9.0f} ({row['mean_verdicts_per_segment']:.0f} "
                f"verdicts)  uniform {row['traffic_uniform']:>9.0f} "
                f"({row['mean_verdicts_uniform']:.0f} verdicts)  ratio {row['ratio']:.2f}x  "
                f"[{row['runs_with_false_alarm_before_change']} of {row['runs']} runs left out "
                f"for a false alarm before the change; all runs: "
                f"{row['unconditional_ratio']:.2f}x, never detected in 20,000 verdicts: "
                f"{row['censored_per_segment']} / {row['censored_uniform']}]"
            )

    print()
    print(
        "4. Speed (us per update, Python loop incl. call overhead; steady state, and amortised "
        "from a fresh detector incl. warm-up and threshold designs)"
    )
    for row in result["speed"]:
        print(
            f"   {row['detector']:<70} {row['us_per_update']:>6.2f} us  "
            f"(amortised {row['us_amortised']:.2f})"
        )
    memory = result["memory"]
    print(
        f"   memory, {memory['segments']:,} segments x {len(memory['signals'])} signals: "
        f"{memory['in_memory_mb_5_signals']:.0f} MB in memory (tracemalloc), "
        f"{memory['stored_total_mb_5_signals']:.0f} MB stored JSON "
        f"(all {len(SIGNALS)} signals: {memory['stored_total_mb_all_signals']:.0f} MB)"
    )
    print(
        "   stored JSON bytes per state: "
        + ", ".join(f"{k} {v}" for k, v in memory["stored_bytes_per_state"].items())
    )
    small_segments.print_report(result["small_segments"])

    print()
    print("Targets")
    for name, ok, detail in result["targets"]:
        print(f"   [{'PASS' if ok else 'FAIL'}] {name}: {detail}")


def evaluate_targets(result: dict[str, Any]) -> list[tuple[str, bool, str]]:
    limit = result["delay"]["limit"]["worst_case_delay_exact"]
    # Only detectors that kept the false-alarm target (within the 10% or so a measurement on
    # 10^6 samples can resolve) compete: a shorter delay bought with more false alarms is not
    # a win.
    # The known-rate CUSUM is the limit itself, so it is not a candidate.
    kept = [
        row
        for row in result["delay"]["rows"]
        if row["parameter"] not in ("default", "exact")
        and row["measured_arl0"] >= 0.9 * TARGET_ARL0
    ]
    best = min(kept, key=lambda row: row["mean_delay"])
    river_kept = [
        row for row in kept if "CUSUM" not in row["detector"] and "GLR" not in row["detector"]
    ]
    best_river = min(river_kept, key=lambda row: row["mean_delay"]) if river_kept else None
    river_text = (
        f"; best River detector {best_river['detector']}: {best_river['mean_delay']:.1f} "
        f"({best_river['mean_delay'] / limit:.2f}x, ARL0 {best_river['measured_arl0']:.0f})"
        if best_river is not None
        else "; no River detector kept the ARL0 target"
    )
    speeds = {row["detector"]: row["us_per_update"] for row in result["speed"]}
    # The GLR costs O(window) per update by design; it only sees verdict streams (tens a
    # week) and the first samples of a regime, so its row is reported, not held to 10 us.
    project = {name: us for name, us in speeds.items() if "CUSUM" in name or "SignalState" in name}
    river = {name: us for name, us in speeds.items() if name not in project}
    slowest_project = max(project, key=lambda name: project[name])
    slowest_river = max(river, key=lambda name: river[name])
    memory = result["memory"]
    by_detector = result["sampling"]["detectors"]
    sampling = by_detector[SHIPPED]["equal_false_alarms_per_traffic"]["ratio"]
    return [
        (
            "best detector not told the rate (measured ARL0 >= 9,000) within 1.3x of the limit",
            best["mean_delay"] <= 1.3 * limit,
            f"{best['detector']}: {best['mean_delay']:.1f} vs {limit:.1f} "
            f"({best['mean_delay'] / limit:.2f}x; measured ARL0 {best['measured_arl0']:.0f})"
            + river_text,
        ),
        (
            "<= 10 us per update (project detectors and the store's per-value path)",
            project[slowest_project] <= 10.0,
            f"slowest {slowest_project}: {project[slowest_project]:.2f} us "
            f"(River's slowest, {slowest_river}: {river[slowest_river]:.2f} us)",
        ),
        (
            "<= 300 MB for 10,000 segments x 5 signals",
            max(memory["in_memory_mb_5_signals"], memory["stored_total_mb_5_signals"]) <= 300,
            f"{memory['in_memory_mb_5_signals']:.0f} MB in memory, "
            f"{memory['stored_total_mb_5_signals']:.0f} MB stored",
        ),
        (
            "per-segment sampling >= 5x sooner than uniform (equal false alarms per traffic, "
            "shipped quality detector)",
            sampling >= 5.0,
            f"{sampling:.2f}x (same ARL0 per verdict: "
            f"{by_detector[SHIPPED]['equal_arl0_per_verdict']['ratio']:.2f}x; known-level CUSUM: "
            f"{by_detector['known-level CUSUM']['equal_false_alarms_per_traffic']['ratio']:.2f}x "
            "and "
            f"{by_detector['known-level CUSUM']['equal_arl0_per_verdict']['ratio']:.2f}x)",
        ),
    ] + small_segments.targets(result["small_segments"])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs and shorter streams")
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    parser.add_argument("--seed", type=int, default=20250106)
    parser.add_argument(
        "--answer-signals",
        type=int,
        default=0,
        choices=range(5),
        help="section 5: answer-defect detectors with inputs per segment (0: prose traffic)",
    )
    args = parser.parse_args(argv)
    cfg = Config(quick=args.quick, seed=args.seed)
    start = time.perf_counter()
    result: dict[str, Any] = {"quick": cfg.quick, "seed": cfg.seed}
    result["delay"] = section_delay(cfg)
    print("sampling ...", flush=True)
    result["sampling"] = section_sampling(cfg)
    print("speed and memory ...", flush=True)
    result["speed"] = section_speed(cfg)
    result["memory"] = section_memory(cfg)
    print("small segments ...", flush=True)
    result["small_segments"] = small_segments.run(cfg.quick, cfg.seed, args.answer_signals)
    result["targets"] = evaluate_targets(result)
    result["seconds"] = time.perf_counter() - start
    print_report(result)
    print(f"\n({result['seconds']:.0f} s)")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, default=str))
    return 0 if all(ok for _, ok, _ in result["targets"]) else 1


if __name__ == "__main__":
    raise SystemExit(main())
