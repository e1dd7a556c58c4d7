"""Erasure and access requests on both databases."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from monitor.kernel.store.tables import Alert, Feedback, Mention, OutboxMessage, Score
from monitor.privacy import erase_author, erase_external, erase_mentions, export_author, purge


def test_erase_mentions_deleted_at_source(engine, world, data):
    with Session(engine) as session, session.begin():
        stats = erase_mentions(session, [world.recent_id], "source_deleted", now=data.NOW)
    assert (stats.mentions, stats.feedback) == (1, 1)
    with Session(engine) as session:
        gone = session.get(Mention, world.recent_id)
        assert gone.text == "" and gone.author_key is None and gone.author_handle is None
        assert gone.url is None and gone.raw is None and gone.external_id == f"erased:{world.recent_id}"
        assert session.get(Feedback, world.feedback_id) is None
        assert session.scalar(select(Score.label).where(Score.mention_id == world.recent_id)) == "negative"
        # Anna's other post is untouched: erasure is per post here, not per author.
        assert session.get(Mention, world.old_id).text == data.OLD_TEXT

    with Session(engine) as session, session.begin():
        again = erase_mentions(session, [world.recent_id, 999_999], "source_deleted", now=data.NOW)
    assert again.mentions == 0


def test_erase_by_platform_ids_from_a_delete_event(engine, world, data):
    with Session(engine) as session:
        source_id = session.get(Mention, world.old_id).source_id
    with Session(engine) as session, session.begin():
        stats = erase_external(session, source_id, ["111", "never-seen"], now=data.NOW)
    assert stats.mentions == 1
    with Session(engine) as session:
        assert session.get(Mention, world.old_id).external_id == f"erased:{world.old_id}"
        alert = session.get(Alert, world.alert_id)
        assert data.OLD_URL not in json.dumps(alert.evidence) and alert.evidence["mentions"] == [world.old_id]
        ticket = json.dumps(session.get(OutboxMessage, world.outbox_ticket).payload)
        assert data.KEY(data.ANNA)[:12] not in ticket  # a deleted post's author is no longer named
        assert session.get(Mention, world.recent_id).author_handle == data.ANNA
    with Session(engine) as session, session.begin():
        assert erase_external(session, source_id + 1, ["222"]).mentions == 0  # ids are per source


def test_erase_mentions_rejects_unknown_reason(engine, world):
    with Session(engine) as session, pytest.raises(ValueError, match="unknown erasure reason"):
        erase_mentions(session, [world.old_id], "because")
    with Session(engine) as session:
        assert session.get(Mention, world.old_id).text != ""


def test_export_author_finds_posts_after_retention_removed_the_handle(engine, world, data):
    with Session(engine) as session, session.begin():
        purge(session, data.NOW, 90)
    with Session(engine) as session:
        export = export_author(session, "anna_k@MASTODON.social", data.KEY)  # any spelling of the handle
    json.dumps(export)  # must be serialisable as it is
    assert export["author_key"] == data.KEY(data.ANNA)
    by_id = {m["id"]: m for m in export["mentions"]}
    assert set(by_id) == {world.old_id, world.recent_id}  # never Bo's post
    assert by_id[world.old_id]["text"] == "" and by_id[world.old_id]["anonymised_at"]
    assert by_id[world.recent_id]["text"] == data.RECENT_TEXT
    assert by_id[world.recent_id]["feedback"][0]["corrected_label"] == "neutral"
    assert by_id[world.old_id]["scores"][0]["label"] == "negative"
    assert [a["id"] for a in export["alerts"]] == [world.alert_id]
    assert {o["id"] for o in export["outbox"]} == {world.outbox_linked, world.outbox_ticket, world.outbox_unlinked}
    assert export["external_copies"]["slack_messages"] == [{"channel": "C123", "ts": "1700000000.000100"}]
    assert export["external_copies"]["tickets"][0]["ticket_id"] == "42"


def test_erase_author_removes_every_post_and_copy(engine, world, data):
    with Session(engine) as session, session.begin():
        stats = erase_author(session, data.ANNA, data.KEY, now=data.NOW)
    assert stats.mentions == 2 and stats.feedback == 1
    with Session(engine) as session:
        remaining_keys = set(session.scalars(select(Mention.author_key)))
        assert remaining_keys == {None, data.KEY(data.BO)}
        assert session.get(Mention, world.bo_id).text == data.BO_TEXT
        everything = json.dumps(
            [o.payload for o in session.scalars(select(OutboxMessage))]
            + [[a.headline, a.evidence] for a in session.scalars(select(Alert))],
            ensure_ascii=False,
        ).lower()
        assert "anna_k" not in everything and "kö hos telia" not in everything
        assert data.KEY(data.ANNA)[:12] not in everything  # the pseudonym too, even in its short form
        assert "@someone_else (1)" in everything  # other people's names survive
        assert session.scalar(select(func.count()).select_from(Mention)) == 3  # tombstones keep counts
        export = export_author(session, data.ANNA, data.KEY)
    assert export["mentions"] == [] and export["outbox"] == []

    with Session(engine) as session, session.begin():
        again = erase_author(session, data.ANNA, data.KEY, now=data.NOW + timedelta(days=1))
    assert (again.mentions, again.copies.outbox, again.copies.alerts) == (0, 0, 0)


def test_erase_author_after_retention_removed_the_handle(engine, world, data):
    with Session(engine) as session, session.begin():
        purge(session, data.NOW, 90)
        assert session.get(Mention, world.old_id).author_handle is None
    with Session(engine) as session, session.begin():
        stats = erase_author(session, "anna_k@mastodon.social", data.KEY, now=data.NOW)
    assert stats.mentions == 2
    with Session(engine) as session:
        assert session.get(Mention, world.old_id).author_key is None
        assert session.get(Mention, world.old_id).anonymised_at == data.NOW  # the first anonymisation


def test_erasure_reaches_digest_items_that_quote_the_alert(engine, world, data):
    """A morning digest lists several alerts (no outbox.alert_id); its items quote their headlines."""
    with Session(engine) as session, session.begin():
        alert = session.get(Alert, world.alert_id)
        digest = OutboxMessage(
            alert_id=None,
            sink="slack",
            action="digest",
            payload={
                "title": "Morning digest",
                "items": [
                    {"alert_id": world.alert_id, "headline": alert.headline, "url": data.OLD_URL},
                    {"alert_id": 999_999, "headline": "another brand's alert", "url": None},
                ],
            },
            idempotency_key="digest:slack:C1:2026-01-01",
            status="pending",
        )
        session.add(digest)
        session.flush()
        digest_id = digest.id
    with Session(engine) as session, session.begin():
        source_id = session.get(Mention, world.old_id).source_id
        erase_external(session, source_id, ["111"], now=data.NOW)
    with Session(engine) as session:
        payload = json.dumps(session.get(OutboxMessage, digest_id).payload, ensure_ascii=False)
        assert data.OLD_URL not in payload
        assert data.OLD_TEXT[:40] not in payload
        assert "another brand's alert" in payload  # other alerts' items are left alone
