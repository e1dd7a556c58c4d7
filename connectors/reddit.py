"""Reddit: search and subreddit comment streams through OAuth (application-only, client credentials).

Reddit requires OAuth for API access and a descriptive User-Agent
(`<platform>:<app id>:<version> (by /u/<username>)`); generic agents get throttled or blocked.
The token comes from `POST https://www.reddit.com/api/v1/access_token` (HTTP basic with the app's
id and secret, `grant_type=client_credentials`), then reads go to `https://oauth.reddit.com`.
Listings page with `after`. `X-Ratelimit-Remaining/Reset` are honoured before the quota runs out,
not after a 429. Re-poll: `/api/info?id=` with up to 100 fullnames; `[deleted]`/`[removed]` or a
missing thing means the post is gone.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from pydantic import Field, SecretStr, field_validator

from connectors.http.base import HttpConnector, HttpSettings, parse_time
from connectors.http.client import Decoder, Request, Response
from connectors.http.paging import BodyFieldPaginator
from connectors.http.policy import bounded_wait
from connectors.markdown import markdown_to_text_and_links
from monitor.kernel.types import BrandQuery, EngagementUpdate, FetchedMention, SourceError

INFO_MAX = 100
GONE_TEXT = {"[deleted]", "[removed]"}


class RedditSettings(HttpSettings):
    base_url: str = "https://oauth.reddit.com"
    auth_url: str = "https://www.reddit.com"
    client_id: str
    client_secret: SecretStr
    user_agent: str = Field(description="descriptive, e.g. 'server:repmon-acme:0.1 (by /u/acme_support)'")
    search: bool = True
    subreddits: list[str] = Field(default_factory=list, description="subreddits whose new comments are read")
    page_size: int = Field(100, gt=0, le=100)
    repoll_batch_size: int = Field(100, gt=0, le=INFO_MAX)
    ratelimit_floor: float = Field(2, ge=0, description="pause when fewer requests than this remain")

    @field_validator("user_agent")
    @classmethod
    def _descriptive(cls, value: str) -> str:
        if "/u/" not in value:
            raise ValueError("Reddit requires a descriptive User-Agent naming the account: '... (by /u/name)'")
        return value


class RedditConnector(HttpConnector):
    name = "reddit"
    description = "Reddit search and subreddit comments (OAuth client credentials)"
    Settings = RedditSettings
    paginator = BodyFieldPaginator(("data", "after"))
    limits = (
        "listings stop after about 1,000 items: older search results and comments cannot be paged to",
        "search covers posts (titles and text); comments are read only from the configured subreddits",
        "free API access is for non-commercial use; commercial use needs an agreement with Reddit",
    )
    settings: RedditSettings

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._token: str | None = None

    def authenticate(self) -> dict[str, str]:
        if self._token is None:
            _, body = self.client.send(
                Request(
                    url=f"{self.settings.auth_url.rstrip('/')}/api/v1/access_token",
                    method="POST",
                    form={"grant_type": "client_credentials"},
                    auth=(self.settings.client_id, self.settings.client_secret.get_secret_value()),
                )
            )
            token = body.get("access_token") if isinstance(body, dict) else None
            if not token:  # Reddit answers 200 {"error": "invalid_grant"} for some credential problems
                raise self.client.error("auth", f"no access token: {str(body)[:200]}")
            self._token = str(token)
            self.scrubber.add(self._token)
        return {"Authorization": f"bearer {self._token}"}

    def send(self, request: Request, *, decode: Decoder | None = Response.json) -> tuple[Response, Any]:
        try:
            response, body = super().send(request, decode=decode)
        except SourceError as exc:
            if exc.kind != "auth" or self._token is None:
                raise
            self._token = None  # tokens last a day: get a fresh one once
            response, body = super().send(request, decode=decode)
        self._respect_quota(response)
        return response, body

    def _respect_quota(self, response: Response) -> None:
        """Pause before the window's quota is used up (Reddit counts per 10-minute window)."""
        try:
            remaining = float(response.headers.get("x-ratelimit-remaining", "inf"))
            reset = bounded_wait(float(response.headers.get("x-ratelimit-reset", "0")))
        except ValueError:  # unreadable quota headers: Reddit's 429 with Retry-After still protects us
            return
        if math.isnan(remaining) or remaining >= self.settings.ratelimit_floor or reset is None:
            return
        if reset > self.settings.max_retry_after_s:
            raise self.client.error("rate_limited", f"quota used up; resets in {reset:.0f}s", retry_after=reset)
        self.client.retry.wait(reset)

    def streams(self, query: BrandQuery) -> Sequence[str]:
        found = [f"search:{term}" for term in query.terms] if self.settings.search else []
        return [*found, *(f"comments:{sub.removeprefix('r/')}" for sub in self.settings.subreddits)]

    def build_request(
        self, query: BrandQuery, stream: str, lower: datetime, upper: datetime, token: Any
    ) -> Request:
        kind, _, value = stream.partition(":")
        common = {"limit": self.settings.page_size, "after": token, "raw_json": 1}
        if kind == "comments":
            return Request(url=self.url(f"/r/{value}/comments"), params=common)
        return Request(url=self.url("/search"), params={"q": value, "sort": "new", "type": "link", **common})

    def parse_page(self, body: Any, response: Response, stream: str) -> list[FetchedMention]:
        data = body.get("data") if isinstance(body, dict) and body.get("kind") == "Listing" else None
        if not isinstance(data, dict) or not isinstance(data.get("children"), list):
            raise self.client.error("malformed", f"expected a Listing from {response.url}")
        return self.mentions_from(data["children"], self.to_mention)

    def to_mention(self, thing: dict[str, Any]) -> FetchedMention | None:
        kind, data = thing.get("kind"), thing.get("data") or {}
        created = parse_time(data.get("created_utc"))
        if kind not in ("t1", "t3") or created is None or not data.get("name"):
            return None
        # Bodies are Markdown source (raw_json=1): plain text for headlines, tickets and Slack; titles are
        # plain text on Reddit already.
        if kind == "t3":
            selftext = data.get("selftext") or ""
            if selftext in GONE_TEXT:
                selftext = ""
            body, body_links = markdown_to_text_and_links(selftext)
            text = f"{data.get('title') or ''}\n\n{body}".strip()
            parent = None
            links = (data["url"],) if data.get("url") and not data.get("is_self") else ()
            links = tuple(dict.fromkeys((*links, *body_links)))
        else:
            if (data.get("body") or "") in GONE_TEXT:
                return None
            text, links = markdown_to_text_and_links(data.get("body") or "")
            parent = data.get("parent_id")
        if text in GONE_TEXT:
            return None
        author = data.get("author")
        return FetchedMention(
            external_id=data["name"],  # fullname (t3_…/t1_…): what /api/info takes
            text=text,
            created_at=created,
            url=f"https://www.reddit.com{data['permalink']}" if data.get("permalink") else None,
            author=None if author in GONE_TEXT else author,
            likes=data.get("score"),
            replies=data.get("num_comments"),
            title=data.get("title") if kind == "t3" else None,
            parent_external_id=parent,
            links=links,
            raw={"subreddit": data.get("subreddit"), "over_18": data.get("over_18")},
        )

    def repoll(self, external_ids: Sequence[str]) -> Iterator[EngagementUpdate]:
        for start in range(0, len(external_ids), INFO_MAX):
            batch = list(external_ids[start : start + INFO_MAX])
            _, body = self.send(Request(url=self.url("/api/info"), params={"id": ",".join(batch), "raw_json": 1}))
            things = self.looked_up(body, "data", "children")
            yield from self.lookup_updates(batch, things, _thing_name, self._engagement)

    def _engagement(self, thing: dict[str, Any], now: datetime) -> EngagementUpdate:
        """One post's counts from a lookup answer (`lookup_updates` skips a post it cannot read)."""
        data = thing["data"]
        text = data.get("body") or data.get("selftext") or ""
        if (isinstance(text, str) and text in GONE_TEXT) or data.get("removed_by_category"):
            return EngagementUpdate(external_id=data["name"], observed_at=now, deleted=True)
        return EngagementUpdate(
            external_id=data["name"],
            observed_at=now,
            likes=data.get("score"),
            replies=data.get("num_comments"),
        )


def _thing_name(thing: dict[str, Any]) -> Any:
    """The fullname (`t3_…`) of a listing child, None when the child is not shaped like one."""
    data = thing.get("data")
    return data.get("name") if isinstance(data, dict) else None
