"""Hacker News through Algolia's HN Search API: `search_by_date` for stories and comments.

Algolia stops paging at 1,000 hits per query (`nbPages * hitsPerPage <= 1000`). Results are newest
first, so when the cap is reached the connector slides the window: the next query asks only for items
older than the oldest one seen (`numericFilters=created_at_i<=…`) and starts again at page 0. Each
slide is reported as a coverage note. Re-poll reads `/api/v1/items/:id` (404 once deleted).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

import httpx
from pydantic import Field

from connectors.http.base import HttpConnector, HttpSettings, iso, parse_time
from connectors.http.client import Request, Response
from connectors.http.paging import Slide
from connectors.text import html_to_text_and_links
from monitor.kernel.types import BrandQuery, EngagementUpdate, FetchedMention

ITEM_URL = "https://news.ycombinator.com/item?id={}"


class HackerNewsSettings(HttpSettings):
    base_url: str = "https://hn.algolia.com"
    tags: str = Field("(story,comment)", description="Algolia `tags` filter")
    page_size: int = Field(100, gt=0, le=1000)


class _AlgoliaPaginator:
    """Next page while Algolia allows it; a `Slide` past the 1,000-hit cap when more hits remain."""

    def next_token(self, response: Response, body: Any, mentions: Sequence[FetchedMention], token: Any) -> Any:
        page, pages = int(body.get("page", 0)), int(body.get("nbPages", 0))
        if page + 1 < pages:
            return page + 1
        served = page * int(body.get("hitsPerPage") or 0) + len(body.get("hits") or [])
        # Only posts inside the window asked for may move it: one hit dated 1970 (anyone's data, or a
        # broken index) would otherwise slide the next query back to 1970 and skip everything between.
        lower = _window_lower(response.url)
        in_window = [m.created_at for m in mentions if lower is None or m.created_at.timestamp() >= lower]
        if int(body.get("nbHits", 0)) > served and in_window:
            oldest = min(in_window)
            return Slide(
                upper=oldest,
                note=f"Algolia 1000-hit cap: {body.get('nbHits')} hits; window slid to items up to {iso(oldest)}",
            )
        return None


_LOWER = re.compile(r"created_at_i>=(\d{1,12})")


def _window_lower(url: str) -> int | None:
    """The `created_at_i>=` bound of the query that produced a page (epoch seconds), if it had one."""
    match = _LOWER.search(httpx.URL(url).params.get("numericFilters", ""))
    return int(match.group(1)) if match else None


class HackerNewsConnector(HttpConnector):
    name = "hackernews"
    description = "Hacker News stories and comments (Algolia HN Search)"
    Settings = HackerNewsSettings
    paginator = _AlgoliaPaginator()
    limits = (
        "Algolia returns at most 1,000 hits per query: windows are slid by created_at_i to get past it",
        "points are not shown for comments; engagement is points and comment counts of stories",
    )
    settings: HackerNewsSettings

    def build_request(
        self, query: BrandQuery, stream: str, lower: datetime, upper: datetime, token: Any
    ) -> Request:
        return Request(
            url=self.url("/api/v1/search_by_date"),
            params={
                "query": stream.partition(":")[2],
                "tags": self.settings.tags,
                "numericFilters": f"created_at_i>={int(lower.timestamp())},created_at_i<={int(upper.timestamp())}",
                "hitsPerPage": self.settings.page_size,
                "page": token or 0,
            },
        )

    def parse_page(self, body: Any, response: Response, stream: str) -> list[FetchedMention]:
        hits = body.get("hits") if isinstance(body, dict) else None
        if not isinstance(hits, list):
            raise self.client.error("malformed", f"search answer has no `hits` list ({response.url})")
        return self.mentions_from(hits, self.to_mention)

    def to_mention(self, hit: dict[str, Any]) -> FetchedMention | None:
        created = parse_time(hit.get("created_at_i")) or parse_time(hit.get("created_at"))
        object_id = hit.get("objectID")
        if created is None or not object_id:
            return None
        body_html = hit.get("comment_text") or hit.get("story_text") or ""
        text, links = html_to_text_and_links(body_html)
        title = hit.get("title") or None
        if title and not text:
            text = title
        if hit.get("url"):
            links = (hit["url"], *links)
        parent = hit.get("parent_id")
        return FetchedMention(
            external_id=str(object_id),
            text=text,
            created_at=created,
            url=ITEM_URL.format(object_id),
            author=hit.get("author"),
            likes=hit.get("points"),
            replies=hit.get("num_comments"),
            title=title,
            parent_external_id=str(parent) if parent is not None else None,
            links=tuple(dict.fromkeys(links)),
            raw={"story_id": hit.get("story_id"), "tags": hit.get("_tags")},
        )

    def repoll(self, external_ids: Sequence[str]) -> Iterator[EngagementUpdate]:
        for external_id in external_ids:
            response, body = self.send(Request(url=self.url(f"/api/v1/items/{int(external_id)}")))
            now = self.clock()
            if response.status in (404, 410):
                yield EngagementUpdate(external_id=external_id, observed_at=now, deleted=True)
                continue
            # Deletion is erasure, so only an answer that is this item may say so (by losing its author).
            if not isinstance(body, dict) or body.get("id") != int(external_id):
                raise self.client.error("malformed", f"item {external_id} answered with something else")
            update = self.converted(external_id, self._engagement, body, now)
            if update is not None:
                yield update

    def _engagement(self, item: dict[str, Any], now: datetime) -> EngagementUpdate:
        """One item's counts; a deleted item keeps its id but loses its author."""
        external_id = str(item["id"])
        if item.get("author") is None:
            return EngagementUpdate(external_id=external_id, observed_at=now, deleted=True)
        children = item.get("children")
        return EngagementUpdate(
            external_id=external_id,
            observed_at=now,
            likes=item.get("points"),
            replies=len(children) if item.get("type") == "story" and isinstance(children, list) else None,
        )
