"""Fake YouTube Data API: commentThreads.list by channel, video or ids; API key in X-Goog-Api-Key."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fake_server import Call, Platform, Reply

from connectors.youtube import YouTubeConnector
from monitor.kernel.types import BrandQuery

API_KEY = "AIzaSyD-test-key-0123456789abcdefghijk"
CHANNEL = "UCfV36TX5AejfAGIbtwTc7Zw"


class YouTubePlatform(Platform):
    source = "youtube"
    deleted = "UgzX1telia0005AaBbCc4AaABAg"

    def _error(self, code: int, reason: str, message: str) -> Reply:
        return Reply(
            code,
            {
                "error": {
                    "code": code,
                    "message": message,
                    "errors": [{"message": message, "domain": "global", "reason": reason}],
                }
            },
        )

    def handle(self, call: Call) -> Reply:
        if call.param("key") is not None:
            return self._error(400, "badRequest", "the key belongs in the header in this fake")
        if call.headers.get("x-goog-api-key") != API_KEY:
            return self._error(400, "keyInvalid", "API key not valid. Please pass a valid API key.")
        if call.path != "/youtube/v3/commentThreads" or call.param("part") != "snippet":
            return self._error(404, "notFound", "Not Found")
        items = self.fixture("comment_threads.json")["items"]
        if call.param("id"):
            wanted = call.param("id").split(",")
            found = [t for t in items if t["id"] in wanted and t["id"] != self.deleted]
            return Reply(
                200,
                {
                    "kind": "youtube#commentThreadListResponse",
                    "etag": "x",
                    "pageInfo": {"totalResults": len(found), "resultsPerPage": 20},
                    "items": found,
                },
            )
        if call.param("allThreadsRelatedToChannelId") not in (None, CHANNEL):
            items = []
        if call.param("videoId") is not None:
            items = [t for t in items if t["snippet"]["videoId"] == call.param("videoId")]
        per_page = int(call.param("maxResults") or 20)
        start = 0 if self.ignore_paging else int(call.param("pageToken") or "0")
        page = items[start : start + per_page]
        body: dict[str, Any] = {
            "kind": "youtube#commentThreadListResponse",
            "etag": "p",
            "pageInfo": {"totalResults": len(items), "resultsPerPage": per_page},
            "items": page,
        }
        if start + per_page < len(items):
            body["nextPageToken"] = str(start + per_page)  # opaque to the client
        return Reply(200, body)


def case() -> dict[str, Any]:
    items = YouTubePlatform().fixture("comment_threads.json")["items"]
    return {
        "name": "youtube",
        "connector": YouTubeConnector,
        "platform": YouTubePlatform,
        "settings": {"api_key": API_KEY, "channel_ids": [CHANNEL], "page_size": 2},
        "empty_settings": {"channel_ids": ["UCnobody0000000000000000"]},
        "secret": API_KEY,
        "bad_credentials": {"api_key": "AIzaSy-wrong-key-value"},
        "query": BrandQuery(brand="Telia", terms=("Telia",)),
        "empty_query": BrandQuery(brand="Telia", terms=("Telia",)),
        "expected_ids": {t["id"] for t in items},
        "texts": (
            "obegränsad surf? 😡",
            "Telia-kundeservice hjalp mig",
            "Tromsø",
            "テリアの5Gは速いですね 🚀",
            "Телиа — лучший",
        ),
        "sparse_id": "UgzX1telia0004AaBbCc4AaABAg",
        "sparse_expect": {"likes": 0, "replies": 0, "author": "@tokyo"},
        "repoll_ids": ["UgzX1telia0001AaBbCc4AaABAg", "UgzX1telia0002AaBbCc4AaABAg"],
        "deleted_id": YouTubePlatform.deleted,
        "now": datetime(2026, 11, 20, 12, 0, tzinfo=UTC),
    }
