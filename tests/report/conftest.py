"""A week of one brand's data with hand-countable numbers (see the expected values in the tests)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from monitor.kernel.store.tables import Alert, AlertMention, Brand, Mention, Score, Source, Story, Ticket

SINCE = datetime(2026, 6, 1, tzinfo=UTC)
UNTIL = SINCE + timedelta(days=7)
EVIL = '<script>alert("x")</script> Kö & väntan'


@dataclass
class Week:
    since: datetime
    until: datetime
    evil: str


def _at(day: int, hour: int = 9, minute: int = 0) -> datetime:
    return SINCE + timedelta(days=day, hours=hour, minutes=minute)


def seed_week(session: Session) -> Week:
    brand, other = Brand(name="telia"), Brand(name="other")
    session.add_all([brand, other])
    session.flush()
    masto = Source(brand_id=brand.id, name="mastodon-social", connector="mastodon", health="ok")
    bsky = Source(
        brand_id=brand.id,
        name="bluesky",
        connector="bluesky",
        health="failing",
        health_reason="auth: token expired",
        health_changed_at=_at(4, 9),
        consecutive_failures=4,
        last_success_at=_at(4, 8),
    )
    other_src = Source(brand_id=other.id, name="mastodon-social", connector="mastodon")
    session.add_all([masto, bsky, other_src])
    session.flush()
    s1 = Story(key="s1", brand_id=brand.id, headline=EVIL, mention_count=5)
    s2 = Story(key="s2", brand_id=brand.id, headline="Fakturan fel igen", mention_count=2)
    session.add_all([s1, s2])
    session.flush()
    n = 0

    def mention(src, when, label=None, lang="sv", aspects=None, story=None, brand_id=brand.id, rescore=None):  # type: ignore[no-untyped-def]
        nonlocal n
        n += 1
        m = Mention(
            source_id=src.id,
            brand_id=brand_id,
            external_id=f"m{n}",
            text=f"post {n}",
            created_at=when,
            story_id=story,
        )
        session.add(m)
        session.flush()
        for version, lab, asp in ([rescore] if rescore else []) + ([("v2", label, aspects)] if label else []):
            session.add(
                Score(
                    mention_id=m.id,
                    model_version=version,
                    label=lab,
                    p_negative=0.8 if lab == "negative" else 0.1,
                    p_neutral=0.1,
                    p_positive=0.1 if lab == "negative" else 0.8,
                    language=lang,
                    aspects=asp,
                )
            )
        session.flush()
        return m

    d0_neg = mention(
        masto, _at(0), "negative", aspects={"availability_wait": 0.9, "not_resolved": 0.2}, story=s2.id
    )
    mention(masto, _at(0, 10), "neutral")
    mention(bsky, _at(0, 11), "positive", lang="en")
    d1_neg = mention(masto, _at(1, 10), "negative", aspects={"staff_attitude": 0.7}, story=s2.id)
    mention(bsky, _at(1, 11), "negative", lang="en", aspects={"price_billing": 0.6})
    spike = [
        mention(masto, _at(3, 9, 10 * i), "negative", aspects={"availability_wait": 0.8}, story=s1.id)
        for i in range(5)
    ]
    mention(
        bsky,
        _at(4),
        "negative",
        lang="en",
        aspects={"not_resolved": 0.8},
        rescore=("v1", "positive", {"availability_wait": 0.9}),
    )
    mention(masto, _at(5))  # not scored yet
    mention(masto, _at(6), "neutral", lang="da")
    mention(masto, SINCE - timedelta(hours=1), "negative")  # before the period
    mention(other_src, _at(2), "negative", brand_id=other.id)  # another brand

    a1 = Alert(
        key="spike-1",
        kind="negative_spike",
        brand_id=brand.id,
        story_id=s1.id,
        severity="high",
        state="acknowledged",
        headline=f"Negative spike: {EVIL}",
        detected_at=_at(3, 12),
        acknowledged_at=_at(3, 12, 30),
    )
    a2 = Alert(
        key="complaint-1",
        kind="complaint",
        brand_id=brand.id,
        story_id=s2.id,
        severity="medium",
        state="open",
        headline="Complaint",
        detected_at=_at(1, 10, 20),
    )
    a3 = Alert(
        key="coverage-1",
        kind="coverage_lost",
        brand_id=brand.id,
        severity="medium",
        headline="bluesky lost",
        evidence={"source": "bluesky"},
        detected_at=_at(5, 7),
    )
    a_other = Alert(
        key="other-1", kind="negative_spike", brand_id=other.id, severity="low", headline="x", detected_at=_at(2)
    )
    session.add_all([a1, a2, a3, a_other])
    session.flush()
    session.add_all([AlertMention(alert_id=a1.id, mention_id=m.id) for m in spike])
    session.add(AlertMention(alert_id=a2.id, mention_id=d1_neg.id))
    del d0_neg
    session.add_all(
        [
            Ticket(
                system="zendesk",
                external_id="s1",
                alert_id=a1.id,
                ticket_id="77",
                url="https://example.zendesk.com/agent/tickets/77",
            ),
            Ticket(system="other", external_id="s1b", alert_id=a1.id, ticket_id="78", url="javascript:alert(1)"),
        ]
    )
    session.flush()
    return Week(SINCE, UNTIL, EVIL)


@pytest.fixture
def week(engine: Engine) -> Week:
    with Session(engine) as session, session.begin():
        return seed_week(session)


@pytest.fixture(scope="session")
def seeder():  # type: ignore[no-untyped-def]
    """The seeding function, for module-scoped fixtures (test modules cannot import conftest)."""
    return seed_week
