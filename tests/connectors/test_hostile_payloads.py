"""Hostile payloads of issue 15 that need more than one connector's suite: feeds in UTF-16, dates in year
9999, JSON nested past the stack, and text longer than the store keeps reaching the brand matcher.
Real loopback servers and real databases (SQLite and PostgreSQL) throughout."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fake_server import Call, FakeServer, Platform, Reply
from sqlalchemy import Engine, select

from connectors.feeds import FeedError, parse_feed
from connectors.http.client import MalformedBody, Response
from connectors.rss import RssConnector
from monitor.kernel.store.catalog import ensure_source
from monitor.kernel.store.engine import Database
from monitor.kernel.store.ingest import MAX_TEXT_CHARS
from monitor.kernel.store.pseudonym import Pseudonymiser
from monitor.kernel.store.tables import Mention
from monitor.kernel.types import BrandQuery, SourceError
from monitor.matching import compile_query
from monitor.sync import SourceRuntime, sync_source

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
BOMB = '<!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'


def _rss(items: str, declaration: str = '<?xml version="1.0" encoding="UTF-8"?>', doctype: str = "") -> str:
    return f'{declaration}{doctype}<rss version="2.0"><channel><title>t</title>{items}</channel></rss>'


def _item(guid: str, title: str, date: str = "Fri, 20 Nov 2026 11:00:00 +0000", text: str = "") -> str:
    fields = f"<guid>{guid}</guid><title>{title}</title><pubDate>{date}</pubDate>"
    return f"<item>{fields}<description>{text}</description></item>"


@pytest.mark.parametrize(
    ("encoding", "declared"),
    [("utf-16", "UTF-16"), ("utf-16-le", "UTF-16LE"), ("utf-16-be", "UTF-16BE")],
)
def test_dtd_is_refused_in_any_encoding(encoding: str, declared: str) -> None:
    """A byte search for `<!DOCTYPE` missed UTF-16 documents, which expat then expanded."""
    document = _rss(_item("1", "&b;&b;&b;"), f'<?xml version="1.0" encoding="{declared}"?>', BOMB)
    with pytest.raises(FeedError, match="DTD or entities"):
        parse_feed(document.encode(encoding))


def test_utf16_feed_without_dtd_is_read() -> None:
    items = parse_feed(
        _rss(_item("1", "Telia i UTF-16 ✓"), '<?xml version="1.0" encoding="UTF-16"?>').encode("utf-16")
    )
    assert [i.title for i in items] == ["Telia i UTF-16 ✓"]


def test_json_nested_past_the_stack_is_malformed() -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    with pytest.raises(MalformedBody, match="nested too deeply"):
        Response(200, None, deep, "https://example.org/").json()  # type: ignore[arg-type]


class FeedHost(Platform):
    source = "rss"

    def __init__(self, body: bytes) -> None:
        super().__init__()
        self.body = body

    def handle(self, call: Call) -> Reply:
        return Reply(200, self.body, {"Content-Type": "application/rss+xml"})


def _sync(db_url: str, body: bytes, max_response_bytes: int = 5_000_000):
    db = Database(db_url)
    with FakeServer(FeedHost(body)) as server:
        connector = RssConnector(
            {
                "base_url": server.url,
                "allow_private_network": True,
                "feeds": [f"{server.url}/feed.rss"],
                "max_response_bytes": max_response_bytes,
            },
            clock=lambda: NOW,
            sleep=lambda s: None,
        )
        with db.transaction() as session:
            ref = ensure_source(session, "Telia", "feed", "rss")
        runtime = SourceRuntime(
            ref=ref,
            connector=connector,
            query=BrandQuery("Telia", ("Telia",)),
            matcher=compile_query("Telia"),
            interval=timedelta(minutes=5),
        )
        result = sync_source(db, runtime, Pseudonymiser("k" * 32), NOW)
    with db.transaction() as session:
        stored = {m.external_id: m.text for m in session.scalars(select(Mention))}
    db.dispose()
    return result, stored


def test_year_9999_pubdate_does_not_fail_the_feed(engine: Engine, db_url: str) -> None:
    """`Fri, 31 Dec 9999 23:59:59 -0100` overflowed while converting to UTC and failed the whole feed."""
    body = _rss(
        _item("hostile", "Telia från framtiden", "Fri, 31 Dec 9999 23:59:59 -0100")
        + _item("good", "Telia i dag")
        + _item("ancient", "Telia förr", "Mon, 01 Jan 0001 00:00:00 +0100")
    ).encode()
    result, stored = _sync(db_url, body)
    assert result.error is None and result.error_via is None
    assert "good" in stored and "hostile" in stored  # an impossible date counts as "seen now"


def test_text_is_cut_to_what_the_store_keeps_before_matching(engine: Engine, db_url: str) -> None:
    """Matching tokenised the whole text before anything truncated it (60 M characters: 32 s, 3.3 GB).
    Now only what the store keeps is matched: a brand named only beyond that is not a mention."""
    filler = "lorem ipsum " * (MAX_TEXT_CHARS // 6)
    body = _rss(
        _item("early", "Nyheter", text=f"Telia {filler}") + _item("late", "Nyheter", text=f"{filler} Telia")
    ).encode()
    result, stored = _sync(db_url, body)
    assert result.error is None
    assert set(stored) == {"early"}
    assert len(stored["early"]) <= MAX_TEXT_CHARS


def test_gzip_bomb_in_a_feed_is_refused_within_the_cap(engine: Engine, db_url: str) -> None:
    import gzip

    class BombHost(FeedHost):
        def handle(self, call: Call) -> Reply:
            return Reply(200, self.body, {"Content-Type": "application/rss+xml", "Content-Encoding": "gzip"})

    text = "Telia " * 10_000_000  # 60 M characters, a few KB compressed
    bomb = gzip.compress(_rss(_item("x", "t", text=text)).encode(), 9)
    db = Database(db_url)
    with FakeServer(BombHost(bomb)) as server:
        connector = RssConnector(
            {
                "base_url": server.url,
                "allow_private_network": True,
                "feeds": [f"{server.url}/f"],
                "max_attempts": 1,
            },
            clock=lambda: NOW,
        )
        with pytest.raises(SourceError) as err:
            list(connector.fetch(BrandQuery("Telia", ("Telia",)), None))
    db.dispose()
    assert err.value.kind == "fatal" and "after decompression" in str(err.value)


def test_post_fields_of_the_wrong_type_become_unknown() -> None:
    from connectors.http.base import typed
    from monitor.kernel.types import FetchedMention

    odd = FetchedMention(
        external_id="1",
        text="Telia",
        created_at=NOW,
        language=["sv"],  # type: ignore[arg-type]
        author={"handle": "x"},  # type: ignore[arg-type]
        title=5,  # type: ignore[arg-type]
        parent_external_id=123,  # type: ignore[arg-type]
        likes={"count": 1},  # type: ignore[arg-type]
        reposts=2**70,
        replies=-1,
        quotes=True,  # type: ignore[arg-type]
        links=["https://a.example", 5],  # type: ignore[arg-type]
        raw=["not", "a", "mapping"],  # type: ignore[arg-type]
    )
    clean = typed(odd)
    assert (clean.language, clean.author, clean.title, clean.parent_external_id) == (None, None, None, "123")
    assert (clean.likes, clean.reposts, clean.replies, clean.quotes) == (None, None, None, None)
    assert clean.links == ("https://a.example",) and clean.raw is None
    for broken in ({"text": 5}, {"external_id": ""}, {"external_id": 7}):
        with pytest.raises(TypeError):
            typed(FetchedMention(**{"external_id": "1", "text": "t", "created_at": NOW, **broken}))


@pytest.mark.parametrize(
    "cursor", [{"a": 1}, [1], "x" * 10_000, 10**40, True], ids=["dict", "list", "10k-chars", "huge-int", "bool"]
)
def test_unreadable_paging_token_is_malformed(cursor: object) -> None:
    from platform_bluesky import BlueskyPlatform
    from platform_bluesky import case as bluesky_case

    c = bluesky_case()
    posts = BlueskyPlatform().fixture("search_telia.json")["posts"][:2]
    with FakeServer(BlueskyPlatform()) as server:
        server.faults.append(Reply(200, {"posts": posts, "cursor": cursor}))
        connector = c["connector"](
            {"base_url": server.url, "allow_private_network": True, **c["settings"], "initial_lookback_hours": 48},
            clock=lambda: c["now"],
            sleep=lambda s: None,
        )
        with pytest.raises(SourceError) as err:
            list(connector.fetch(c["query"], None))
    assert err.value.kind == "malformed" and "next-page token" in str(err.value)


def test_a_page_of_one_unreadable_post_is_skipped_not_malformed() -> None:
    """A page of one hostile post was 'malformed' on every poll: the source stayed stuck behind it."""
    from platform_bluesky import BlueskyPlatform
    from platform_bluesky import case as bluesky_case

    c = bluesky_case()
    with FakeServer(BlueskyPlatform()) as server:
        hostile = {"uri": "at://did:plc:x/app.bsky.feed.post/1", "record": "?"}
        server.faults.append(Reply(200, {"posts": [hostile]}))
        connector = c["connector"](
            {"base_url": server.url, "allow_private_network": True, **c["settings"], "initial_lookback_hours": 48},
            clock=lambda: c["now"],
            sleep=lambda s: None,
        )
        pages = list(connector.fetch(c["query"], None))
    assert pages[0].mentions == [] and any("skipped 1 unreadable" in n for n in pages[0].notes)
