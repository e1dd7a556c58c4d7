"""A small but complete world on a real database: two authors, old and recent posts, and copies."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from monitor.kernel.store.pseudonym import Pseudonymiser
from monitor.kernel.store.tables import (
    Alert,
    AlertMention,
    Brand,
    EngagementSnapshot,
    Feedback,
    Mention,
    OutboxMessage,
    Score,
    Source,
    Story,
    Ticket,
)
from monitor.privacy.redact import slack_escape

KEY = Pseudonymiser("test-key-0123456789abcdef")
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
OLD = NOW - timedelta(days=120)
RECENT = NOW - timedelta(days=2)
ANNA = "@Anna_K@mastodon.social"
BO = "bo.bsky.social"
OLD_TEXT = "Tre timmar i kö hos Telia & ingen svarar <fortfarande>,\n\nhelt  oacceptabelt!!"
RECENT_TEXT = "Telia-appen kraschar igen när jag försöker betala räkningen, någon mer?"
BO_TEXT = "Telia support was actually quick today, thanks for the help with my router"
OLD_URL = "https://mastodon.social/@Anna_K/111"


@dataclass
class World:
    brand_id: int
    old_id: int
    recent_id: int
    bo_id: int
    story_id: int
    alert_id: int
    outbox_linked: int
    outbox_ticket: int
    outbox_unlinked: int
    outbox_old_delivered: int
    feedback_id: int


def seed(session: Session) -> World:
    brand = Brand(name="telia")
    session.add(brand)
    session.flush()
    source = Source(brand_id=brand.id, name="mastodon-social", connector="mastodon")
    session.add(source)
    session.flush()

    def mention(external_id: str, text: str, author: str, created: datetime, url: str | None) -> Mention:
        m = Mention(
            source_id=source.id,
            brand_id=brand.id,
            external_id=external_id,
            text=text,
            url=url,
            author_key=KEY(author),
            author_handle=author,
            author_followers=120,
            language="sv",
            links=[url] if url else None,
            raw={"content": f"<p>{text}</p>", "account": {"acct": author}},
            created_at=created,
            likes=3,
        )
        session.add(m)
        return m

    old = mention("111", OLD_TEXT, ANNA, OLD, OLD_URL)
    recent = mention("222", RECENT_TEXT, ANNA, RECENT, "https://mastodon.social/@Anna_K/222")
    bo = mention("333", BO_TEXT, BO, OLD, "https://bsky.app/profile/bo.bsky.social/post/333")
    session.flush()
    story = Story(key="story-1", brand_id=brand.id, headline=OLD_TEXT, first_mention_id=old.id, mention_count=2)
    session.add(story)
    session.flush()
    old.story_id = story.id
    for m, label in ((old, "negative"), (recent, "negative"), (bo, "positive")):
        session.add(
            Score(
                mention_id=m.id,
                model_version="v1",
                label=label,
                p_negative=0.8 if label == "negative" else 0.1,
                p_neutral=0.1,
                p_positive=0.1 if label == "negative" else 0.8,
                language="sv",
                aspects={"availability_wait": 0.9},
                embedding=b"\x00\x3c" * 4,
            )
        )
        session.add(EngagementSnapshot(mention_id=m.id, observed_at=m.created_at, likes=3))
    alert = Alert(
        key="complaint:111",
        kind="complaint",
        brand_id=brand.id,
        story_id=story.id,
        severity="high",
        headline=f"Complaint from {ANNA}: {OLD_TEXT[:40]}…",
        evidence={"quote": OLD_TEXT, "url": OLD_URL, "mentions": [old.id]},
        slack_channel="C123",
        slack_ts="1700000000.000100",
        detected_at=OLD + timedelta(minutes=5),
    )
    session.add(alert)
    session.flush()
    session.add(AlertMention(alert_id=alert.id, mention_id=old.id))
    linked = OutboxMessage(
        alert_id=alert.id,
        sink="slack",
        action="post",
        payload={
            "text": f"*{slack_escape(OLD_TEXT)}*",
            "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": f"<{OLD_URL}|post> by {ANNA}"}}],
        },
        idempotency_key="slack:post:1",
        status="pending",
        created_at=RECENT,
    )
    ticket = OutboxMessage(
        alert_id=alert.id,
        sink="zendesk",
        action="create_ticket",
        payload={
            "ticket": {
                "comment": {"body": f"Post:\n{' '.join(OLD_TEXT.split())[:60]}…\n{OLD_URL}"},
                "requester": {"name": f"Social user {KEY(ANNA)[:12]}"},
            },
            "view": {"top_post": {"author_key": KEY(ANNA), "engagement": 3}},
        },
        idempotency_key="zendesk:ticket:1",
        status="delivered",
        created_at=RECENT,
    )
    unlinked = OutboxMessage(
        alert_id=None,
        sink="slack",
        action="digest",
        payload={"text": "Top complainers this week: @anna_k@mastodon.social (3), @someone_else (1)"},
        idempotency_key="slack:digest:1",
        status="delivered",
        created_at=RECENT,
    )
    old_delivered = OutboxMessage(
        alert_id=None,
        sink="zendesk",
        action="create_ticket",
        payload={"ticket": {"comment": {"body": "quoted post text that no link ties back"}}},
        idempotency_key="zendesk:1",
        status="delivered",
        created_at=OLD,
        result={"ticket_id": "42"},
    )
    session.add_all([linked, ticket, unlinked, old_delivered])
    session.add(
        Ticket(
            system="zendesk",
            external_id="story-1",
            alert_id=alert.id,
            ticket_id="42",
            url="https://x.zendesk.com/agent/tickets/42",
        )
    )
    feedback = Feedback(alert_id=alert.id, mention_id=recent.id, kind="wrong_sentiment", corrected_label="neutral")
    session.add(feedback)
    session.flush()
    return World(
        brand_id=brand.id,
        old_id=old.id,
        recent_id=recent.id,
        bo_id=bo.id,
        story_id=story.id,
        alert_id=alert.id,
        outbox_linked=linked.id,
        outbox_ticket=ticket.id,
        outbox_unlinked=unlinked.id,
        outbox_old_delivered=old_delivered.id,
        feedback_id=feedback.id,
    )


@pytest.fixture
def world(engine: Engine) -> World:
    with Session(engine) as session, session.begin():
        return seed(session)


@pytest.fixture
def data() -> SimpleNamespace:
    """The seed's constants, for assertions (test modules cannot import each other in importlib mode)."""
    return SimpleNamespace(
        KEY=KEY,
        NOW=NOW,
        OLD=OLD,
        RECENT=RECENT,
        ANNA=ANNA,
        BO=BO,
        OLD_TEXT=OLD_TEXT,
        RECENT_TEXT=RECENT_TEXT,
        BO_TEXT=BO_TEXT,
        OLD_URL=OLD_URL,
    )
