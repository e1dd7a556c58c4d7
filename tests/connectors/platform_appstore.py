"""Fake iTunes customer-reviews feed: per-storefront pages of 50, ten pages at most."""

from __future__ import annotations

import copy
import re
from datetime import UTC, datetime
from typing import Any

from fake_server import FIXTURES, Call, Platform, Reply

from connectors.appstore import AppStoreConnector
from monitor.kernel.types import BrandQuery

APP_ID = "1044226337"
PATH = re.compile(
    r"^/(?P<cc>[a-z]{2})/rss/customerreviews/page=(?P<page>\d+)/id=(?P<app>\d+)/sortby=mostrecent/json$"
)


class AppStorePlatform(Platform):
    source = "appstore"

    def __init__(self, generated: dict[str, list[dict[str, Any]]] | None = None) -> None:
        super().__init__()
        self.generated = generated or {}  # storefront -> entries (for the 10-page limit test)

    def entries(self, country: str) -> list[Any]:
        if country in self.generated:
            return self.generated[country]
        path = FIXTURES / "appstore" / f"{country}_page1.json"
        if not path.exists():
            return []
        entries = self.fixture(path.name)["feed"].get("entry", [])
        return entries if isinstance(entries, list) else [entries]

    def handle(self, call: Call) -> Reply:
        match = PATH.match(call.path)
        if not match or match["app"] != APP_ID:
            return Reply(400, b"<html>Bad Request</html>", {"Content-Type": "text/html"})
        page = 1 if self.ignore_paging else int(match["page"])
        if page > 10:
            return Reply(400, b"CustomerReviews RSS page depth is limited to 10", {"Content-Type": "text/plain"})
        country = match["cc"]
        fixture = f"{country}_page1.json"
        if page == 1 and (FIXTURES / "appstore" / fixture).exists() and country not in self.generated:
            return Reply(200, self.fixture(fixture))  # served exactly as recorded (quirks included)
        body = copy.deepcopy(self.fixture("empty_page.json"))
        chunk = self.entries(country)[(page - 1) * 50 : page * 50]
        if chunk:
            body["feed"]["entry"] = chunk
        return Reply(200, body)


def case() -> dict[str, Any]:
    platform = AppStorePlatform()
    ids = {e["id"]["label"] for cc in ("se", "dk", "no") for e in platform.entries(cc) if "im:rating" in e}
    return {
        "name": "appstore",
        "connector": AppStoreConnector,
        "platform": AppStorePlatform,
        "settings": {"app_id": APP_ID, "countries": ["se", "dk", "no"]},
        "empty_settings": {"countries": ["fi"]},
        "secret": "no-secret-for-app-store",
        "bad_credentials": {},
        "repoll": False,
        "query": BrandQuery(brand="Telia", terms=("Telia",)),
        "empty_query": BrandQuery(brand="Telia", terms=("Telia",)),
        "expected_ids": ids,
        "texts": ("Kraschar vid inloggning 😡", "Ventede 40 minutter i telefonkø. Æv! 😤", "日本語 works too ✨"),
        "sparse_id": "11893400004",
        "sparse_expect": {"likes": None, "url": None, "rating": 3},
        "now": datetime(2026, 11, 20, 12, 0, tzinfo=UTC),
    }
