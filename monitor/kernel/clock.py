"""Clocks: the daemon asks a clock for "now", so the demo can run simulated time faster than real time.

Only the notion of *now* is simulated; the scheduler still waits in real seconds (intervals divided by
the clock's speed), so every stage runs exactly as it does in production.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    speed: float

    def now(self) -> datetime: ...


class SystemClock:
    """Wall-clock UTC."""

    speed = 1.0

    def now(self) -> datetime:
        return datetime.now(UTC)


class AcceleratedClock:
    """Simulated UTC time starting at `start` and running `speed` times faster than the real clock."""

    def __init__(self, start: datetime, speed: float = 1.0) -> None:
        if start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.start = start.astimezone(UTC)
        self.speed = float(speed)
        self._t0 = time.monotonic()
        self._lock = threading.Lock()
        self._last = self.start

    def now(self) -> datetime:
        elapsed = (time.monotonic() - self._t0) * self.speed
        with self._lock:  # monotone even if callers race
            self._last = max(self._last, self.start + timedelta(seconds=elapsed))
            return self._last

    def real_seconds(self, simulated: timedelta) -> float:
        """How long `simulated` time takes on this clock, in real seconds."""
        return simulated.total_seconds() / self.speed
