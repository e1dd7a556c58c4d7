"""Hacker News specifics: sliding windows past Algolia's hit cap, HTML comments to text."""

from __future__ import annotations

import pytest
from fake_server import FakeServer, Reply
from platform_hackernews import PAGINATION_LIMIT, HackerNewsPlatform, case

from connectors.hackernews import HackerNewsConnector
from monitor.kernel.types import SourceError


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


class _OneHitFrom1970(HackerNewsPlatform):
    """Answers the last page of the first window with one extra hit dated 1970 (outside the window asked for)."""

    injected = False

    def handle(self, call):  # type: ignore[no-untyped-def]
        reply = super().handle(call)
        if call.path == "/api/v1/search_by_date" and call.param("page") == "1" and not self.injected:
            self.injected = True
            reply.body["hits"].append(dict(reply.body["hits"][0], objectID="1970", created_at_i=12345))
        return reply


def test_a_hit_outside_the_window_does_not_slide_it_back_to_1970() -> None:
    """Fuzzing found it: the window slid to the oldest hit seen, so one bogus date skipped everything after."""
    c = case()
    with FakeServer(_OneHitFrom1970()) as server:
        connector = HackerNewsConnector(
            {"base_url": server.url, "allow_private_network": True, "page_size": 2, "initial_lookback_hours": 48},
            clock=lambda: c["now"],
        )
        pages = list(connector.fetch(c["query"], None))
    found = {m.external_id for p in pages for m in p.mentions}
    assert set(c["expected_ids"]) <= found
    assert not any("1970" in note for p in pages for note in p.notes)


def test_an_answer_for_another_item_is_malformed_not_a_deletion() -> None:
    """A deleted item keeps its id and loses its author; an answer without this item's id says nothing."""
    with FakeServer(HackerNewsPlatform()) as server:
        connector = HackerNewsConnector(
            {"base_url": server.url, "allow_private_network": True}, sleep=lambda s: None
        )
        server.faults.append(Reply(200, {"id": 1, "author": None, "children": []}))
        with pytest.raises(SourceError) as err:
            list(connector.repoll(["42170001"]))
        assert err.value.kind == "malformed"
        server.faults.append(Reply(200, {"id": 42170001, "author": None, "children": []}))
        assert [u.deleted for u in connector.repoll(["42170001"])] == [True]
