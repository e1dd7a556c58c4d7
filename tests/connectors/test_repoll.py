"""Re-polling against a fake Mastodon on loopback, into the real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
from fake_server import FakeServer, Reply
from platform_mastodon import TOKEN, MastodonPlatform
from sqlalchemy import Engine, func, select

from connectors.mastodon import MastodonConnector
from monitor.kernel.store.catalog import ensure_source
from monitor.kernel.store.engine import Database
from monitor.kernel.store.ingest import store_page
from monitor.kernel.store.pseudonym import Pseudonymiser
from monitor.kernel.store.tables import EngagementSnapshot, Mention
from monitor.kernel.types import BrandQuery, Page
from monitor.repoll import RepollSchedule, repoll_due

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def test_schedule_decays_and_stops() -> None:
    s = RepollSchedule(max_age=timedelta(hours=3))
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    assert s.next_at(t0, t0 + timedelta(minutes=1)) == t0 + timedelta(minutes=2)
    assert s.next_at(t0, t0 + timedelta(minutes=3)) == t0 + timedelta(minutes=5)
    assert s.next_at(t0, t0 + timedelta(minutes=41)) == t0 + timedelta(minutes=80)
    assert s.next_at(t0, t0 + timedelta(minutes=81)) == t0 + timedelta(minutes=160)
    assert s.next_at(t0, t0 + timedelta(minutes=161)) is None  # 320 min is past max_age


def test_repoll_stores_snapshots_and_erases_deleted(engine: Engine, db_url: str) -> None:
    db = Database(db_url)
    with FakeServer(MastodonPlatform()) as server:
        connector = MastodonConnector(
            {
                "base_url": server.url,
                "allow_private_network": True,
                "access_token": TOKEN,
                "initial_lookback_hours": 48,
                "repoll_batch_size": 3,
            },
            clock=lambda: NOW,
            sleep=lambda s: None,
        )
        fetched = [m for p in connector.fetch(BrandQuery("Telia", ("telia",)), None) for m in p.mentions]
        stale = [dataclasses.replace(m, likes=0, reposts=0) for m in fetched]  # counts as first seen
        with db.transaction() as session:
            ref = ensure_source(session, "Telia", "mastodon", "mastodon")
            store_page(session, ref.source_id, ref.brand_id, Page(stale), Pseudonymiser("k" * 32), now=NOW)
            for mention in session.scalars(select(Mention)):
                mention.next_repoll_at = NOW - timedelta(seconds=1)
            before = session.scalar(select(func.count()).select_from(EngagementSnapshot))
        server.faults.append(Reply(503, b"busy"))  # one transient failure inside the batch is retried
        later = NOW + timedelta(minutes=1)
        connector.clock = lambda: later
        stats = repoll_due(db, ref.source_id, connector, later)
        calls = [c.path for c in server.calls if c.path.startswith("/api/v1/statuses/")]

    assert stats.errors == [] and stats.batches == 3  # 7 mentions in batches of 3
    assert stats.deleted == 1 and stats.checked == 6
    assert len(calls) == 8  # 7 statuses + the retried one
    with db.transaction() as session:
        snapshots = session.scalar(select(func.count()).select_from(EngagementSnapshot))
        assert snapshots - before == stats.changed > 0
        erased = session.scalar(select(Mention).where(Mention.external_id.like("erased:%")))
        assert erased is not None and MastodonPlatform.deleted_id not in (erased.text or "")
        newest = session.scalar(select(Mention).where(Mention.external_id == "117648615014400001"))
        assert newest.likes == 12 and newest.repoll_count == 1
        assert newest.next_repoll_at == newest.created_at + timedelta(minutes=20)  # 11 min old now
    again = repoll_due(db, ref.source_id, connector, later)
    assert again.batches == 0, "nothing is due right after a re-poll"
    db.dispose()


@pytest.mark.parametrize("kind", ["rate_limited"])
def test_failed_batch_stays_due(engine: Engine, db_url: str, kind: str) -> None:
    db = Database(db_url)
    with FakeServer(MastodonPlatform()) as server:
        connector = _mastodon(server)
        source_id = _stored(db, connector)
        server.faults.append(Reply(429, b"", {"Retry-After": "900"}))
        stats = repoll_due(db, source_id, connector, NOW)
    assert stats.errors and stats.errors[0].startswith(kind)
    with db.transaction() as session:
        assert all(m.repoll_count == 0 for m in session.scalars(select(Mention)))
    db.dispose()


class _HostileCounts(MastodonPlatform):
    """Statuses whose counts are anything but counts, and one whose account is a string."""

    def handle(self, call):  # type: ignore[no-untyped-def]
        reply = super().handle(call)
        if call.path.startswith("/api/v1/statuses/") and isinstance(reply.body, dict):
            reply.body.update(
                favourites_count="many", reblogs_count={"n": 1}, replies_count=-5, quotes_count=2**70
            )
            reply.body["account"] = "somebody"
        return reply


def _stored(db: Database, connector: MastodonConnector) -> int:
    fetched = [m for p in connector.fetch(BrandQuery("Telia", ("telia",)), None) for m in p.mentions][:3]
    with db.transaction() as session:
        ref = ensure_source(session, "Telia", "mastodon", "mastodon")
        store_page(session, ref.source_id, ref.brand_id, Page(fetched), Pseudonymiser("k" * 32), now=NOW)
        for mention in session.scalars(select(Mention)):
            mention.next_repoll_at = NOW
    return ref.source_id


def _mastodon(server: FakeServer) -> MastodonConnector:
    settings = {"base_url": server.url, "allow_private_network": True, "access_token": TOKEN}
    return MastodonConnector({**settings, "initial_lookback_hours": 48}, clock=lambda: NOW, sleep=lambda s: None)


def test_counts_that_are_not_counts_leave_the_stored_ones(engine: Engine, db_url: str) -> None:
    db = Database(db_url)
    with FakeServer(_HostileCounts()) as server:
        connector = _mastodon(server)
        source_id = _stored(db, connector)
        with db.transaction() as session:
            before = {
                m.external_id: (m.likes, m.reposts, m.replies, m.quotes) for m in session.scalars(select(Mention))
            }
        stats = repoll_due(db, source_id, connector, NOW)
    assert stats.errors == [] and stats.checked == 3
    with db.transaction() as session:
        after = {
            m.external_id: (m.likes, m.reposts, m.replies, m.quotes) for m in session.scalars(select(Mention))
        }
        assert all(m.repoll_count == 1 for m in session.scalars(select(Mention)))
    assert after == before
    db.dispose()


class _Crashing(MastodonConnector):
    def repoll(self, external_ids):  # type: ignore[no-untyped-def]
        raise AttributeError("'str' object has no attribute 'get'")  # what a hostile shape raised in X


def test_an_unexpected_error_in_one_source_is_recorded_not_raised(engine: Engine, db_url: str) -> None:
    """An exception that is not a SourceError used to leave `repoll_due` and stop the daemon's re-poll job
    before the sources after this one; now it is classified like a sync error and the batch stays due."""
    db = Database(db_url)
    with FakeServer(MastodonPlatform()) as server:
        source_id = _stored(db, _mastodon(server))
        crashing = _Crashing(_mastodon(server).settings.model_dump(), clock=lambda: NOW, sleep=lambda s: None)
        stats = repoll_due(db, source_id, crashing, NOW)
    # not in the sync's exception table: a bug of ours or an unforeseen shape, logged with its traceback
    assert stats.errors == ["transient: AttributeError: 'str' object has no attribute 'get'"]
    with db.transaction() as session:
        assert all(m.repoll_count == 0 for m in session.scalars(select(Mention)))
    db.dispose()
