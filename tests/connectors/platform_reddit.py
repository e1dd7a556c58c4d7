"""Fake Reddit: client-credentials token endpoint, /search, /r/:sub/comments, /api/info, X-Ratelimit-*."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

from fake_server import Call, Platform, Reply

from connectors.reddit import RedditConnector
from monitor.kernel.types import BrandQuery

CLIENT_ID = "p-jcoLKBynTLew"
CLIENT_SECRET = "gko_LXELoV07ZBNUXrvWZfzE3aI"
USER_AGENT = "server:repmon-tests:0.1 (by /u/repmon_ci)"


class RedditPlatform(Platform):
    source = "reddit"
    deleted = "t1_lyk39zz"

    def __init__(self) -> None:
        super().__init__()
        self.remaining = 600.0
        self.reset = 420.0

    def is_data(self, call: Call) -> bool:
        return call.path != "/api/v1/access_token"

    def _things(self, name: str) -> list[dict[str, Any]]:
        return self.fixture(name)["data"]["children"]

    def _listing(self, things: list[dict[str, Any]], call: Call) -> Reply:
        things = sorted(things, key=lambda t: t["data"]["created_utc"], reverse=True)
        after = None if self.ignore_paging else call.param("after")
        if after:
            names = [t["data"]["name"] for t in things]
            things = things[names.index(after) + 1 :] if after in names else []
        limit = int(call.param("limit") or 25)
        page = things[:limit]
        next_after = page[-1]["data"]["name"] if len(things) > limit else None
        body = {
            "kind": "Listing",
            "data": {
                "after": next_after,
                "dist": len(page),
                "modhash": "",
                "geo_filter": "",
                "children": page,
                "before": None,
            },
        }
        return self._metered(Reply(200, body))

    def _metered(self, reply: Reply) -> Reply:
        self.remaining -= 1
        reply.headers.update(
            {
                "X-Ratelimit-Used": str(int(600 - self.remaining)),
                "X-Ratelimit-Remaining": f"{self.remaining:.1f}",
                "X-Ratelimit-Reset": str(int(self.reset)),
            }
        )
        return reply

    def handle(self, call: Call) -> Reply:
        if call.path == "/api/v1/access_token":
            expected = "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
            form = parse_qs(call.body.decode())
            if call.headers.get("authorization") != expected:
                return Reply(401, {"message": "Unauthorized", "error": 401})
            if form.get("grant_type") != ["client_credentials"]:
                return Reply(200, {"error": "unsupported_grant_type"})
            return Reply(200, self.fixture("access_token.json"))
        if call.headers.get("authorization") != f"bearer {self.fixture('access_token.json')['access_token']}":
            return Reply(401, {"message": "Unauthorized", "error": 401})
        if not call.headers.get("user-agent", "").endswith("(by /u/repmon_ci)"):
            return Reply(
                429, {"message": "Too Many Requests", "error": 429}
            )  # what Reddit does to anonymous agents
        if call.path == "/search":
            q = (call.param("q") or "").lower()
            return self._listing(self._things("search_telia.json") if q == "telia" else [], call)
        if call.path == "/r/sweden/comments":
            return self._listing(self._things("comments_sweden.json"), call)
        if call.path == "/api/info":
            wanted = (call.param("id") or "").split(",")
            if len(wanted) > 100:
                return Reply(400, {"message": "Bad Request", "error": 400})
            every = self._things("search_telia.json") + self._things("comments_sweden.json")
            found = [t for t in every if t["data"]["name"] in wanted and t["data"]["name"] != self.deleted]
            return self._metered(Reply(200, {"kind": "Listing", "data": {"after": None, "children": found}}))
        return Reply(404, {"message": "Not Found", "error": 404})


def case() -> dict[str, Any]:
    p = RedditPlatform()
    things = p._things("search_telia.json") + p._things("comments_sweden.json")
    return {
        "name": "reddit",
        "connector": RedditConnector,
        "platform": RedditPlatform,
        "settings": lambda url: {
            "auth_url": url,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "user_agent": USER_AGENT,
            "subreddits": ["sweden"],
            "page_size": 2,
        },
        "empty_settings": {"subreddits": []},
        "secret": CLIENT_SECRET,
        "bad_credentials": {"client_secret": "wrong-secret-value-123"},
        "query": BrandQuery(brand="Telia", terms=("telia",)),
        "empty_query": BrandQuery(brand="Nobody", terms=("zzzznothing",)),
        "expected_ids": {t["data"]["name"] for t in things},
        "texts": (
            "nere i hela Göteborg sedan 09 😤",
            "er blevet meget bedre 👏",
            "Teliaのローミング",
            "Телиа и 5G",
        ),
        "sparse_id": "t3_1gx78k2",
        "sparse_expect": {"text": "Telia vs Telenor dekning på hytta?", "links": ()},
        "repoll_ids": ["t3_1gx7a1b", "t1_lyk3a01"],
        "deleted_id": RedditPlatform.deleted,
        "now": datetime(2026, 11, 20, 12, 0, tzinfo=UTC),
    }
