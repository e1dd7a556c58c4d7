from datetime import UTC, datetime, timedelta

import pytest

from monitor.kernel.clock import AcceleratedClock, SystemClock

START = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)


def test_accelerated_clock_starts_at_start_and_never_goes_back():
    clock = AcceleratedClock(START, speed=1000)
    readings = [clock.now() for _ in range(200)]
    assert readings[0] >= START
    assert readings == sorted(readings)
    assert clock.real_seconds(timedelta(minutes=10)) == pytest.approx(0.6)


def test_accelerated_clock_rejects_naive_start_and_bad_speed():
    with pytest.raises(ValueError):
        AcceleratedClock(datetime(2026, 1, 1), speed=2)
    with pytest.raises(ValueError):
        AcceleratedClock(START, speed=0)


def test_system_clock_is_aware_utc():
    assert SystemClock().now().tzinfo is not None and SystemClock.speed == 1.0
