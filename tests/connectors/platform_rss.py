"""Fake feed host and Google News: RSS, Atom and the search feed, with ETag / If-Modified-Since."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from fake_server import FIXTURES, Call, Platform, Reply

from connectors.feeds import parse_feed
from connectors.rss import RssConnector
from monitor.kernel.types import BrandQuery

LAST_MODIFIED = "Fri, 20 Nov 2026 11:58:00 GMT"
FEEDS = {
    "/feeds/support.rss": "telia_support.rss",
    "/feeds/blog.atom": "telia_blog.atom",
    "/feeds/empty.rss": "empty.rss",
}


class RssPlatform(Platform):
    source = "rss"

    def _serve(self, call: Call, name: str, content_type: str) -> Reply:
        body = (FIXTURES / "rss" / name).read_bytes()
        etag = '"' + hashlib.sha1(body).hexdigest()[:16] + '"'
        headers = {"Content-Type": content_type, "ETag": etag, "Last-Modified": LAST_MODIFIED}
        if call.headers.get("if-none-match") == etag or call.headers.get("if-modified-since") == LAST_MODIFIED:
            return Reply(304, b"", headers)
        return Reply(200, body, headers)

    def handle(self, call: Call) -> Reply:
        if call.path in FEEDS:
            kind = "application/atom+xml" if call.path.endswith(".atom") else "application/rss+xml"
            return self._serve(call, FEEDS[call.path], f"{kind}; charset=utf-8")
        if call.path == "/rss/search":
            edition = (call.param("hl"), call.param("gl"), call.param("ceid"))
            if call.param("q") == '"Telia"' and edition == ("sv", "SE", "SE:sv"):
                return self._serve(call, "gnews_sv-SE.rss", "application/xml; charset=utf-8")
            return self._serve(call, "empty.rss", "application/xml; charset=utf-8")
        return Reply(404, b"<html>Not found</html>", {"Content-Type": "text/html"})


def _items() -> list[Any]:
    return [
        item
        for name in ("telia_support.rss", "telia_blog.atom", "gnews_sv-SE.rss")
        for item in parse_feed((FIXTURES / "rss" / name).read_bytes())
    ]


def case() -> dict[str, Any]:
    return {
        "name": "rss",
        "connector": RssConnector,
        "platform": RssPlatform,
        "settings": lambda url: {
            "feeds": [f"{url}/feeds/support.rss", f"{url}/feeds/blog.atom"],
            "google_news": ["sv-SE"],
        },
        "empty_settings": lambda url: {"feeds": [f"{url}/feeds/empty.rss"], "google_news": ["da-DK"]},
        "secret": "no-secret-for-feeds",
        "bad_credentials": {},
        "paginated": False,
        "repoll": False,
        "query": BrandQuery(brand="Telia", terms=("Telia",)),
        "empty_query": BrandQuery(brand="Nobody", terms=("zzzznothing",)),
        "expected_ids": {item.id for item in _items()},
        "texts": (
            "Telias router startar om hela tiden 😩",
            "Ærligt imponeret – æøå ÆØÅ",
            "ローミング料金が高い 💴",
            "Сравнение операторов",
            "Tre dager uten nett 📵 & ingen svar.",
        ),
        "sparse_id": "https://forum.example.se/t/roaming/8790",
        "sparse_expect": {
            "author": None,
            "created_at": datetime(2026, 11, 20, 12, 0, tzinfo=UTC),
            "language": None,
        },
        "now": datetime(2026, 11, 20, 12, 0, tzinfo=UTC),
    }
