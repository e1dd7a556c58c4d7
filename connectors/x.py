"""X (Twitter) API v2 recent search, with a bearer token. READS ARE BILLED.

X sells API access by tier / per use: every post returned by recent search counts against a paid
monthly read allowance (the free tier has effectively no search). Set `max_pages` and `page_size`
with the bill in mind; each run reads at most `max_pages * page_size` posts per term, and
`monthly_read_budget` stops a walk before the posts read this month exceed it (counted in the cursor).
Recent search only reaches the last 7 days: older periods are reported as unreachable by backfill.
`GET /2/tweets/search/recent` pages with `next_token` (newest first) and is bounded by
`start_time`/`end_time`; re-poll uses `GET /2/tweets?ids=` (up to 100), where a deleted post comes
back in `errors` as "Not Found Error". Rate limits: `x-rate-limit-reset` is an epoch time.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import Field, SecretStr

from connectors.http.base import HttpConnector, HttpSettings, iso, parse_time
from connectors.http.client import Request, Response
from connectors.http.paging import BodyFieldPaginator
from monitor.kernel.types import BrandQuery, EngagementUpdate, FetchedMention, SourceError

log = logging.getLogger(__name__)

LOOKBACK = timedelta(days=7)
TWITTER_EPOCH_MS = 1288834974657  # snowflake ids: milliseconds since this instant, shifted left 22 bits
LOOKUP_MAX = 100
# The pinned xdk spec (2.167) names the field parameter `post.fields`; the older spec (2.159), the docs
# (docs.x.com recent-search quickstart and integration guide, 2026: `tweet.fields=created_at,...`) and every
# recorded answer use `tweet.fields`, which is what production accepts. A wrong guess is made visible both
# ways: a 400 naming the parameter disables the source with a message saying which setting to change
# (`fields_parameter`), and an answer without the requested fields is noted on the page and logged.
FIELDS_PARAM = "tweet.fields"
TWEET_FIELDS = "created_at,author_id,lang,public_metrics,conversation_id,referenced_tweets,entities"
REQUESTED = ("created_at", "author_id")  # in every post of an answer that honoured the field parameter


class XSettings(HttpSettings):
    base_url: str = "https://api.x.com"
    bearer_token: SecretStr
    page_size: int = Field(100, ge=10, le=100)
    max_pages: int = Field(5, gt=0, description="reads are billed: keep this small")
    monthly_read_budget: int = Field(10_000, gt=0, description="posts read per calendar month (UTC)")
    exclude_retweets: bool = True
    fields_parameter: Literal["tweet.fields", "post.fields"] = Field(
        FIELDS_PARAM, description="name of the field parameter; change only if X rejects this one (HTTP 400)"
    )


class XConnector(HttpConnector):
    name = "x"
    description = "X API v2 recent search (bearer token; reads are billed)"
    Settings = XSettings
    paginator = BodyFieldPaginator(("meta", "next_token"))
    max_lookback = LOOKBACK
    limits = (
        "recent search covers only the last 7 days; full-archive search needs a higher (paid) tier",
        "every post read is billed against the plan's monthly read allowance",
    )
    settings: XSettings

    def authenticate(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.settings.bearer_token.get_secret_value()}"}

    def inspect_failure(self, response: Response) -> SourceError | None:
        """A 400 naming one of our query parameters: the request itself is wrong (X renamed or dropped a
        parameter), so retrying cannot help; the message names the parameter and the setting to change."""
        if response.status != 400:
            return None
        try:
            errors = json.loads(response.body).get("errors") or []
        except (ValueError, AttributeError, RecursionError):
            return None
        named = sorted(
            {
                str(p)
                for e in errors
                if isinstance(e, dict) and isinstance(e.get("parameters"), dict)
                for p in e["parameters"]
            }
        )
        if not named:
            return None
        message = next((str(e.get("message"))[:300] for e in errors if isinstance(e, dict)), "")
        hint = (
            f" If X renamed its field parameter, set `fields_parameter` (now {self.settings.fields_parameter!r})."
            if any(name.endswith(".fields") for name in named)
            else ""
        )
        return SourceError("fatal", f"x: request refused, parameter(s) {', '.join(named)}: {message}.{hint}")

    def spend(self, state: dict[str, Any], stream: str) -> str | None:
        month = self.clock().strftime("%Y-%m")
        budget = state.setdefault("reads", {})
        if budget.get("month") != month:
            budget.update(month=month, posts=0)
        if budget["posts"] + self.settings.page_size > self.settings.monthly_read_budget:
            return f"monthly read budget of {self.settings.monthly_read_budget} posts reached (reads are billed)"
        budget["posts"] += self.settings.page_size  # counted as requested: the worst case of the bill
        return None

    def build_request(
        self, query: BrandQuery, stream: str, lower: datetime, upper: datetime, token: Any
    ) -> Request:
        now = self.clock()
        # start_time must be within 7 days and end_time at least 10 s in the past.
        start = max(lower, now - LOOKBACK + timedelta(minutes=1))
        end = min(upper + timedelta(seconds=1), now - timedelta(seconds=10))
        term = stream.partition(":")[2]
        q = f'"{term}"' + (" -is:retweet" if self.settings.exclude_retweets else "")
        return Request(
            url=self.url("/2/tweets/search/recent"),
            params={
                "query": q,
                "start_time": iso(start.replace(microsecond=0)),
                "end_time": iso(end.replace(microsecond=0)),
                "max_results": self.settings.page_size,
                "next_token": token,
                self.settings.fields_parameter: TWEET_FIELDS,
                "expansions": "author_id",
                "user.fields": "username,public_metrics",
            },
        )

    def parse_page(self, body: Any, response: Response, stream: str) -> list[FetchedMention]:
        if not isinstance(body, dict):
            raise self.client.error("malformed", f"unexpected answer from {response.url}")
        users = self._users(body.get("includes"))
        posts = body.get("data") or []  # absent when result_count is 0
        if not isinstance(posts, list):
            raise self.client.error("malformed", f"`data` of the answer from {response.url} is not a list")
        self._note_missing_fields(posts)
        return self.mentions_from(posts, self.to_mention, users)

    def _users(self, includes: Any) -> dict[Any, dict[str, Any]]:
        """The page's expanded authors by id. They only add handles and follower counts, so an unreadable
        `includes` costs those (said in the page's notes), not the posts."""
        users = includes.get("users") if isinstance(includes, dict) else None
        if includes is not None and not isinstance(users, list | None):
            users = None
            self._item_notes.append("`includes.users` unreadable: authors shown by id on this page")
        elif includes is not None and not isinstance(includes, dict):
            self._item_notes.append("`includes` unreadable: authors shown by id on this page")
        return {u.get("id"): u for u in users or [] if isinstance(u, dict)}

    def _note_missing_fields(self, posts: Any) -> None:
        """No post with the fields we asked for: the field parameter was ignored (a renamed parameter that
        X did not reject). Said on the page and in the log, once per page, never silent."""
        if not isinstance(posts, list):
            return
        objects = [p for p in posts if isinstance(p, dict)]
        lacking = [f for f in REQUESTED if objects and not any(f in p for p in objects)]  # an ignored parameter
        if lacking:
            note = (
                f"answer lacks requested fields {', '.join(lacking)}: is {self.settings.fields_parameter!r} still "
                "the field parameter X accepts? (setting `fields_parameter`)"
            )
            log.warning("x: %s", note)
            self._item_notes.append(note)

    def to_mention(self, post: dict[str, Any], users: dict[str, Any]) -> FetchedMention | None:
        if not isinstance(post.get("id"), str) or not post["id"]:
            return None
        created = parse_time(post.get("created_at"))
        if created is None:  # `created_at` missing (field parameter not honoured): the id carries the time
            created = snowflake_time(post["id"])
            if created is None:
                return None
            note = "posts without created_at: times taken from the post ids"
            if note not in self._item_notes:
                log.warning("x: %s", note)
                self._item_notes.append(note)
        user = users.get(post.get("author_id")) or {}
        metrics = post.get("public_metrics") or {}
        refs = post.get("referenced_tweets") or post.get("referenced_posts") or []
        parent = next((r.get("id") for r in refs if r.get("type") in ("replied_to", "quoted", "retweeted")), None)
        urls = (post.get("entities") or {}).get("urls") or []
        username = user.get("username")
        return FetchedMention(
            external_id=post["id"],
            text=post.get("text") or "",
            created_at=created,
            url=f"https://x.com/{username or 'i/web'}/status/{post['id']}",
            author=username or post.get("author_id"),
            author_followers=(user.get("public_metrics") or {}).get("followers_count"),
            language=post.get("lang") if post.get("lang") not in ("und", "zxx") else None,
            likes=metrics.get("like_count"),
            reposts=metrics.get("retweet_count"),
            replies=metrics.get("reply_count"),
            quotes=metrics.get("quote_count"),
            parent_external_id=parent,
            links=tuple(u["expanded_url"] for u in urls if isinstance(u, dict) and u.get("expanded_url")),
            raw={"conversation_id": post.get("conversation_id")},
        )

    def repoll(self, external_ids: Sequence[str]) -> Iterator[EngagementUpdate]:
        for start in range(0, len(external_ids), LOOKUP_MAX):
            batch = list(external_ids[start : start + LOOKUP_MAX])
            _, body = self.send(
                Request(
                    url=self.url("/2/tweets"),
                    params={"ids": ",".join(batch), self.settings.fields_parameter: "public_metrics"},
                )
            )
            # a post left out is listed in `errors` as Not Found (deleted) or Authorization (protected)
            nothing_found = isinstance(body, dict) and "data" not in body and isinstance(body.get("errors"), list)
            posts = [] if nothing_found else self.looked_up(body, "data")
            yield from self.lookup_updates(batch, posts, lambda p: p.get("id"), self._engagement)

    def _engagement(self, post: dict[str, Any], now: datetime) -> EngagementUpdate:
        """One post's counts from a lookup answer (`lookup_updates` skips a post it cannot read)."""
        metrics = post.get("public_metrics") or {}
        return EngagementUpdate(
            external_id=post["id"],
            observed_at=now,
            likes=metrics.get("like_count"),
            reposts=metrics.get("retweet_count"),
            replies=metrics.get("reply_count"),
            quotes=metrics.get("quote_count"),
        )


def snowflake_time(post_id: str) -> datetime | None:
    """When a post was created, from its snowflake id (X ids since 2010); None for a non-snowflake id."""
    if not post_id.isdigit() or len(post_id) > 20:
        return None
    millis = (int(post_id) >> 22) + TWITTER_EPOCH_MS
    try:
        return datetime.fromtimestamp(millis / 1000, UTC)
    except (OverflowError, OSError, ValueError):
        return None
