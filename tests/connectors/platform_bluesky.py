"""Fake Bluesky PDS: createSession, searchPosts (cursor paging, since/until), getPosts."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fake_server import Call, Platform, Reply

from connectors.bluesky import BlueskyConnector
from connectors.http.base import parse_time
from monitor.kernel.types import BrandQuery

PASSWORD = "abcd-efgh-ijkl-mnop"
IDENTIFIER = "monitor.bsky.social"


class BlueskyPlatform(Platform):
    source = "bluesky"
    deleted_uri = "at://did:plc:ewvi7nxzyoun6zhxrhs64oiz/app.bsky.feed.post/3lbx1dqkxbs2f"

    def is_data(self, call: Call) -> bool:
        return call.path != "/xrpc/com.atproto.server.createSession"

    def _posts(self) -> list[dict[str, Any]]:
        return self.fixture("search_telia.json")["posts"]

    def handle(self, call: Call) -> Reply:
        session = self.fixture("create_session.json")
        if call.path == "/xrpc/com.atproto.server.createSession":
            import json

            body = json.loads(call.body or b"{}")
            if body.get("identifier") != IDENTIFIER or body.get("password") != PASSWORD:
                return Reply(401, {"error": "AuthenticationRequired", "message": "Invalid identifier or password"})
            return Reply(200, session)
        if call.headers.get("authorization") != f"Bearer {session['accessJwt']}":
            return Reply(401, {"error": "AuthenticationRequired", "message": "Authentication Required"})
        if call.path == "/xrpc/app.bsky.feed.searchPosts":
            q = (call.param("q") or "").lower()
            posts = [p for p in self._posts() if q == "telia"]
            since, until = parse_time(call.param("since")), parse_time(call.param("until"))
            posts = [
                p
                for p in posts
                if (since is None or parse_time(p["record"]["createdAt"]) >= since)
                and (until is None or parse_time(p["record"]["createdAt"]) < until)
            ]
            posts.sort(key=lambda p: p["record"]["createdAt"], reverse=True)
            offset = 0 if self.ignore_paging else int(call.param("cursor") or 0)
            limit = int(call.param("limit") or 25)
            page = posts[offset : offset + limit]
            answer: dict[str, Any] = {"posts": page, "hitsTotal": len(posts)}
            if offset + limit < len(posts):
                answer["cursor"] = str(offset + limit)
            return Reply(200, answer)
        if call.path == "/xrpc/app.bsky.feed.getPosts":
            uris = call.query.get("uris", [])
            if len(uris) > 25:
                return Reply(
                    400, {"error": "InvalidRequest", "message": "uris must not have more than 25 elements"}
                )
            return Reply(
                200, {"posts": [p for p in self._posts() if p["uri"] in uris and p["uri"] != self.deleted_uri]}
            )
        return Reply(501, {"error": "MethodNotImplemented", "message": "Method Not Implemented"})


def case() -> dict[str, Any]:
    posts = BlueskyPlatform().fixture("search_telia.json")["posts"]
    return {
        "name": "bluesky",
        "connector": BlueskyConnector,
        "platform": BlueskyPlatform,
        "settings": {"identifier": IDENTIFIER, "app_password": PASSWORD, "page_size": 2},
        "secret": PASSWORD,
        "bad_credentials": {"app_password": "zzzz-wrong-pass-word"},
        "query": BrandQuery(brand="Telia", terms=("telia",)),
        "empty_query": BrandQuery(brand="Nobody", terms=("zzzznothing",)),
        "expected_ids": {p["uri"] for p in posts},
        "texts": (
            "legat nere hela morgonen 😤",
            "telefonkø. Ikke okay 👎",
            "すごく便利でした 🇸🇪✨",
            "роуминг — дорого 💸",
        ),
        "sparse_id": "at://did:plc:4k7kq3uq5ckvqr5xqm2kz7ya/app.bsky.feed.post/3lbx1p2o4fc2e",
        "sparse_expect": {"language": None, "likes": None, "reposts": None, "replies": None},
        "repoll_ids": [posts[0]["uri"], posts[1]["uri"]],
        "deleted_id": BlueskyPlatform.deleted_uri,
        "now": datetime(2026, 11, 20, 12, 0, tzinfo=UTC),
    }
