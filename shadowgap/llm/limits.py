"""Retry timing and rate limiting for remote flagship calls.

Backoff is exponential with full jitter (a uniform draw in [0, base * 2**n], capped), which
spreads the retries of many workers that failed together instead of synchronising them. A
server's ``Retry-After`` is a floor on the wait: retrying earlier only earns another 429.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


def parse_retry_after(headers: Mapping[str, str], now: datetime | None = None) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``Retry-After`` (seconds or an HTTP date).

    >>> parse_retry_after({"Retry-After": "3"})
    3.0
    >>> parse_retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:10 GMT"},
    ...                   now=datetime(2015, 10, 21, 7, 28, 0, tzinfo=UTC))
    10.0
    >>> parse_retry_after({}) is None
    True
    """
    lowered = {key.lower(): value for key, value in headers.items()}
    # OpenAI sends the finer-grained retry-after-ms next to Retry-After; prefer it.
    millis = lowered.get("retry-after-ms")
    if millis is not None:
        try:
            return max(0.0, float(millis) / 1000.0)
        except ValueError:
            pass
    value = lowered.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def backoff_delay(
    retry: int,
    *,
    base: float,
    cap: float,
    retry_after: float | None = None,
    rng: random.Random | None = None,
) -> float:
    """Wait before retry number ``retry`` (1 = first retry): full jitter, Retry-After floor."""
    draw = (rng or random).uniform(0.0, min(cap, base * (2 ** (retry - 1))))
    return max(draw, retry_after) if retry_after is not None else draw


class TokenBucket:
    """Thread-safe token bucket: ``rate`` requests per second, bursts up to ``capacity``.

    ``acquire`` reserves a token and sleeps outside the lock until it is due, so waiting
    callers are served in arrival order and never hold the lock while asleep.
    """

    def __init__(
        self,
        rate: float,
        capacity: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.capacity = capacity if capacity is not None else max(1.0, rate)
        self._tokens = self.capacity
        self._clock = clock
        self._sleep = sleep
        self._updated = clock()
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Take one token, waiting if none is left; returns the seconds waited."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate)
            self._updated = now
            # Going negative is a reservation: the deficit is paid back by future refills.
            self._tokens -= 1.0
            wait = 0.0 if self._tokens >= 0 else -self._tokens / self.rate
        if wait > 0:
            self._sleep(wait)
        return wait
