"""Fake X API v2: recent search (query, start/end_time, max_results 10-100, next_token) and lookup."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fake_server import Call, Platform, Reply

from connectors.http.base import parse_time
from connectors.x import XConnector
from monitor.kernel.types import BrandQuery

BEARER = (
    "AAAAAAAAAAAAAAAAAAAAAMLheAAAAAAA0%2BuSeid%2BULvsea4JtiGRiSDSJSI%3D"
    "EUifiRBkKG5E2XzMDjRfl76ZC9Ub0wnz4XsNiRVBChTYbJcE3F"
)


class XPlatform(Platform):
    source = "x"
    deleted = "1859226543210000005"

    def _problem(self, status: int, title: str, detail: str) -> Reply:
        return Reply(status, {"title": title, "detail": detail, "type": "about:blank", "status": status})

    def handle(self, call: Call) -> Reply:
        if call.headers.get("authorization") != f"Bearer {BEARER}":
            return self._problem(401, "Unauthorized", "Unauthorized")
        fixture = self.fixture("search_recent_telia.json")
        if call.path == "/2/tweets/search/recent":
            size = int(call.param("max_results") or 10)
            if not 10 <= size <= 100:
                return Reply(
                    400,
                    {
                        "errors": [
                            {
                                "parameters": {"max_results": [str(size)]},
                                "message": "The `max_results` query parameter value is not between 10 and 100",
                            }
                        ],
                        "title": "Invalid Request",
                        "detail": "One or more parameters to your request was invalid.",
                        "type": "https://api.twitter.com/2/problems/invalid-request",
                    },
                )
            posts = fixture["data"] if call.param("query") == '"telia" -is:retweet' else []
            start, end = parse_time(call.param("start_time")), parse_time(call.param("end_time"))
            posts = [p for p in posts if start <= parse_time(p["created_at"]) < end]
            offset = 0 if self.ignore_paging else int(call.param("next_token") or 0)
            per_page = 2  # X may return fewer than max_results per page: the fake pages by two
            page = posts[offset : offset + per_page]
            meta: dict[str, Any] = {"result_count": len(page)}
            if page:
                meta.update(newest_id=page[0]["id"], oldest_id=page[-1]["id"])
            if offset + per_page < len(posts):
                meta["next_token"] = str(offset + per_page)
            body: dict[str, Any] = {"meta": meta}
            if page:
                ids = {p["author_id"] for p in page}
                body["data"] = page
                body["includes"] = {"users": [u for u in fixture["includes"]["users"] if u["id"] in ids]}
            return Reply(
                200,
                body,
                {"x-rate-limit-limit": "450", "x-rate-limit-remaining": "449", "x-rate-limit-reset": "1795176000"},
            )
        if call.path == "/2/tweets":
            ids = (call.param("ids") or "").split(",")
            found = [p for p in fixture["data"] if p["id"] in ids and p["id"] != self.deleted]
            missing = [i for i in ids if i not in {p["id"] for p in found}]
            body = {"data": found} if found else {}
            if missing:
                body["errors"] = [
                    {
                        "value": i,
                        "detail": f"Could not find tweet with ids: [{i}].",
                        "title": "Not Found Error",
                        "resource_type": "tweet",
                        "parameter": "ids",
                        "resource_id": i,
                        "type": "https://api.twitter.com/2/problems/resource-not-found",
                    }
                    for i in missing
                ]
            return Reply(200, body)
        return self._problem(404, "Not Found Error", "no such endpoint")


def case() -> dict[str, Any]:
    data = XPlatform().fixture("search_recent_telia.json")["data"]
    return {
        "name": "x",
        "connector": XConnector,
        "platform": XPlatform,
        "settings": {"bearer_token": BEARER, "page_size": 10},
        "secret": BEARER,
        "bad_credentials": {"bearer_token": "AAAA-wrong-bearer-token"},
        "query": BrandQuery(brand="Telia", terms=("telia",)),
        "empty_query": BrandQuery(brand="Nobody", terms=("zzzznothing",)),
        "expected_ids": {p["id"] for p in data},
        "texts": (
            "nere i hela Malmö?? 😡",
            "Respekt 👏",
            "スウェーデン旅行で大活躍 🇸🇪",
            "Телиа снова подняла цены 💸",
        ),
        "sparse_id": "1859227654321000004",
        "sparse_expect": {"likes": None, "language": None, "reposts": None},
        "repoll_ids": ["1859231234567890001", "1859229876543210002"],
        "deleted_id": XPlatform.deleted,
        "now": datetime(2026, 11, 20, 12, 0, tzinfo=UTC),
    }
