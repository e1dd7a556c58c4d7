"""Retention on both databases: old posts lose personal data everywhere, aggregates stay."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from monitor.kernel.store.tables import Alert, EngagementSnapshot, Mention, OutboxMessage, Score, Story
from monitor.privacy import purge
from monitor.privacy.copies import BATCH
from monitor.privacy.redact import REDACTED
from monitor.privacy.retention import PURGED_PAYLOAD


def test_purge_anonymises_old_mentions_and_their_copies(engine, world, data):
    with Session(engine) as session, session.begin():
        stats = purge(session, data.NOW, timedelta(days=90))
    assert stats.mentions == 2  # Anna's old post and Bo's old post; Anna's recent one is within retention

    with Session(engine) as session:
        old = session.get(Mention, world.old_id)
        assert old.text == "" and old.url is None and old.author_handle is None
        assert old.raw is None and old.links is None and old.anonymised_at == data.NOW
        sql_null = select(func.count()).where(
            Mention.id == world.old_id, Mention.raw.is_(None), Mention.links.is_(None)
        )
        assert session.scalar(sql_null) == 1  # SQL NULL, not a JSON 'null' document
        assert old.author_key == data.KEY(data.ANNA)  # pseudonym kept: a later access request still works
        assert (old.likes, old.language, old.created_at) == (3, "sv", data.OLD)  # aggregates kept

        recent = session.get(Mention, world.recent_id)
        assert recent.text == data.RECENT_TEXT and recent.author_handle == data.ANNA
        assert recent.anonymised_at is None

        labels = dict(session.execute(select(Score.mention_id, Score.label)).all())
        assert labels == {world.old_id: "negative", world.recent_id: "negative", world.bo_id: "positive"}
        old_score = session.scalars(select(Score).where(Score.mention_id == world.old_id)).one()
        assert old_score.embedding is None and old_score.aspects == {"availability_wait": 0.9}
        assert session.scalar(select(func.count()).select_from(EngagementSnapshot)) == 3

        alert = session.get(Alert, world.alert_id)
        dumped = json.dumps([alert.headline, alert.evidence], ensure_ascii=False)
        assert data.OLD_TEXT[:30] not in dumped and data.OLD_URL not in dumped
        assert "anna_k" not in dumped.lower()
        assert alert.evidence["mentions"] == [world.old_id] and alert.severity == "high"
        assert session.get(Story, world.story_id).headline == REDACTED

        linked = json.dumps(session.get(OutboxMessage, world.outbox_linked).payload, ensure_ascii=False)
        assert "kö hos Telia" not in linked and data.OLD_URL not in linked and "Anna_K" not in linked
        ticket = session.get(OutboxMessage, world.outbox_ticket).payload
        # A whitespace-collapsed, truncated excerpt is still recognised as a copy, to its last character.
        assert ticket["ticket"]["comment"]["body"] == f"Post:\n{REDACTED}…\n{REDACTED}"
        assert data.OLD_URL not in json.dumps(ticket)
        assert ticket["view"]["top_post"]["author_key"] == data.KEY(data.ANNA)  # retention keeps pseudonyms
        assert session.get(OutboxMessage, world.outbox_old_delivered).payload == PURGED_PAYLOAD
        assert session.get(OutboxMessage, world.outbox_old_delivered).result == {"ticket_id": "42"}


def test_purge_is_idempotent(engine, world, data):
    with Session(engine) as session, session.begin():
        purge(session, data.NOW, 90)
    with Session(engine) as session:
        before = [(m.id, m.text, m.anonymised_at) for m in session.scalars(select(Mention).order_by(Mention.id))]
    with Session(engine) as session, session.begin():
        again = purge(session, data.NOW + timedelta(hours=1), 90)
    assert (again.mentions, again.outbox_payloads_dropped, again.copies.alerts, again.copies.outbox) == (
        0,
        0,
        0,
        0,
    )
    with Session(engine) as session:
        after = [(m.id, m.text, m.anonymised_at) for m in session.scalars(select(Mention).order_by(Mention.id))]
    assert after == before  # the first anonymisation time is kept


def test_purge_keeps_pending_deliveries_deliverable(engine, world, data):
    """A pending message older than the limit is redacted, never blanked: it must still be sendable."""
    with Session(engine) as session, session.begin():
        session.get(OutboxMessage, world.outbox_linked).created_at = data.OLD
    with Session(engine) as session, session.begin():
        purge(session, data.NOW, 90)
    with Session(engine) as session:
        payload = session.get(OutboxMessage, world.outbox_linked).payload
    assert payload != PURGED_PAYLOAD and payload["text"] == f"*{REDACTED}*"


@pytest.mark.parametrize("retention", [0, -5, timedelta(0)])
def test_purge_rejects_non_positive_retention(engine, world, data, retention):
    with Session(engine) as session, pytest.raises(ValueError, match="retention must be positive"):
        purge(session, data.NOW, retention)


def test_purge_walks_a_backlog_larger_than_one_batch(engine, world, data):
    with Session(engine) as session, session.begin():
        source_id = session.get(Mention, world.old_id).source_id
        session.execute(
            insert(Mention),
            [
                {
                    "source_id": source_id,
                    "brand_id": world.brand_id,
                    "external_id": f"bulk-{i}",
                    "text": f"bulk post {i} about Telia",
                    "author_handle": f"user{i}",
                    "created_at": data.OLD,
                }
                for i in range(2 * BATCH + 7)
            ],
        )
    with Session(engine) as session, session.begin():
        stats = purge(session, data.NOW, 90)
    assert stats.mentions == 2 * BATCH + 7 + 2
    with Session(engine) as session:
        left = session.scalar(
            select(func.count()).where(Mention.created_at < data.NOW - timedelta(days=90), Mention.text != "")
        )
        assert left == 0
