"""RSS/Atom feeds and Google News search feeds, with conditional GET (ETag / If-Modified-Since).

A feed is one stream: it has no paging and carries only its latest items, so each poll is one
conditional request (304 = nothing new, costs the publisher almost nothing). Google News search
feeds are built per locale (sv-SE, da-DK, nb-NO, en) from the brand's terms. Feed URLs are
user-supplied, so every request passes the SSRF guard; XML with DTDs/entities is refused.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Literal
from urllib.parse import urlencode

from pydantic import Field

from connectors.feeds import FeedError, FeedItem, parse_feed
from connectors.http.base import HttpConnector, HttpSettings, iso, parse_time
from connectors.http.client import MalformedBody, Request, Response
from monitor.kernel.types import BrandQuery, FetchedMention, Page

Locale = Literal["sv-SE", "da-DK", "nb-NO", "en"]
# hl, gl, ceid as news.google.com uses them for each edition.
GOOGLE_NEWS_EDITIONS: Mapping[str, tuple[str, str, str, str]] = {
    "sv-SE": ("sv", "SE", "SE:sv", "sv"),
    "da-DK": ("da", "DK", "DK:da", "da"),
    "nb-NO": ("no", "NO", "NO:no", "no"),
    "en": ("en-US", "US", "US:en", "en"),
}


class RssSettings(HttpSettings):
    base_url: str = Field("https://news.google.com", description="Google News base URL")
    feeds: list[str] = Field(default_factory=list, description="RSS/Atom feed URLs")
    google_news: list[Locale] = Field(default_factory=list, description="Google News search editions")


def google_news_url(base_url: str, terms: Sequence[str], locale: str) -> str:
    """The Google News search feed for these terms in one edition (quoted terms joined by OR)."""
    hl, gl, ceid, _ = GOOGLE_NEWS_EDITIONS[locale]
    q = " OR ".join(f'"{t}"' for t in terms)
    return f"{base_url.rstrip('/')}/rss/search?" + urlencode({"q": q, "hl": hl, "gl": gl, "ceid": ceid})


def _decode(response: Response) -> list[FeedItem]:
    try:
        return parse_feed(response.body)
    except FeedError as exc:
        raise MalformedBody(f"malformed feed from {response.url}: {exc}") from exc


class RssConnector(HttpConnector):
    name = "rss"
    description = "RSS/Atom feeds and Google News search feeds (conditional GET)"
    Settings = RssSettings
    limits = (
        "a feed carries only its latest items (often 20-100): nothing older can be fetched, so backfill "
        "only reaches what the feed still lists",
        "Google News search feeds return at most ~100 recent articles per query and edition",
    )
    settings: RssSettings

    def streams(self, query: BrandQuery) -> Sequence[str]:
        return [
            *(f"feed:{url}" for url in self.settings.feeds),
            *(f"gnews:{loc}" for loc in self.settings.google_news),
        ]

    def _url(self, query: BrandQuery, stream: str) -> str:
        kind, _, value = stream.partition(":")
        return value if kind == "feed" else google_news_url(self.settings.base_url, query.terms, value)

    def fetch(self, query: BrandQuery, cursor: Mapping[str, Any] | None) -> Iterator[Page]:
        state: dict[str, Any] = copy.deepcopy(dict(cursor or {}))
        streams = state.setdefault("streams", {})
        now = self.clock()
        for stream in self.streams(query):
            st = streams.setdefault(stream, {})
            headers: dict[str, str] = {}
            if query.since is not None:
                job = st.get("backfill") or {}
                if job.get("done") and job.get("since") == iso(query.since):
                    continue
                lower, upper = query.since, query.until or now
            else:
                hwm = parse_time(st.get("hwm"))
                lower = (
                    hwm - timedelta(seconds=self.settings.overlap_s)
                    if hwm
                    else now - timedelta(hours=self.settings.initial_lookback_hours)
                )
                upper = query.until or now
                if st.get("etag"):
                    headers["If-None-Match"] = st["etag"]
                if st.get("last_modified"):
                    headers["If-Modified-Since"] = st["last_modified"]
            response, items = self.send(Request(url=self._url(query, stream), headers=headers), decode=_decode)
            if response.status // 100 not in (2, 3):
                raise self.client.error("fatal", f"HTTP {response.status} from {response.url}: feed not found")
            mentions: list[FetchedMention] = []
            newer_than_signpost = False
            for item in items or []:
                mention = self.to_mention(item, stream, now)
                if mention.created_at > upper:
                    newer_than_signpost = True
                elif mention.created_at >= lower:
                    mentions.append(mention)
            if query.since is not None:
                st["backfill"] = {"since": iso(query.since), "until": iso(upper), "done": True}
            else:
                st["hwm"] = iso(upper)
                # Keep the validators only if this answer was used whole: otherwise a 304 next time
                # would hide the items that were newer than the signpost.
                if response.status == 200 and not newer_than_signpost:
                    st["etag"] = response.headers.get("etag")
                    st["last_modified"] = response.headers.get("last-modified")
                elif response.status == 200:
                    st["etag"] = st["last_modified"] = None
            yield Page(mentions=mentions, cursor=copy.deepcopy(state))

    def to_mention(self, item: FeedItem, stream: str, now: datetime) -> FetchedMention:
        kind, _, locale = stream.partition(":")
        is_news = kind == "gnews"
        text = item.title if is_news or not item.text else f"{item.title}\n\n{item.text}".strip()
        return FetchedMention(
            external_id=item.id,
            text=text or item.title,
            created_at=item.published or now,  # undated items count as seen now
            url=item.link,
            author=item.author or item.publisher,
            language=GOOGLE_NEWS_EDITIONS[locale][3] if is_news else None,
            title=item.title or None,
            links=item.links,
            raw={"publisher": item.publisher} if item.publisher else None,
        )
