"""Reddit specifics: descriptive User-Agent, quota headers, token renewal, fullname re-poll."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fake_server import FakeServer, Reply
from platform_reddit import CLIENT_ID, CLIENT_SECRET, USER_AGENT, RedditPlatform, case

from connectors.reddit import RedditConnector
from monitor.kernel.types import SourceError

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def _connector(server: FakeServer, slept: list[float], **extra: object) -> RedditConnector:
    settings = {
        "base_url": server.url,
        "auth_url": server.url,
        "allow_private_network": True,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "user_agent": USER_AGENT,
        "initial_lookback_hours": 48,
        **extra,
    }
    return RedditConnector(settings, clock=lambda: NOW, sleep=slept.append)


def test_generic_user_agent_is_rejected_at_configuration() -> None:
    with pytest.raises(SourceError) as err:
        RedditConnector({"client_id": "x", "client_secret": "s3cret-value-xyz", "user_agent": "python-httpx/0.28"})
    assert err.value.kind == "config" and "/u/" in str(err.value)
    assert "s3cret-value-xyz" not in str(err.value)


def test_pauses_before_the_quota_runs_out() -> None:
    platform = RedditPlatform()
    platform.remaining, platform.reset = 2.0, 37.0
    slept: list[float] = []
    with FakeServer(platform) as server:
        pages = list(_connector(server, slept).fetch(case()["query"], None))
    assert pages and slept and slept[0] == 37.0


def test_quota_reset_too_far_away_is_reported() -> None:
    platform = RedditPlatform()
    platform.remaining, platform.reset = 0.0, 590.0
    with FakeServer(platform) as server, pytest.raises(SourceError) as err:
        list(_connector(server, []).fetch(case()["query"], None))
    assert err.value.kind == "rate_limited" and err.value.retry_after == 590.0


def test_expired_token_is_renewed_once() -> None:
    with FakeServer(RedditPlatform()) as server:
        connector = _connector(server, [])
        list(connector.repoll(["t3_1gx7a1b"]))
        server.faults.append(Reply(401, {"message": "Unauthorized", "error": 401}))
        updates = list(connector.repoll(["t3_1gx7a1b"]))
        tokens = [c for c in server.calls if c.path == "/api/v1/access_token"]
    assert len(tokens) == 2 and updates[0].likes == 341


def test_repoll_sends_fullnames_in_batches_of_100() -> None:
    ids = [f"t3_zz{i:04d}" for i in range(150)]
    with FakeServer(RedditPlatform()) as server:
        updates = list(_connector(server, []).repoll(ids))
        sizes = [len(c.param("id").split(",")) for c in server.calls if c.path == "/api/info"]
    assert sizes == [100, 50] and all(u.deleted for u in updates)


class MarkdownPlatform(RedditPlatform):
    """The recorded listings with Markdown bodies, as Reddit sends them with raw_json=1."""

    def _things(self, name: str) -> list[dict[str, object]]:
        things = super()._things(name)
        for thing in things:
            data = thing["data"]
            if thing["kind"] == "t3" and data.get("selftext"):
                data["selftext"] = (
                    "## tl;dr\n\n**Telia** [driftinfo](https://www.telia.se/driftinfo) says\n> all ok\n"
                )
            elif thing["kind"] == "t1":
                data["body"] = "*Same* here, `ping` fails &amp; ~~nothing~~ everything is \\*down\\*"
        return things


def test_markdown_bodies_reach_the_store_as_plain_text() -> None:
    with FakeServer(MarkdownPlatform()) as server:
        pages = list(_connector(server, [], subreddits=["sweden"]).fetch(case()["query"], None))
    mentions = [m for p in pages for m in p.mentions]
    posts = [m for m in mentions if m.external_id.startswith("t3_") and "tl;dr" in m.text]
    comments = [m for m in mentions if m.external_id.startswith("t1_")]
    assert posts and comments
    for post in posts:
        assert post.text.endswith("tl;dr\n\nTelia driftinfo says\nall ok")
        assert "https://www.telia.se/driftinfo" in post.links
    for comment in comments:
        assert comment.text == "Same here, ping fails & nothing everything is *down*"  # struck words stay
    assert not any(marker in m.text for m in mentions for marker in ("**", "## ", "](", "&amp;"))
