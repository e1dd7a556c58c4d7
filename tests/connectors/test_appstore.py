"""App Store specifics: star ratings, the 10-page depth limit reported as coverage."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

from fake_server import FakeServer
from platform_appstore import APP_ID, AppStorePlatform, case

from connectors.appstore import AppStoreConnector

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def _connector(url: str, countries: list[str]) -> AppStoreConnector:
    return AppStoreConnector(
        {
            "base_url": url,
            "allow_private_network": True,
            "app_id": APP_ID,
            "countries": countries,
            "initial_lookback_hours": 24 * 30,
        },
        clock=lambda: NOW,
    )


def test_ratings_titles_and_quirks() -> None:
    with FakeServer(AppStorePlatform()) as server:
        found = {
            m.external_id: m
            for p in _connector(server.url, ["se", "dk"]).fetch(case()["query"], None)
            for m in p.mentions
        }
    assert found["11893400001"].rating == 1 and found["11893400002"].rating == 5
    assert found["11893400001"].title == "Kraschar vid inloggning 😡"
    assert found["11893400001"].created_at == datetime(2026, 11, 20, 10, 41, tzinfo=UTC)  # -07:00 converted
    assert "11893500001" in found, "a single review arrives as an object, not a list"
    assert len([m for m in found.values() if m.external_id.startswith("118934")]) == 4, "app entry skipped"


def test_page_depth_limit_is_reported() -> None:
    template = AppStorePlatform().entries("se")[1]
    generated = []
    for i in range(520):  # more than 10 pages of 50, one review an hour
        entry = copy.deepcopy(template)
        entry["id"]["label"] = str(12000000000 + i)
        entry["updated"]["label"] = (NOW - timedelta(hours=i + 1)).isoformat()
        generated.append(entry)
    with FakeServer(AppStorePlatform({"fi": generated})) as server:
        pages = list(_connector(server.url, ["fi"]).fetch(case()["query"], None))
        requested = [c.path for c in server.calls]
    assert len(requested) == 10 and requested[-1].startswith("/fi/rss/customerreviews/page=10/")
    assert sum(len(p.mentions) for p in pages) == 500
    assert any("page 10 (500 most recent reviews)" in note for p in pages for note in p.notes)
