"""Bluesky specifics beyond the conformance suite: URLs, links, threads, expired sessions."""

from __future__ import annotations

import pytest
from fake_server import FakeServer, Reply
from platform_bluesky import IDENTIFIER, PASSWORD, BlueskyPlatform, case

from connectors.bluesky import BlueskyConnector, web_url
from monitor.kernel.types import SourceError


def _connector(server: FakeServer) -> BlueskyConnector:
    c = case()
    return BlueskyConnector(
        {
            "base_url": server.url,
            "allow_private_network": True,
            "identifier": IDENTIFIER,
            "app_password": PASSWORD,
            "initial_lookback_hours": 48,
        },
        clock=lambda: c["now"],
        sleep=lambda s: None,
    )


def test_web_url_from_handle_and_record_key() -> None:
    uri = "at://did:plc:abc/app.bsky.feed.post/3lbx2kq7abc2a"
    assert web_url(uri, "anna.bsky.social") == "https://bsky.app/profile/anna.bsky.social/post/3lbx2kq7abc2a"
    assert web_url(uri, None) == "https://bsky.app/profile/did:plc:abc/post/3lbx2kq7abc2a"
    assert web_url("at://did:plc:abc/app.bsky.feed.like/x", "a") is None


def test_links_threads_and_languages() -> None:
    with FakeServer(BlueskyPlatform()) as server:
        found = {
            m.external_id.rsplit("/", 1)[1]: m
            for p in _connector(server).fetch(case()["query"], None)
            for m in p.mentions
        }
    assert found["3lbx2kq7abc2a"].links == ("https://www.telia.se/privat/support",)
    assert found["3lbx1yqq3ik2d"].links == ("https://www.telia.se/esim",)
    assert found["3lbx27ahwqk2c"].parent_external_id.endswith("/3lbx1zzzzzz2a")
    assert found["3lbx27ahwqk2c"].language == "nb" and found["3lbx1p2o4fc2e"].language is None
    assert found["3lbx2kq7abc2a"].author == "anna.bsky.social"


def test_expired_session_logs_in_again_once() -> None:
    with FakeServer(BlueskyPlatform()) as server:
        connector = _connector(server)
        list(connector.repoll([case()["repoll_ids"][0]]))
        server.faults.append(Reply(400, {"error": "ExpiredToken", "message": "Token has expired"}))
        updates = list(connector.repoll([case()["repoll_ids"][0]]))
        logins = [c for c in server.calls if c.path.endswith("createSession")]
    assert len(logins) == 2 and not updates[0].deleted


def test_repoll_batches_at_most_25_uris() -> None:
    uris = [f"at://did:plc:x/app.bsky.feed.post/{i}" for i in range(60)]
    with FakeServer(BlueskyPlatform()) as server:
        updates = list(_connector(server).repoll(uris))
        batches = [len(c.query["uris"]) for c in server.calls if c.path.endswith("getPosts")]
    assert batches == [25, 25, 10] and all(u.deleted for u in updates)


def test_search_refused_while_logged_in_is_transient_not_auth() -> None:
    with FakeServer(BlueskyPlatform()) as server:
        connector = _connector(server)
        server.faults.append(Reply(403, {"error": "Forbidden", "message": "search is unavailable"}))
        with pytest.raises(SourceError) as err:
            list(connector.fetch(case()["query"], None))
    assert err.value.kind == "transient" and "refused" in str(err.value)


def test_wrong_app_password_is_auth() -> None:
    with FakeServer(BlueskyPlatform()) as server:
        connector = BlueskyConnector(
            {
                "base_url": server.url,
                "allow_private_network": True,
                "identifier": IDENTIFIER,
                "app_password": "wrong-pass-word-0000",
            },
            sleep=lambda s: None,
        )
        with pytest.raises(SourceError) as err:
            list(connector.fetch(case()["query"], None))
    assert err.value.kind == "auth" and "wrong-pass-word-0000" not in str(err.value)


def test_empty_page_with_a_cursor_does_not_end_the_walk() -> None:
    with FakeServer(BlueskyPlatform()) as server:
        server.faults.append(Reply(200, {"posts": [], "cursor": "2"}))
        connector = BlueskyConnector(
            {
                "base_url": server.url,
                "allow_private_network": True,
                "identifier": IDENTIFIER,
                "app_password": PASSWORD,
                "initial_lookback_hours": 48,
                "page_size": 2,
            },
            clock=lambda: case()["now"],
        )
        found = [m.external_id for p in connector.fetch(case()["query"], None) for m in p.mentions]
    everything = sorted(p["uri"] for p in BlueskyPlatform().fixture("search_telia.json")["posts"])
    assert len(found) == len(everything) - 2  # the filtered first page is gone, the rest arrives
