"""The GLR still catches a change that does not show within its window."""

from __future__ import annotations

import math
import random

import pytest

from shadowgap.drift import codec
from shadowgap.drift.glr import MAX_CHECKPOINTS, BernoulliGLR

CHANGE = 2000


def _evenly(rate: float, n: int) -> list[bool]:
    """``n`` samples with exactly ``rate`` ones, evenly spread (no sampling noise)."""
    return [math.floor((i + 1) * rate) > math.floor(i * rate) for i in range(n)]


def _small_change() -> list[bool]:
    # 0.25 -> 0.31: about 0.009 nats a sample, so 500 samples carry at most ~5 nats, half the
    # threshold at this ARL0: a window-only GLR cannot see it, however long it lasts.
    return _evenly(0.25, CHANGE) + _evenly(0.31, 10_000)


def _first_alarm(detector: BernoulliGLR, stream: list[bool]) -> int | None:
    for i, x in enumerate(stream):
        if detector.update(x).drift_detected:
            return i
    return None


def test_a_change_weaker_than_the_window_can_show_is_caught() -> None:
    alarm = _first_alarm(BernoulliGLR(side="up", arl0=20_000), _small_change())
    assert alarm is not None and CHANGE < alarm < CHANGE + 5_000, alarm


def test_without_checkpoints_the_same_change_is_never_caught(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The contrast that motivates the checkpoints: the window alone loses the evidence as the
    # change's samples slide out of it and join the "before" side.
    monkeypatch.setattr(BernoulliGLR, "_checkpoint", lambda self: None)
    assert _first_alarm(BernoulliGLR(side="up", arl0=20_000), _small_change()) is None


def test_checkpoints_stay_bounded_and_survive_the_codec() -> None:
    glr = BernoulliGLR(side="up", arl0=1e12, window=50)
    rng = random.Random(4)
    for _ in range(20_000):
        glr.update(rng.random() < 0.3)
    assert len(glr.marks_n) <= MAX_CHECKPOINTS
    assert glr.marks_n == sorted(glr.marks_n)
    restored = codec.loads(codec.dumps(glr))
    for _ in range(100):
        x = rng.random() < 0.3
        glr.update(x)
        restored.update(x)
        assert restored.statistic == pytest.approx(glr.statistic)
