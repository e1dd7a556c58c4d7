"""The foundation's sync loop driving a real connector over loopback: pages, cursors and health."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fake_server import FakeServer, Reply
from platform_mastodon import TOKEN, MastodonPlatform
from platform_x import BEARER, XPlatform
from sqlalchemy import Engine, select

from connectors.mastodon import MastodonConnector
from connectors.x import XConnector
from monitor.backfill import backfill
from monitor.kernel.store.catalog import ensure_source
from monitor.kernel.store.engine import Database
from monitor.kernel.store.pseudonym import Pseudonymiser
from monitor.kernel.store.tables import Mention, Source
from monitor.kernel.types import BrandQuery
from monitor.matching import compile_query
from monitor.sync import SourceRuntime, sync_source

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
KEY = Pseudonymiser("k" * 32)


def _runtime(db: Database, connector: object, name: str) -> SourceRuntime:
    with db.transaction() as session:
        ref = ensure_source(session, "Telia", name, name)
    return SourceRuntime(
        ref=ref,
        connector=connector,  # type: ignore[arg-type]
        query=BrandQuery("Telia", ("telia",), query="Telia"),
        matcher=compile_query("Telia"),
        interval=timedelta(minutes=5),
    )


def test_sync_stores_pages_resumes_and_reports_auth_once(engine: Engine, db_url: str) -> None:
    db = Database(db_url)
    with FakeServer(MastodonPlatform()) as server:
        settings = {
            "base_url": server.url,
            "allow_private_network": True,
            "access_token": TOKEN,
            "initial_lookback_hours": 48,
            "page_size": 3,
            "hashtags": ["telia"],
            "overlap_s": 0,
        }
        connector = MastodonConnector(settings, clock=lambda: NOW)
        runtime = _runtime(db, connector, "mastodon")
        first = sync_source(db, runtime, KEY, NOW)
        assert first.error is None and first.pages >= 3 and first.stored.inserted == first.matched > 0
        with db.transaction() as session:
            stored = session.scalars(select(Mention.external_id)).all()
            cursor = session.scalar(select(Source.cursor))
        assert len(stored) == len(set(stored)) == first.matched
        assert all(s["walk"] is None for s in cursor["streams"].values())

        later = NOW + timedelta(minutes=10)
        connector.clock = lambda: later
        second = sync_source(db, runtime, KEY, later)
        assert second.error is None and second.stored.inserted == 0

        server.faults.append(Reply(401, {"error": f"The access token is invalid ({TOKEN})"}))
        failed = sync_source(db, runtime, KEY, later + timedelta(minutes=10))
        with db.transaction() as session:
            row = session.scalar(select(Source))
            assert row.health == "disabled" and row.health_reason.startswith("auth:")
            assert TOKEN not in row.health_reason
    assert failed.health == "disabled"
    db.dispose()


def test_x_backfill_reports_the_seven_day_horizon(engine: Engine, db_url: str) -> None:
    db = Database(db_url)
    with FakeServer(XPlatform()) as server:
        connector = XConnector(
            {"base_url": server.url, "allow_private_network": True, "bearer_token": BEARER}, clock=lambda: NOW
        )
        coverage = backfill(db, _runtime(db, connector, "x"), KEY, NOW - timedelta(days=30), NOW, NOW)
    report = "\n".join(coverage.lines())
    assert coverage.complete and coverage.inserted > 0
    assert "not reachable: the source only searches the last 7 days" in report
    assert "reads are billed" in report or "billed" in report
    db.dispose()
