"""Apple App Store customer reviews, per storefront, from the public JSON feed.

`GET https://itunes.apple.com/{country}/rss/customerreviews/page={n}/id={app}/sortby=mostrecent/json`
needs no key. It serves at most 10 pages of 50 reviews per storefront (the 500 most recent), so a
busy app's older reviews cannot be reached; the walk reports that as a coverage note. Quirks handled:
`entry` is an object instead of a list when there is one review, absent when there are none, and
old responses start with an entry describing the app itself (it has no `im:rating`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import Field, field_validator

from connectors.http.base import HttpConnector, HttpSettings, parse_time
from connectors.http.client import Request, Response
from connectors.http.paging import Exhausted
from monitor.kernel.types import BrandQuery, FetchedMention

LAST_PAGE = 10
PAGE_SIZE = 50


class AppStoreSettings(HttpSettings):
    base_url: str = "https://itunes.apple.com"
    app_id: str = Field(description="numeric App Store id (the digits after /id in the app's URL)")
    countries: list[str] = Field(default_factory=lambda: ["se", "dk", "no"], description="storefront codes")

    @field_validator("app_id")
    @classmethod
    def _digits(cls, value: str) -> str:
        if not value.isdigit():
            raise ValueError("app_id is the numeric id, e.g. 284882215")
        return value

    @field_validator("countries")
    @classmethod
    def _codes(cls, value: list[str]) -> list[str]:
        bad = [c for c in value if not (len(c) == 2 and c.isalpha())]
        if bad:
            raise ValueError(f"storefronts are two-letter country codes, not {bad}")
        return [c.lower() for c in value]


def _label(entry: dict[str, Any], key: str) -> str | None:
    value = entry.get(key)
    return value.get("label") if isinstance(value, dict) else None


class _StorefrontPaginator:
    def next_token(self, response: Response, body: Any, mentions: Sequence[FetchedMention], token: Any) -> Any:
        page = int(token or 1)
        if not mentions:
            return None
        if page >= LAST_PAGE:
            if len(mentions) >= PAGE_SIZE:
                return Exhausted(
                    f"the feed ends at page {LAST_PAGE} ({LAST_PAGE * PAGE_SIZE} most recent reviews)"
                )
            return None
        return page + 1


class AppStoreConnector(HttpConnector):
    name = "appstore"
    description = "Apple App Store customer reviews per storefront (star ratings)"
    Settings = AppStoreSettings
    paginator = _StorefrontPaginator()
    limits = (
        f"only the {LAST_PAGE * PAGE_SIZE} most recent reviews per storefront ({LAST_PAGE} pages of {PAGE_SIZE})",
        "ratings without a written review are not in the feed; developer responses are not included",
    )
    settings: AppStoreSettings

    def streams(self, query: BrandQuery) -> Sequence[str]:
        return [f"store:{country}" for country in self.settings.countries]

    def build_request(
        self, query: BrandQuery, stream: str, lower: datetime, upper: datetime, token: Any
    ) -> Request:
        country = stream.partition(":")[2]
        page, app = int(token or 1), self.settings.app_id
        return Request(url=self.url(f"/{country}/rss/customerreviews/page={page}/id={app}/sortby=mostrecent/json"))

    def parse_page(self, body: Any, response: Response, stream: str) -> list[FetchedMention]:
        feed = body.get("feed") if isinstance(body, dict) else None
        if not isinstance(feed, dict):
            raise self.client.error("malformed", f"no `feed` object in the answer ({response.url})")
        entries = feed.get("entry") or []
        if isinstance(entries, dict):
            entries = [entries]
        country = stream.partition(":")[2]
        return self.mentions_from(entries, self.to_mention, country)

    def to_mention(self, entry: dict[str, Any], country: str) -> FetchedMention | None:
        rating = _label(entry, "im:rating")
        review_id = _label(entry, "id")
        created = parse_time(_label(entry, "updated"))
        if rating is None or review_id is None or created is None:
            return None  # the app's own description entry, or a broken one
        title = _label(entry, "title") or ""
        content = _label(entry, "content") or ""
        author = entry.get("author") or {}
        link = (entry.get("link") or {}).get("attributes", {}).get("href")
        return FetchedMention(
            external_id=review_id,
            text=f"{title}\n\n{content}".strip(),
            created_at=created,
            url=link,
            author=_label(author, "name"),
            rating=int(rating),
            title=title or None,
            likes=int(_label(entry, "im:voteSum") or 0) if _label(entry, "im:voteSum") else None,
            raw={"storefront": country, "version": _label(entry, "im:version")},
        )
