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


class EmbedsPlatform(BlueskyPlatform):
    """Search answers with quotes-with-media and image posts (tests/fixtures/bluesky/search_embeds.json,
    checked against the lexicons by test_fixture_specs)."""

    def _posts(self) -> list[dict]:
        return self.fixture("search_embeds.json")["posts"]


def test_quotes_with_media_and_image_posts_without_text() -> None:
    with FakeServer(EmbedsPlatform()) as server:
        pages = list(_connector(server).fetch(case()["query"], None))
    found = {m.external_id.rsplit("/", 1)[1]: m for p in pages for m in p.mentions}
    quoted = "at://did:plc:q2ofnbiyxvzzj7ypqs6ggqwq/app.bsky.feed.post/3lbwzq7d3rk2a"
    # app.bsky.embed.recordWithMedia: the quoted post's link sits one level deeper than in embed.record
    assert found["3lbx3aaquote2"].parent_external_id == quoted
    assert found["3lbx3aaquote2"].text == "Samma här med Telia 👇"
    # an image post with empty text is read through its alt text, or else the text of the post it quotes
    assert found["3lbx3bbalt2x"].text == "Telia-faktura med dubbel debitering av roaming"
    assert found["3lbx3ccquote2"].text.startswith("Störning: mobilt bredband i Telias nät")
    assert found["3lbx3ccquote2"].parent_external_id == quoted
    # nothing to read at all: skipped with a note, never an empty mention
    assert "3lbx3ddnotext" not in found
    notes = [n for p in pages for n in p.notes]
    assert any("3lbx3ddnotext" in n and "no text" in n for n in notes)
    assert all(m.text.strip() for m in found.values())
