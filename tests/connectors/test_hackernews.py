"""Hacker News specifics: sliding windows past Algolia's hit cap, HTML comments to text."""

from __future__ import annotations

from fake_server import FakeServer
from platform_hackernews import PAGINATION_LIMIT, HackerNewsPlatform, case

from connectors.hackernews import HackerNewsConnector


def test_slides_windows_past_the_hit_cap_and_reports_it() -> None:
    c = case()
    with FakeServer(HackerNewsPlatform()) as server:
        connector = HackerNewsConnector(
            {"base_url": server.url, "allow_private_network": True, "page_size": 2, "initial_lookback_hours": 48},
            clock=lambda: c["now"],
        )
        pages = list(connector.fetch(c["query"], None))
        page_params = [call.param("numericFilters") for call in server.calls]
    found = [m.external_id for p in pages for m in p.mentions]
    assert len(c["expected_ids"]) > PAGINATION_LIMIT
    assert sorted(found) == sorted(c["expected_ids"])
    assert any("1000-hit cap" in note for p in pages for note in p.notes)
    assert len(set(page_params)) >= 2, "the upper bound of the window moved"


def test_comment_html_becomes_text_with_story_parent() -> None:
    c = case()
    with FakeServer(HackerNewsPlatform()) as server:
        connector = HackerNewsConnector(
            {"base_url": server.url, "allow_private_network": True, "initial_lookback_hours": 48},
            clock=lambda: c["now"],
        )
        found = {m.external_id: m for p in connector.fetch(c["query"], None) for m in p.mentions}
    assert (
        found["42170031"].text
        == "In Norway: Telia-kundeservice sa det var <planlagt vedlikehold>.\n\nIkke riktig."
    )
    assert found["42170031"].parent_external_id == "42170020"
    assert found["42170001"].title and found["42170001"].likes == 212
    assert found["42169900"].links == ("https://status.example.org",)
    assert found["42170001"].url == "https://news.ycombinator.com/item?id=42170001"
