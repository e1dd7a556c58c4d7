"""--since / --until: durations back from now or ISO times, always timezone-aware UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import click
import pytest

from monitor.report.cli import parse_moment

NOW = datetime(2026, 6, 8, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("7d", NOW - timedelta(days=7)),
        ("36h", NOW - timedelta(hours=36)),
        ("2w", NOW - timedelta(weeks=2)),
        ("2026-06-01", datetime(2026, 6, 1, tzinfo=UTC)),
        ("2026-06-01T10:00Z", datetime(2026, 6, 1, 10, tzinfo=UTC)),
        ("2026-06-01T12:00+02:00", datetime(2026, 6, 1, 10, tzinfo=UTC)),
    ],
)
def test_parse_moment(value, expected):
    parsed = parse_moment(value, NOW)
    assert parsed == expected and parsed.tzinfo is not None


@pytest.mark.parametrize("value", ["7 days", "yesterday", "-3d", ""])
def test_bad_moments_are_clear_errors(value):
    with pytest.raises(click.BadParameter, match="duration like 7d"):
        parse_moment(value, NOW)
