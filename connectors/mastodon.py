"""Mastodon: full-text status search and hashtag timelines on one instance, re-poll by status id.

API (docs.joinmastodon.org): `GET /api/v2/search?type=statuses&q=…` (full-text search of statuses
needs an access token on most instances and only finds posts the instance knows about, and only
opted-in (`indexable`) posts on 4.2+), `GET /api/v1/timelines/tag/:hashtag` (public, paged by
`Link: rel="next"`), `GET /api/v1/statuses/:id` (404 once deleted). Status ids are Snowflake-like
(milliseconds << 16), so the signpost becomes a `max_id` the server understands.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit

from pydantic import Field, SecretStr, model_validator

from connectors.http.base import HttpConnector, HttpSettings, parse_time
from connectors.http.client import Request, Response
from connectors.http.paging import LinkHeaderPaginator
from connectors.text import html_to_text_and_links
from monitor.kernel.types import BrandQuery, EngagementUpdate, FetchedMention

log = logging.getLogger(__name__)


class MastodonSettings(HttpSettings):
    base_url: str = "https://mastodon.social"
    access_token: SecretStr | None = None
    search: bool | None = Field(
        None, description="full-text search for each brand term; default: on when access_token is set"
    )
    hashtags: list[str] = Field(default_factory=list, description="hashtag timelines to follow, without #")
    page_size: int = Field(40, gt=0, le=40)

    @model_validator(mode="after")
    def _search_needs_token(self) -> MastodonSettings:
        if self.search and self.access_token is None:
            raise ValueError("search = true needs access_token (instances refuse status search without one)")
        if not self.hashtags and not self.searching:
            raise ValueError("nothing to read: set hashtags, or access_token for full-text search")
        return self

    @property
    def searching(self) -> bool:
        return self.search if self.search is not None else self.access_token is not None


def snowflake_for(moment: datetime) -> str:
    """The smallest Mastodon id that could have been created at `moment` (Mastodon::Snowflake)."""
    return str(int(moment.timestamp() * 1000) << 16)


class _MastodonPaginator:
    """`Link: rel="next"` when the server sends it (timelines), else the oldest id on the page."""

    _link = LinkHeaderPaginator()

    def next_token(self, response: Response, body: Any, mentions: Sequence[FetchedMention], token: Any) -> Any:
        if link := self._link.next_token(response, body, mentions, token):
            return link
        ids = [int(m.external_id) for m in mentions if m.external_id.isdigit()]
        return str(min(ids)) if ids else None


class MastodonConnector(HttpConnector):
    name = "mastodon"
    description = "Mastodon instance: status search and hashtag timelines"
    Settings = MastodonSettings
    paginator = _MastodonPaginator()
    limits = (
        "only posts known to the configured instance (federated to it), not the whole fediverse",
        "full-text search only finds posts whose authors opted in to search (Mastodon 4.2+ `indexable`)",
    )
    settings: MastodonSettings

    def authenticate(self) -> dict[str, str]:
        token = self.settings.access_token
        return {"Authorization": f"Bearer {token.get_secret_value()}"} if token else {}

    def streams(self, query: BrandQuery) -> Sequence[str]:
        found = [f"search:{term}" for term in query.terms] if self.settings.searching else []
        return [*found, *(f"tag:{tag.lstrip('#')}" for tag in self.settings.hashtags)]

    def build_request(
        self, query: BrandQuery, stream: str, lower: datetime, upper: datetime, token: Any
    ) -> Request:
        if isinstance(token, str) and token.startswith(("http://", "https://")):
            if urlsplit(token).netloc != urlsplit(self.settings.base_url).netloc:
                raise self.client.error("malformed", f"pagination link to another host refused: {token}")
            return Request(url=token)
        max_id = token or snowflake_for(upper + timedelta(milliseconds=1))  # max_id is exclusive
        kind, _, value = stream.partition(":")
        if kind == "tag":
            return Request(
                url=self.url(f"/api/v1/timelines/tag/{quote(value, safe='')}"),
                params={"limit": self.settings.page_size, "max_id": max_id},
            )
        return Request(
            url=self.url("/api/v2/search"),
            params={
                "q": value,
                "type": "statuses",
                "resolve": "false",
                "limit": self.settings.page_size,
                "max_id": max_id,
            },
        )

    def parse_page(self, body: Any, response: Response, stream: str) -> list[FetchedMention]:
        statuses = body.get("statuses") if isinstance(body, dict) else body
        if not isinstance(statuses, list):
            raise self.client.error("malformed", f"unexpected response shape from {response.url}")
        return self.mentions_from(statuses, self.to_mention)

    def to_mention(self, status: dict[str, Any]) -> FetchedMention | None:
        text, links = html_to_text_and_links(status.get("content") or "")
        if spoiler := (status.get("spoiler_text") or "").strip():
            text = f"{spoiler}\n\n{text}" if text else spoiler
        account = status.get("account") or {}
        acct = account.get("acct") or account.get("username")
        if acct and "@" not in acct:  # local accounts are unqualified: make handles instance-unique
            acct = f"{acct}@{urlsplit(self.settings.base_url).hostname}"
        card_url = (status.get("card") or {}).get("url")
        created = parse_time(status.get("created_at"))
        if created is None or not status.get("id"):
            log.warning("mastodon: status without id or created_at skipped (%s)", status.get("uri"))
            return None
        return FetchedMention(
            external_id=str(status["id"]),
            text=text,
            created_at=created,
            url=status.get("url") or status.get("uri"),
            author=acct,
            author_followers=account.get("followers_count"),
            language=status.get("language"),
            likes=status.get("favourites_count"),
            reposts=status.get("reblogs_count"),
            replies=status.get("replies_count"),
            quotes=status.get("quotes_count"),
            parent_external_id=status.get("in_reply_to_id"),
            links=tuple(dict.fromkeys([*links, *([card_url] if card_url else [])])),
            raw={"uri": status.get("uri"), "visibility": status.get("visibility")},
        )

    def repoll(self, external_ids: Sequence[str]) -> Iterator[EngagementUpdate]:
        """One request per status (Mastodon has no public batch lookup); 404/410 means deleted."""
        for external_id in external_ids:
            response, body = self.send(Request(url=self.url(f"/api/v1/statuses/{quote(external_id, safe='')}")))
            now = self.clock()
            if response.status in (404, 410):
                yield EngagementUpdate(external_id=external_id, observed_at=now, deleted=True)
                continue
            if not isinstance(body, dict):
                raise self.client.error("malformed", f"unexpected status payload for {external_id}")
            account = body.get("account")
            yield EngagementUpdate(
                external_id=external_id,
                observed_at=now,
                likes=body.get("favourites_count"),
                reposts=body.get("reblogs_count"),
                replies=body.get("replies_count"),
                quotes=body.get("quotes_count"),
                author_followers=account.get("followers_count") if isinstance(account, dict) else None,
            )
