"""RSS/Atom specifics: conditional GET, Google News editions, unsafe XML, feed URL SSRF."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from fake_server import FakeServer
from platform_rss import RssPlatform, case

from connectors.feeds import FeedError, parse_feed
from connectors.rss import GOOGLE_NEWS_EDITIONS, RssConnector, google_news_url
from monitor.kernel.types import SourceError

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def _connector(url: str, **extra: object) -> RssConnector:
    settings = {"base_url": url, "allow_private_network": True, "initial_lookback_hours": 48, **extra}
    return RssConnector(settings, clock=lambda: NOW, sleep=lambda s: None)


def test_second_poll_is_conditional_and_answered_304() -> None:
    with FakeServer(RssPlatform()) as server:
        connector = _connector(server.url, feeds=[f"{server.url}/feeds/support.rss"])
        first = list(connector.fetch(case()["query"], None))
        second = list(connector.fetch(case()["query"], first[-1].cursor))
        requests = [c for c in server.calls if c.path == "/feeds/support.rss"]
    assert len(first[0].mentions) == 3 and second[0].mentions == []
    assert "if-none-match" not in requests[0].headers
    assert requests[1].headers["if-none-match"].startswith('"')
    assert requests[1].headers["if-modified-since"] == "Fri, 20 Nov 2026 11:58:00 GMT"


def test_items_newer_than_the_signpost_drop_the_etag() -> None:
    with FakeServer(RssPlatform()) as server:
        connector = _connector(server.url, feeds=[f"{server.url}/feeds/support.rss"])
        query = case()["query"]
        bounded = type(query)(brand=query.brand, terms=query.terms, until=NOW - timedelta(minutes=30))
        page = next(connector.fetch(bounded, None))
    state = page.cursor["streams"][f"feed:{server.url}/feeds/support.rss"]
    assert state["etag"] is None, "a 304 next time would hide the items left for the next poll"


@pytest.mark.parametrize("locale", list(GOOGLE_NEWS_EDITIONS))
def test_google_news_url_per_edition(locale: str) -> None:
    url = google_news_url("https://news.google.com", ("Telia", "Telia Company"), locale)
    params = parse_qs(urlsplit(url).query)
    assert urlsplit(url).path == "/rss/search"
    assert params["q"] == ['"Telia" OR "Telia Company"']
    hl, gl, ceid, _ = GOOGLE_NEWS_EDITIONS[locale]
    assert (params["hl"], params["gl"], params["ceid"]) == ([hl], [gl], [ceid])


def test_atom_times_and_authors() -> None:
    with FakeServer(RssPlatform()) as server:
        connector = _connector(server.url, feeds=[f"{server.url}/feeds/blog.atom"])
        found = {m.external_id: m for p in connector.fetch(case()["query"], None) for m in p.mentions}
    entry = found["tag:blogg.example.no,2026:/telia-dekning"]
    assert entry.created_at == datetime(2026, 11, 20, 10, 30, tzinfo=UTC)
    assert entry.author == "Kari Nordmann" and entry.url == "https://blogg.example.no/2026/11/telia-dekning"


def test_entity_expansion_is_refused() -> None:
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]><rss>&lol2;</rss>'
    )
    with pytest.raises(FeedError, match="DTD"):
        parse_feed(bomb)


@pytest.mark.parametrize("encoding", ["uti-8", "UTF-p", "utf-W"])
def test_unknown_declared_encoding_is_a_malformed_feed(encoding: str) -> None:
    """One flipped byte in the XML declaration named a codec Python lacks: found by bench/fuzz.py."""
    feed = f'<?xml version="1.0" encoding="{encoding}"?>'
    feed += "<rss><channel><item><title>T</title></item></channel></rss>"
    with pytest.raises(FeedError, match="encoding"):
        parse_feed(feed.encode())


def test_private_feed_url_is_refused() -> None:
    connector = RssConnector({"feeds": ["http://169.254.169.254/latest/meta-data"]}, clock=lambda: NOW)
    with pytest.raises(SourceError) as err:
        list(connector.fetch(case()["query"], None))
    assert err.value.kind == "config" and "169.254.169.254" in str(err.value)
