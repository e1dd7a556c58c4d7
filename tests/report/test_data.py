"""Report numbers from real databases (SQLite and PostgreSQL), against hand-counted values."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from monitor.report import ReportError, build_report


def test_report_numbers(engine, week):
    with Session(engine) as session:
        data = build_report(session, "telia", week.since, week.until)

    assert data.total == 13  # the post before the period and the other brand's post are left out
    assert data.volume == {
        "negative": [1, 2, 0, 5, 1, 0, 0],  # day 4: the newest score (negative) wins over the old one
        "neutral": [1, 0, 0, 0, 0, 0, 1],
        "positive": [1, 0, 0, 0, 0, 0, 0],
        "unscored": [0, 0, 0, 0, 0, 1, 0],
    }
    assert [(s.kind, s.severity) for s in data.spikes] == [("negative_spike", "high")]
    assert [(s.group, s.negative, s.scored) for s in data.by_source] == [
        ("mastodon-social", 7, 9),
        ("bluesky", 2, 3),
    ]
    assert [(s.group, s.negative, s.scored) for s in data.by_language] == [
        ("da", 0, 1),
        ("en", 2, 3),
        ("sv", 7, 8),
    ]
    assert data.aspect_base == {"da": 1, "en": 3, "sv": 8}
    assert data.aspects["sv"]["availability_wait"] == 6 and data.aspects["sv"]["staff_attitude"] == 1
    assert data.aspects["sv"]["not_resolved"] == 0  # 0.2 is below the threshold
    assert data.aspects["en"]["not_resolved"] == 1 and data.aspects["en"]["availability_wait"] == 0

    first, second = data.stories
    assert (first.mentions, first.negative, first.alert_state, first.alert_severity) == (
        5,
        5,
        "acknowledged",
        "high",
    )
    assert first.headline == week.evil
    assert first.tickets == (
        ("other #78", "javascript:alert(1)"),
        ("zendesk #77", "https://example.zendesk.com/agent/tickets/77"),
    )
    assert (second.mentions, second.alert_state, second.tickets) == (2, "open", ())

    d = data.durations
    assert sorted(d.to_alert) == [20.0, 180.0]  # complaint 20 min after its post; spike 3 h after the first
    assert d.to_ack == (30.0,)
    assert (d.alerts, d.unacknowledged, d.median_to_alert) == (3, 2, 100.0)

    health = {s.name: s for s in data.sources}
    assert health["bluesky"].health == "failing" and health["bluesky"].coverage_alerts == 1
    assert health["bluesky"].per_bucket == (1, 1, 0, 0, 1, 0, 0)
    assert health["mastodon-social"].per_bucket == (2, 1, 0, 5, 0, 1, 1)


def test_unknown_brand_names_the_known_ones(engine, week):
    with Session(engine) as session, pytest.raises(ReportError, match="known brands: other, telia"):
        build_report(session, "telai", week.since, week.until)


def test_empty_period_is_an_error(engine, week):
    with Session(engine) as session, pytest.raises(ReportError, match="empty period"):
        build_report(session, "telia", week.until, week.since)


def test_short_periods_are_bucketed_by_hour(engine, week):
    since = week.since + timedelta(days=3)
    with Session(engine) as session:
        data = build_report(session, "telia", since, since + timedelta(hours=36))
    assert data.bucket == timedelta(hours=1) and len(data.buckets) == 36
    negative = data.volume["negative"]
    assert negative[9] == 5 and negative[33] == 1 and sum(negative) == 6  # the spike hour, then day 4 09:00
