"""Fake Trustpilot API: business-unit reviews (page/perPage, next-page links) and single reviews."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fake_server import Call, Platform, Reply

from connectors.trustpilot import TrustpilotConnector
from monitor.kernel.types import BrandQuery

API_KEY = "tp-key-0a1b2c3d4e5f60718293a4b5"
UNIT = "46d6a890000064000500e0c3"


class TrustpilotPlatform(Platform):
    source = "trustpilot"
    deleted = "673d7a00f3c1e40a1b2c3d05"

    def handle(self, call: Call) -> Reply:
        if call.headers.get("apikey") != API_KEY:
            return Reply(
                401,
                {"fault": {"faultstring": "Invalid ApiKey", "detail": {"errorcode": "oauth.v2.InvalidApiKey"}}},
            )
        reviews = self.fixture("reviews.json")["reviews"]
        if call.path == f"/v1/business-units/{UNIT}/reviews" or call.path.startswith("/v1/business-units/"):
            if call.param("orderBy") != "createdat.desc":
                return Reply(400, {"message": "orderBy must be createdat.desc in this fake"})
            items = reviews if call.path.endswith(f"{UNIT}/reviews") else []
            per_page = int(call.param("perPage") or 20)
            page = 1 if self.ignore_paging else int(call.param("page") or 1)
            chunk = items[(page - 1) * per_page : page * per_page]
            links = []
            if page * per_page < len(items):
                links.append(
                    {
                        "href": f"{self.base_url}{call.path}?page={page + 1}&perPage={per_page}",
                        "method": "GET",
                        "rel": "next-page",
                    }
                )
            return Reply(200, {"links": links, "reviews": chunk})
        if call.path.startswith("/v1/reviews/"):
            review_id = call.path.rsplit("/", 1)[1]
            found = [r for r in reviews if r["id"] == review_id and review_id != self.deleted]
            return Reply(200, found[0]) if found else Reply(404, {"message": "Review not found"})
        return Reply(404, {"message": "Not found"})


def case() -> dict[str, Any]:
    reviews = TrustpilotPlatform().fixture("reviews.json")["reviews"]
    return {
        "name": "trustpilot",
        "connector": TrustpilotConnector,
        "platform": TrustpilotPlatform,
        "settings": {"api_key": API_KEY, "business_unit_ids": [UNIT], "page_size": 2},
        "empty_settings": {"business_unit_ids": ["000000000000000000000000"]},
        "secret": API_KEY,
        "bad_credentials": {"api_key": "tp-wrong-key-000000"},
        "query": BrandQuery(brand="Telia", terms=("Telia",)),
        "empty_query": BrandQuery(brand="Telia", terms=("Telia",)),
        "expected_ids": {r["id"] for r in reviews},
        "texts": (
            "Värsta kundtjänsten 😡",
            "ordnede alt på 10 minutter 👍",
            "Ærlig talt",
            "ローミングは問題なし ✨",
            "поддержка медленная 🐢",
        ),
        "sparse_id": "673d8e70f3c1e40a1b2c3d04",
        "sparse_expect": {"title": None, "language": None, "likes": None},
        "repoll_ids": ["673db1a2f3c1e40a1b2c3d01", "673da9c8f3c1e40a1b2c3d02"],
        "deleted_id": TrustpilotPlatform.deleted,
        "now": datetime(2026, 11, 20, 12, 0, tzinfo=UTC),
    }
