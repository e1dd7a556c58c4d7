"""Idempotent ingestion, engagement snapshots, bounded payloads, cursor in the same transaction."""

import os
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from monitor.kernel.store.catalog import ensure_source
from monitor.kernel.store.ingest import MAX_RAW_BYTES, MAX_TEXT_CHARS, TRUNCATION_MARKER, store_page
from monitor.kernel.store.pseudonym import Pseudonymiser
from monitor.kernel.store.tables import EngagementSnapshot, Mention, Source
from monitor.kernel.types import FetchedMention, Page

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
PSEUDO = Pseudonymiser("test-key-0123456789abcdef")


def mention(i: int, likes: int | None = 1, text: str | None = None, **kw) -> FetchedMention:
    return FetchedMention(
        external_id=f"post-{i}",
        text=text or f"Telia är seg idag #{i}",
        created_at=T0 + timedelta(minutes=i),
        url=f"https://example.social/@a/{i}",
        author=f"@user{i % 3}",
        language="sv",
        likes=likes,
        reposts=0,
        raw={"id": f"post-{i}", "content": "…"},
        **kw,
    )


@pytest.fixture
def source(database):
    with database.transaction() as s:
        return ensure_source(s, "Telia", "import", "file")


def count(database, model=Mention) -> int:
    with database.transaction() as s:
        return s.scalar(select(func.count()).select_from(model))


def test_same_payload_twice_stores_one_row_and_updates_engagement(database, source):
    page = Page(mentions=[mention(1, likes=3), mention(2, likes=0)], cursor={"after": "post-2"})
    with database.transaction() as s:
        first = store_page(s, source.source_id, source.brand_id, page, PSEUDO, now=T0)
    assert (first.inserted, first.updated) == (2, 0)
    assert first.snapshots == 2

    with database.transaction() as s:  # identical payload: nothing changes, no new snapshot
        same = store_page(s, source.source_id, source.brand_id, page, PSEUDO, now=T0 + timedelta(minutes=5))
    assert (same.inserted, same.updated, same.unchanged, same.snapshots) == (0, 0, 2, 0)

    grown = Page(mentions=[mention(1, likes=40), mention(2, likes=None)], cursor={"after": "post-2"})
    with database.transaction() as s:
        again = store_page(s, source.source_id, source.brand_id, grown, PSEUDO, now=T0 + timedelta(minutes=10))
    assert (again.inserted, again.updated, again.unchanged) == (0, 1, 1)

    assert count(database) == 2
    with database.transaction() as s:
        m1 = s.scalar(select(Mention).where(Mention.external_id == "post-1"))
        m2 = s.scalar(select(Mention).where(Mention.external_id == "post-2"))
        assert m1.likes == 40
        assert m2.likes == 0  # an unknown count (None) never erases a known one
        snaps = s.scalars(
            select(EngagementSnapshot.likes)
            .where(EngagementSnapshot.mention_id == m1.id)
            .order_by(EngagementSnapshot.observed_at)
        ).all()
        assert snaps == [3, 40]
        assert m1.author_key == PSEUDO.author_key("user1")
        assert m1.author_key != "user1"


def test_duplicate_inside_one_page_keeps_the_later_copy(database, source):
    page = Page(mentions=[mention(1, likes=1), mention(1, likes=9)])
    with database.transaction() as s:
        stats = store_page(s, source.source_id, source.brand_id, page, PSEUDO, now=T0)
    assert stats.inserted == 1
    with database.transaction() as s:
        assert s.scalar(select(Mention.likes)) == 9


def test_cursor_advances_with_the_page(database, source):
    with database.transaction() as s:
        store_page(s, source.source_id, source.brand_id, Page([mention(1)], cursor={"max_id": 1}), PSEUDO)
    with database.transaction() as s:
        assert s.get(Source, source.source_id).cursor == {"max_id": 1}


