"""Paginators: how a connector finds the next page. Tokens are JSON values, stored in the cursor so an
interrupted walk resumes at the page it stopped on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import httpx

from connectors.http.client import Response
from monitor.kernel.types import FetchedMention


@dataclass(frozen=True)
class Slide:
    """Restart from the first page with a lower upper bound: gets past hard result caps (Algolia 1000)."""

    upper: datetime
    note: str


@dataclass(frozen=True)
class Exhausted:
    """The source will not serve further pages although more exist (App Store's 10-page limit)."""

    note: str


class Paginator(Protocol):
    def next_token(
        self, response: Response, body: Any, mentions: Sequence[FetchedMention], token: Any
    ) -> Any | Slide | Exhausted | None:
        """The token of the next (older) page, a `Slide`, or None when this was the last page."""
        ...


@dataclass(frozen=True)
class LinkHeaderPaginator:
    """RFC 8288 `Link: <url>; rel="next"` (Mastodon timelines, GitHub); the token is the next URL."""

    rel: str = "next"

    def next_token(self, response: Response, body: Any, mentions: Sequence[FetchedMention], token: Any) -> Any:
        header = response.headers.get("link")
        if not header:
            return None
        for link in httpx.Response(200, headers={"link": header}).links.values():
            if link.get("rel") == self.rel and link.get("url"):
                return link["url"]
        return None


@dataclass(frozen=True)
class BodyFieldPaginator:
    """An opaque token in the body (Bluesky `cursor`, YouTube `nextPageToken`, X `meta.next_token`)."""

    path: tuple[str, ...]

    def next_token(self, response: Response, body: Any, mentions: Sequence[FetchedMention], token: Any) -> Any:
        value = body
        for key in self.path:
            if not isinstance(value, dict):
                return None
            value = value.get(key)
        return value or None


@dataclass(frozen=True)
class PageNumberPaginator:
    """Numbered pages (App Store, Trustpilot, Algolia); stops at an empty page or `last_page`."""

    first: int = 1
    last_page: int | None = None

    def next_token(self, response: Response, body: Any, mentions: Sequence[FetchedMention], token: Any) -> Any:
        current = self.first if token is None else int(token)
        if not mentions or (self.last_page is not None and current >= self.last_page):
            return None
        return current + 1
