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


# What production accepts on GET /2/tweets/search/recent: the parameters of `latest-openapi.json` (2.159)
# and docs.x.com (`tweet.fields`). An unknown parameter is refused with a 400 naming it, as X does.
SEARCH_PARAMS = frozenset(
    {
        "query", "start_time", "end_time", "since_id", "until_id", "max_results", "next_token",
        "pagination_token", "sort_order", "tweet.fields", "expansions", "media.fields", "poll.fields",
        "user.fields", "place.fields",
    }
)  # fmt: skip
DEFAULT_FIELDS = ("id", "text", "edit_history_tweet_ids")  # what a post has when no fields are requested


class XPlatform(Platform):
    source = "x"
    deleted = "1859226543210000005"

    def __init__(self) -> None:
        super().__init__()
        self.reject_unknown = True  # False: ignore unknown parameters (and so answer with default fields)
        self.fields_param = "tweet.fields"  # the name this "production" honours

    def _unknown(self, call: Call) -> Reply | None:
        unknown = sorted(set(call.query) - SEARCH_PARAMS - {self.fields_param})
        if not unknown or not self.reject_unknown:
            return None
        name, known = unknown[0], ",".join(sorted(SEARCH_PARAMS))
        return Reply(
            400,
            {
                "errors": [
                    {
                        "parameters": {name: call.query[name]},
                        "message": f"The query parameter [{name}] is not one of [{known}]",
                    }
                ],
                "title": "Invalid Request",
                "detail": "One or more parameters to your request was invalid.",
                "type": "https://api.twitter.com/2/problems/invalid-request",
            },
        )

    def _fields(self, call: Call, post: dict[str, Any]) -> dict[str, Any]:
        """Only the fields asked for, by the parameter name this server honours (X's documented default)."""
        wanted = set((call.param(self.fields_param) or "").split(",")) | set(DEFAULT_FIELDS)
        return {k: v for k, v in post.items() if k in wanted}

    def _problem(self, status: int, title: str, detail: str) -> Reply:
        return Reply(status, {"title": title, "detail": detail, "type": "about:blank", "status": status})

    def handle(self, call: Call) -> Reply:
        if call.headers.get("authorization") != f"Bearer {BEARER}":
            return self._problem(401, "Unauthorized", "Unauthorized")
        fixture = self.fixture("search_recent_telia.json")
        if call.path == "/2/tweets/search/recent":
            if refused := self._unknown(call):
                return refused
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
                body["data"] = [self._fields(call, p) for p in page]
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
