"""Fake Algolia HN Search: search_by_date with numericFilters, pages, and a (small) pagination cap."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Any

from fake_server import Call, Platform, Reply

from connectors.hackernews import HackerNewsConnector
from monitor.kernel.types import BrandQuery

PAGINATION_LIMIT = 4  # Algolia's is 1,000 hits; 4 lets the tests cross it with a handful of hits


class HackerNewsPlatform(Platform):
    source = "hackernews"
    deleted_id = "42169950"

    def _hits(self) -> list[dict[str, Any]]:
        return self.fixture("search_by_date_telia.json")["hits"]

    def handle(self, call: Call) -> Reply:
        if call.path == "/api/v1/search_by_date":
            query = (call.param("query") or "").lower()
            hits = [h for h in self._hits() if query == "telia"]
            for field, op, value in re.findall(r"(\w+)(>=|<=|<|>|=)(\d+)", call.param("numericFilters") or ""):
                compare = {">=": int.__ge__, "<=": int.__le__, "<": int.__lt__, ">": int.__gt__, "=": int.__eq__}
                hits = [h for h in hits if compare[op](int(h[field]), int(value))]
            hits.sort(key=lambda h: h["created_at_i"], reverse=True)
            per_page = int(call.param("hitsPerPage") or 20)
            page = 0 if self.ignore_paging else int(call.param("page") or 0)
            reachable = hits[:PAGINATION_LIMIT]
            pages = math.ceil(len(reachable) / per_page)
            body = {
                "hits": reachable[page * per_page : (page + 1) * per_page],
                "nbHits": len(hits),
                "page": page,
                "nbPages": pages,
                "hitsPerPage": per_page,
                "exhaustiveNbHits": True,
                "query": query,
                "params": call.query and "&".join(f"{k}={v[0]}" for k, v in call.query.items()),
                "processingTimeMS": 1,
            }
            if self.ignore_paging:
                body["nbPages"] = 99
            return Reply(200, body)
        if call.path.startswith("/api/v1/items/"):
            item_id = call.path.rsplit("/", 1)[1]
            hit = next((h for h in self._hits() if h["objectID"] == item_id and item_id != self.deleted_id), None)
            if hit is None:
                return Reply(404, {"status": 404, "error": "Not Found"})
            return Reply(
                200,
                {
                    "id": int(item_id),
                    "author": hit["author"],
                    "type": hit["_tags"][0],
                    "points": hit.get("points"),
                    "children": [],
                    "created_at_i": hit["created_at_i"],
                },
            )
        return Reply(404, {"status": 404, "error": "Not Found"})


def case() -> dict[str, Any]:
    hits = HackerNewsPlatform().fixture("search_by_date_telia.json")["hits"]
    return {
        "name": "hackernews",
        "connector": HackerNewsConnector,
        "platform": HackerNewsPlatform,
        "settings": {"page_size": 2},
        "secret": "no-secret-for-hn-search",
        "bad_credentials": {},
        "query": BrandQuery(brand="Telia", terms=("telia",)),
        "empty_query": BrandQuery(brand="Nobody", terms=("zzzznothing",)),
        "expected_ids": {h["objectID"] for h in hits},
        "texts": (
            'status page said "all green" the whole time. Classic 🙃',
            "テリアの障害",
            "Телия — хорошая сеть",
            "sa det var <planlagt vedlikehold>.",
        ),
        "sparse_id": "42170044",
        "sparse_expect": {"likes": None, "title": None, "parent_external_id": "42170001"},
        "repoll_ids": ["42170001", "42169900"],
        "deleted_id": HackerNewsPlatform.deleted_id,
        "now": datetime(2026, 11, 20, 12, 0, tzinfo=UTC),
    }
