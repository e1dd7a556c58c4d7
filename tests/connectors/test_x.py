"""X specifics: the 7-day window, the read budget, author expansion, deleted posts in `errors`."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fake_server import FakeServer, Reply
from platform_x import BEARER, SEARCH_PARAMS, XPlatform, case

from connectors.http.base import parse_time
from connectors.x import XConnector
from monitor.kernel.types import BrandQuery, SourceError

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def _connector(server: FakeServer, **extra: object) -> XConnector:
    settings = {
        "base_url": server.url,
        "allow_private_network": True,
        "bearer_token": BEARER,
        "initial_lookback_hours": 24 * 30,
        **extra,
    }
    return XConnector(settings, clock=lambda: NOW, sleep=lambda s: None)


def test_start_time_is_clamped_to_seven_days() -> None:
    with FakeServer(XPlatform()) as server:
        list(_connector(server).fetch(case()["query"], None))
        start = parse_time(server.calls[0].param("start_time"))
        end = parse_time(server.calls[0].param("end_time"))
    assert NOW - timedelta(days=7) < start <= NOW - timedelta(days=7) + timedelta(minutes=1)
    assert end <= NOW - timedelta(seconds=10)


def test_authors_are_expanded_and_replies_linked() -> None:
    with FakeServer(XPlatform()) as server:
        found = {m.external_id: m for p in _connector(server).fetch(case()["query"], None) for m in p.mentions}
    first = found["1859231234567890001"]
    assert first.author == "anna_kundtjanst" and first.author_followers == 812
    assert first.url == "https://x.com/anna_kundtjanst/status/1859231234567890001"
    assert first.links == ("https://www.telia.se/driftinformation",) and first.quotes == 3
    assert found["1859228765432100003"].parent_external_id == "1859221111111100000"


def test_monthly_read_budget_stops_before_the_bill_grows() -> None:
    with FakeServer(XPlatform()) as server:
        pages = list(_connector(server, monthly_read_budget=25, page_size=10).fetch(case()["query"], None))
        assert len(server.calls) == 2
    assert pages[-1].cursor["reads"] == {"month": "2026-11", "posts": 20}
    assert any("monthly read budget of 25 posts" in n for p in pages for n in p.notes)


def test_query_is_phrase_without_retweets() -> None:
    with FakeServer(XPlatform()) as server:
        list(_connector(server).fetch(BrandQuery("Telia", ("telia",)), None))
        assert server.calls[0].param("query") == '"telia" -is:retweet'
        assert "author_id" in server.calls[0].param("expansions")


def _search_params(spec: dict) -> set[str]:
    """Query parameter names of GET /2/tweets/search/recent in an OpenAPI document ($refs resolved)."""
    names = set()
    for param in spec["paths"]["/2/tweets/search/recent"]["get"]["parameters"]:
        if "$ref" in param:
            param = spec["components"]["parameters"][param["$ref"].rsplit("/", 1)[1]]
        names.add(param["name"])
    return names


def test_field_parameter_is_the_one_production_accepts(shared_specs: Path) -> None:
    """The two specs disagree; the connector follows the docs and the older spec, and the fake refuses
    exactly what that spec does not declare (so a wrong guess fails these tests, as it would production)."""
    pinned = _search_params(json.loads((shared_specs / "x" / "openapi.json").read_text()))
    latest = _search_params(json.loads((shared_specs / "x" / "latest-openapi.json").read_text()))
    assert "post.fields" in pinned and "tweet.fields" not in pinned
    assert "tweet.fields" in latest and latest == SEARCH_PARAMS
    with FakeServer(XPlatform()) as server:
        pages = list(_connector(server).fetch(case()["query"], None))
        sent = set(server.calls[0].query)
    assert sent <= latest and "tweet.fields" in sent
    assert not any("lacks requested fields" in n for p in pages for n in p.notes)


def test_refused_field_parameter_names_the_setting_to_change() -> None:
    with FakeServer(XPlatform()) as server, pytest.raises(SourceError) as err:
        list(_connector(server, fields_parameter="post.fields").fetch(case()["query"], None))
    assert err.value.kind == "fatal"
    assert "post.fields" in str(err.value) and "fields_parameter" in str(err.value)


def test_ignored_field_parameter_is_noted_not_silent() -> None:
    """A server that ignores an unknown field parameter answers with id and text only: the page says
    which parameter was not honoured (the posts' times then come from their ids)."""
    platform = XPlatform()
    platform.reject_unknown = False
    with FakeServer(platform) as server:
        pages = list(_connector(server, fields_parameter="post.fields").fetch(case()["query"], None))
        answered = [c for c in server.calls if c.path == "/2/tweets/search/recent"]
    assert len(pages) == len(answered) >= 1
    assert any("lacks requested fields created_at, author_id" in n and "post.fields" in n for n in pages[0].notes)


class _Reshaped(XPlatform):
    """Production X with one part of every answer replaced (found by bench/fuzz.py's wrong_shape)."""

    def __init__(self, key: str, value: object) -> None:
        super().__init__()
        self.key, self.value = key, value

    def handle(self, call):  # type: ignore[no-untyped-def]
        reply = super().handle(call)
        if reply.status == 200 and isinstance(reply.body, dict):
            reply.body[self.key] = self.value
        return reply


@pytest.mark.parametrize("includes", ["users", 7, {"users": "anna"}, {"users": {"id": "1"}}])
def test_unreadable_includes_costs_the_authors_not_the_posts(includes: object) -> None:
    with FakeServer(_Reshaped("includes", includes)) as server:
        pages = list(_connector(server).fetch(case()["query"], None))
    mentions = [m for p in pages for m in p.mentions]
    assert len(mentions) == len(XPlatform().fixture("search_recent_telia.json")["data"])
    assert all(m.author_followers is None and "/i/web/status/" in m.url for m in mentions)
    assert any("authors shown by id" in n for n in pages[0].notes)


def test_search_data_that_is_not_a_list_is_a_malformed_answer() -> None:
    with FakeServer(_Reshaped("data", {"id": "1"})) as server, pytest.raises(SourceError) as err:
        list(_connector(server).fetch(case()["query"], None))
    assert err.value.kind == "malformed"


@pytest.mark.parametrize("data", ["1859231234567890001", {"id": "1859231234567890001"}, 3])
def test_a_broken_lookup_answer_deletes_nothing(data: object) -> None:
    """A lookup whose `data` is unreadable must not be read as "none of these posts exists any more"."""
    with FakeServer(_Reshaped("data", data)) as server, pytest.raises(SourceError) as err:
        list(_connector(server).repoll(["1859231234567890001", "1859228765432100003"]))
    assert err.value.kind == "malformed"


def test_a_lookup_with_an_unasked_or_unreadable_post_concludes_no_deletion() -> None:
    """Missing from a lookup means deleted, and deleted posts are erased: an answer that holds a post
    nobody asked for (or one without a readable id) is not accounted for, so nothing is concluded."""
    asked = ["1859231234567890001", "1859228765432100003"]
    for data in ([{"id": "1"}], [{"id": ["1859231234567890001"]}], ["1859231234567890001"]):
        with FakeServer(_Reshaped("data", data)) as server:
            updates = list(_connector(server).repoll(asked))
        assert updates == [], data


def test_one_unreadable_post_in_a_lookup_keeps_its_neighbours_counts() -> None:
    fixture = XPlatform().fixture("search_recent_telia.json")["data"]
    first, second = dict(fixture[0]), dict(fixture[1])
    second["public_metrics"] = ["not", "an", "object"]
    with FakeServer(_Reshaped("data", [first, second])) as server:
        updates = {u.external_id: u for u in _connector(server).repoll([first["id"], second["id"]])}
    assert set(updates) == {first["id"]} and not updates[first["id"]].deleted
    assert updates[first["id"]].likes == first["public_metrics"]["like_count"]


def test_a_lookup_answer_without_data_or_errors_deletes_nothing() -> None:
    """X leaves `data` out when none of the posts exists, and then lists each in `errors`; an answer
    with neither (a proxy's `{}`, another API's object) says nothing about the posts (found by fuzzing)."""
    with FakeServer(XPlatform()) as server:
        connector = _connector(server)
        for body in ({}, {"a": {"a": 1}}, {"meta": {"result_count": 0}}):
            server.faults.append(Reply(200, body))
            with pytest.raises(SourceError) as err:
                list(connector.repoll(["1859231234567890001"]))
            assert err.value.kind == "malformed", body
        gone = list(connector.repoll([XPlatform.deleted]))  # the real answer: `errors` only
    assert [(u.external_id, u.deleted) for u in gone] == [(XPlatform.deleted, True)]