def test_failure_before_commit_stores_nothing_and_refetch_loses_nothing(database, source):
    pages = [Page([mention(i) for i in range(n, n + 3)], cursor={"after": n + 2}) for n in (0, 3, 6)]

    def fetch(cursor):
        start = 0 if cursor is None else cursor["after"] + 1
        return [p for p in pages if p.mentions[0].external_id >= f"post-{start}"]

    with database.transaction() as s:
        store_page(s, source.source_id, source.brand_id, pages[0], PSEUDO, now=T0)
    with pytest.raises(RuntimeError), database.transaction() as s:  # crash after storing page 2
        store_page(s, source.source_id, source.brand_id, pages[1], PSEUDO, now=T0)
        raise RuntimeError("process died before commit")
    assert count(database) == 3

    with database.transaction() as s:
        cursor = s.get(Source, source.source_id).cursor
    assert cursor == {"after": 2}
    for page in fetch(cursor):  # the re-fetch resumes at page 2
        with database.transaction() as s:
            store_page(s, source.source_id, source.brand_id, page, PSEUDO, now=T0)
    assert count(database) == 9
    with database.transaction() as s:
        assert s.get(Source, source.source_id).cursor == {"after": 8}


def test_killed_process_mid_transaction_leaves_no_partial_page(database, source, tmp_path):
    """A real crash (os._exit with the transaction open), then a re-fetch: no loss, no duplicates."""
    url = database.url.render_as_string(hide_password=False)
    script = textwrap.dedent(
        f"""
        import os
        from datetime import UTC, datetime
        from monitor.kernel.store.engine import Database
        from monitor.kernel.store.ingest import store_page
        from monitor.kernel.store.pseudonym import Pseudonymiser
        from monitor.kernel.types import FetchedMention, Page
        db = Database({url!r})
        mentions = [FetchedMention(external_id=f"post-{{i}}", text="x", created_at=datetime.now(UTC))
                    for i in range(5)]
        s = db()
        s.begin()
        store_page(s, {source.source_id}, {source.brand_id}, Page(mentions, cursor={{"after": 4}}),
                   Pseudonymiser("test-key-0123456789abcdef"))
        s.flush()
        os._exit(137)
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], env=os.environ, capture_output=True, timeout=120)
    assert proc.returncode == 137, proc.stderr.decode()
    assert count(database) == 0
    with database.transaction() as s:
        assert s.get(Source, source.source_id).cursor is None
    page = Page([mention(i) for i in range(5)], cursor={"after": 4})
    for _ in range(2):
        with database.transaction() as s:
            store_page(s, source.source_id, source.brand_id, page, PSEUDO)
    assert count(database) == 5


def test_oversize_text_truncated_with_a_record(database, source):
    long = "klagomål " * (MAX_TEXT_CHARS // 4)
    with database.transaction() as s:
        stats = store_page(s, source.source_id, source.brand_id, Page([mention(1, text=long)]), PSEUDO)
    assert stats.truncated == ["post-1"]
    with database.transaction() as s:
        row = s.scalar(select(Mention))
        assert len(row.text) == MAX_TEXT_CHARS
        assert row.text.endswith(TRUNCATION_MARKER)
        assert row.raw["_repmon_text_truncated_from"] == len(long)


def test_raw_payload_is_bounded_with_a_marker(database, source):
    big = FetchedMention(external_id="big", text="hej", created_at=T0, raw={"blob": "x" * (MAX_RAW_BYTES * 3)})
    with database.transaction() as s:
        store_page(s, source.source_id, source.brand_id, Page([big]), PSEUDO)
    with database.transaction() as s:
        raw = s.scalar(select(Mention.raw))
    assert raw["_repmon_truncated"] is True
    assert raw["original_bytes"] > MAX_RAW_BYTES
    assert len(raw["head"].encode()) <= MAX_RAW_BYTES


def test_invalid_mentions_rejected_by_name_others_stored(database, source):
    naive = FetchedMention(external_id="naive", text="x", created_at=datetime(2026, 1, 1))
    empty = FetchedMention(external_id=" ", text="x", created_at=T0)
    with database.transaction() as s:
        stats = store_page(s, source.source_id, source.brand_id, Page([naive, empty, mention(1)]), PSEUDO)
    assert stats.inserted == 1
    assert {eid for eid, _ in stats.rejected} == {"naive", " "}
    assert all(reason for _, reason in stats.rejected)
