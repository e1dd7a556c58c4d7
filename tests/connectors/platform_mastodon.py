"""Fake Mastodon instance: /api/v2/search, /api/v1/timelines/tag/:tag, /api/v1/statuses/:id."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fake_server import FIXTURES, Call, Platform, Reply

from connectors.mastodon import MastodonConnector
from monitor.kernel.types import BrandQuery

TOKEN = "mastodon-secret-token-123"


class MastodonPlatform(Platform):
    source = "mastodon"
    deleted_id = "117648339763200007"

    def _page(self, statuses: list[dict[str, Any]], call: Call) -> list[dict[str, Any]]:
        limit = min(int(call.param("limit", "20") or 20), 40)
        items = sorted(statuses, key=lambda s: int(s["id"]), reverse=True)
        max_id = call.param("max_id")
        if max_id and not self.ignore_paging:
            items = [s for s in items if int(s["id"]) < int(max_id)]
        return items[:limit]

    def handle(self, call: Call) -> Reply:
        auth = call.headers.get("authorization")
        if call.path == "/api/v2/search":
            if auth != f"Bearer {TOKEN}":
                # Real instances answer 401 for status search without a valid token.
                return Reply(401, {"error": f"The access token is invalid ({auth})"})
            if call.param("type") != "statuses":
                return Reply(422, {"error": "type must be statuses in this fake"})
            path = FIXTURES / "mastodon" / f"search_{(call.param('q') or '').lower()}.json"
            statuses = self.fixture(path.name)["statuses"] if path.exists() else []
            return Reply(200, {"accounts": [], "statuses": self._page(statuses, call), "hashtags": []})
        if call.path.startswith("/api/v1/timelines/tag/"):
            tag = call.path.rsplit("/", 1)[1]
            path = FIXTURES / "mastodon" / f"tag_{tag.lower()}.json"
            page = self._page(self.fixture(path.name) if path.exists() else [], call)
            headers = {}
            if page:
                base = f"{self.base_url}/api/v1/timelines/tag/{tag}"
                headers["Link"] = (
                    f'<{base}?max_id={page[-1]["id"]}&limit={call.param("limit")}>; rel="next", '
                    f'<{base}?min_id={page[0]["id"]}>; rel="prev"'
                )
            return Reply(200, page, headers)
        if call.path.startswith("/api/v1/statuses/"):
            status_id = call.path.rsplit("/", 1)[1]
            everything = self.fixture("search_telia.json")["statuses"] + self.fixture("tag_telia.json")
            found = [s for s in everything if s["id"] == status_id and s["id"] != self.deleted_id]
            return Reply(200, found[0]) if found else Reply(404, {"error": "Record not found"})
        return Reply(404, {"error": "Not found"})


def case() -> dict[str, Any]:
    search = MastodonPlatform().fixture("search_telia.json")["statuses"]
    tag = MastodonPlatform().fixture("tag_telia.json")
    return {
        "name": "mastodon",
        "connector": MastodonConnector,
        "platform": MastodonPlatform,
        "settings": {"access_token": TOKEN, "hashtags": ["telia"], "page_size": 3},
        "secret": TOKEN,
        "bad_credentials": {"access_token": "wrong-token-xyz"},
        "query": BrandQuery(brand="Telia", terms=("telia",)),
        "empty_settings": {"hashtags": ["nothingtagged"]},
        "empty_query": BrandQuery(brand="Nobody", terms=("zzzznothing",)),
        "expected_ids": {s["id"] for s in search + tag},
        "texts": ("kö i 45 minuter nu 😡", "Ærlig talt", "Teliaのローミング", "Телиа: роуминг", "🎉 takk!"),
        "sparse_id": "117648398745600006",  # status without language, url, card, application …
        "sparse_expect": {"language": None, "quotes": None, "parent_external_id": None, "links": ()},
        "repoll_ids": ["117648615014400001", "117648575692800002"],
        "deleted_id": MastodonPlatform.deleted_id,
        "now": datetime(2026, 11, 20, 12, 0, tzinfo=UTC),
    }
