"""YouTube Data API v3: comment threads on a channel's videos or on chosen videos (API key).

`GET /youtube/v3/commentThreads?part=snippet&order=time` newest first, paged by `nextPageToken`.
Every call costs quota units (commentThreads.list: 1 unit; projects get 10,000 units a day, reset at
midnight Pacific time). The connector counts what it spends per day in its cursor and stops a walk
before `daily_quota_units` is used, leaving the rest for the next run; a 403 `quotaExceeded` becomes
`rate_limited` until the reset instead of looking like a rejected key. The key travels in the
`X-Goog-Api-Key` header, never in the URL (so it cannot end up in logs).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from pydantic import Field, SecretStr, model_validator

from connectors.http.base import HttpConnector, HttpSettings, parse_time
from connectors.http.client import Request, Response
from connectors.http.paging import BodyFieldPaginator
from monitor.kernel.types import BrandQuery, EngagementUpdate, FetchedMention, SourceError

PACIFIC = ZoneInfo("America/Los_Angeles")
COST_PER_CALL = 1  # commentThreads.list
LOOKUP_MAX = 50
LIST_KIND = "youtube#commentThreadListResponse"
THREAD_KIND = "youtube#commentThread"


class YouTubeSettings(HttpSettings):
    base_url: str = "https://www.googleapis.com"
    api_key: SecretStr
    channel_ids: list[str] = Field(default_factory=list, description="comments on all videos of these channels")
    video_ids: list[str] = Field(default_factory=list, description="comments on these videos")
    search_terms: bool = Field(False, description="only threads containing the brand terms (searchTerms)")
    daily_quota_units: int = Field(2_000, gt=0, description="this source's share of the project's daily quota")
    page_size: int = Field(100, gt=0, le=100)

    @model_validator(mode="after")
    def _something_to_read(self) -> YouTubeSettings:
        if not self.channel_ids and not self.video_ids:
            raise ValueError("give channel_ids and/or video_ids: YouTube has no site-wide comment search")
        return self


def thread_url(thread_id: str, video: str | None, channel: str | None) -> str | None:
    """Where a person reads the thread: the video with the comment highlighted (`lc`), or for a thread on
    the channel itself (no video; `allThreadsRelatedToChannelId` returns those too) the channel page with
    the same `lc` comment link."""
    comment = quote(str(thread_id), safe="")
    if video:
        return f"https://www.youtube.com/watch?v={quote(str(video), safe='')}&lc={comment}"
    if channel:
        return f"https://www.youtube.com/channel/{quote(str(channel), safe='')}?lc={comment}"
    return None


def quota_day(moment: datetime) -> str:
    """YouTube quota days run midnight to midnight Pacific time."""
    return moment.astimezone(PACIFIC).date().isoformat()


def seconds_to_quota_reset(moment: datetime) -> float:
    local = moment.astimezone(PACIFIC)
    midnight = (local + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return (midnight - local).total_seconds()


class YouTubeConnector(HttpConnector):
    name = "youtube"
    description = "YouTube comment threads on channels/videos (API key, quota-aware)"
    Settings = YouTubeSettings
    paginator = BodyFieldPaginator(("nextPageToken",))
    limits = (
        "comments only on the configured channels/videos: YouTube offers no site-wide comment search",
        "replies are counted (totalReplyCount) but not fetched as separate mentions",
        "each request spends daily quota (10,000 units per project by default)",
    )
    settings: YouTubeSettings

    def authenticate(self) -> dict[str, str]:
        return {"X-Goog-Api-Key": self.settings.api_key.get_secret_value()}

    def inspect_failure(self, response: Response) -> SourceError | None:
        try:
            errors = json.loads(response.body).get("error", {}).get("errors", [])
        except (ValueError, AttributeError):
            return None
        reasons = {e.get("reason") for e in errors if isinstance(e, dict)}
        if "quotaExceeded" in reasons or "dailyLimitExceeded" in reasons:
            wait = seconds_to_quota_reset(self.clock())
            return SourceError(
                "rate_limited", "youtube: daily quota exceeded; resets at midnight Pacific", retry_after=wait
            )
        if reasons & {"keyInvalid", "keyExpired", "accessNotConfigured", "ipRefererBlocked"}:
            return SourceError("auth", f"youtube: API key rejected ({', '.join(sorted(map(str, reasons)))})")
        if "commentsDisabled" in reasons:
            return SourceError("config", f"youtube: comments are disabled on a configured video ({response.url})")
        return None

    def spend(self, state: dict[str, Any], stream: str) -> str | None:
        day = quota_day(self.clock())
        quota = state.setdefault("quota", {})
        if quota.get("day") != day:
            quota.update(day=day, used=0)
        if quota["used"] + COST_PER_CALL > self.settings.daily_quota_units:
            return (
                f"daily quota budget of {self.settings.daily_quota_units} units spent; continues after the reset"
            )
        quota["used"] += COST_PER_CALL
        return None

    def streams(self, query: BrandQuery) -> Sequence[str]:
        return [
            *(f"channel:{c}" for c in self.settings.channel_ids),
            *(f"video:{v}" for v in self.settings.video_ids),
        ]

    def build_request(
        self, query: BrandQuery, stream: str, lower: datetime, upper: datetime, token: Any
    ) -> Request:
        kind, _, value = stream.partition(":")
        params: dict[str, Any] = {
            "part": "snippet",
            "order": "time",
            "textFormat": "plainText",
            "maxResults": self.settings.page_size,
            "pageToken": token,
        }
        params["allThreadsRelatedToChannelId" if kind == "channel" else "videoId"] = value
        if self.settings.search_terms:
            params["searchTerms"] = " ".join(query.terms)
        return Request(url=self.url("/youtube/v3/commentThreads"), params=params)

    def parse_page(self, body: Any, response: Response, stream: str) -> list[FetchedMention]:
        """A commentThreadListResponse, or a malformed answer: raised (so the walk stops here and the next
        page is not requested on the strength of an answer that was not read), never 0 posts silently."""
        items = body.get("items") if isinstance(body, dict) else None
        kind = body.get("kind", LIST_KIND) if isinstance(body, dict) else None
        if not isinstance(items, list) or kind != LIST_KIND:
            raise self.client.error(
                "malformed", f"not a comment thread list (kind {str(kind)[:60]!r}) ({response.url})"
            )
        return self.mentions_from(items, self.to_mention)

    def to_mention(self, thread: dict[str, Any]) -> FetchedMention | None:
        if thread.get("kind", THREAD_KIND) != THREAD_KIND or not isinstance(thread.get("snippet"), dict):
            raise ValueError(f"not a comment thread (kind {str(thread.get('kind'))[:40]!r})")
        snippet = thread["snippet"]
        top = (snippet.get("topLevelComment") or {}).get("snippet") or {}
        created = parse_time(top.get("publishedAt"))
        if not thread.get("id") or created is None:
            return None
        video = snippet.get("videoId") or top.get("videoId")
        channel = snippet.get("channelId") or top.get("channelId")
        return FetchedMention(
            external_id=thread["id"],
            text=top.get("textOriginal") or top.get("textDisplay") or "",
            created_at=created,
            url=thread_url(thread["id"], video, channel),
            author=top.get("authorDisplayName"),
            likes=top.get("likeCount"),
            replies=snippet.get("totalReplyCount"),
            parent_external_id=f"youtube:video:{video}" if video else None,
            raw={"video_id": video, "channel_id": snippet.get("channelId")},
        )

    def repoll(self, external_ids: Sequence[str]) -> Iterator[EngagementUpdate]:
        state: dict[str, Any] = {}
        for start in range(0, len(external_ids), LOOKUP_MAX):
            batch = list(external_ids[start : start + LOOKUP_MAX])
            if self.spend(state, "repoll"):
                return
            _, body = self.send(
                Request(
                    url=self.url("/youtube/v3/commentThreads"),
                    params={"part": "snippet", "id": ",".join(batch), "textFormat": "plainText"},
                )
            )
            threads = self.looked_up(body, "items")
            yield from self.lookup_updates(batch, threads, lambda t: t.get("id"), self._engagement)

    def _engagement(self, thread: dict[str, Any], now: datetime) -> EngagementUpdate:
        """One post's counts from a lookup answer (`lookup_updates` skips a post it cannot read)."""
        snippet = thread.get("snippet") or {}
        top = (snippet.get("topLevelComment") or {}).get("snippet") or {}
        return EngagementUpdate(
            external_id=thread["id"],
            observed_at=now,
            likes=top.get("likeCount"),
            replies=snippet.get("totalReplyCount"),
        )
