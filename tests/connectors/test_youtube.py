"""YouTube specifics: quota budget, quotaExceeded, key errors, the key never in a URL."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from fake_server import FakeServer, Reply
from platform_youtube import API_KEY, CHANNEL, YouTubePlatform, case

from connectors.youtube import YouTubeConnector, quota_day, seconds_to_quota_reset
from monitor.kernel.types import SourceError

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)  # 04:00 in Los Angeles


def _connector(server: FakeServer, **extra: object) -> YouTubeConnector:
    settings = {
        "base_url": server.url,
        "allow_private_network": True,
        "api_key": API_KEY,
        "channel_ids": [CHANNEL],
        "initial_lookback_hours": 48,
        "page_size": 2,
        **extra,
    }
    return YouTubeConnector(settings, clock=lambda: NOW, sleep=lambda s: None)


def test_quota_budget_stops_the_walk_and_resumes_next_day() -> None:
    with FakeServer(YouTubePlatform()) as server:
        pages = list(_connector(server, daily_quota_units=2).fetch(case()["query"], None))
        assert len(server.calls) == 2
        assert any("quota budget of 2 units spent" in n for p in pages for n in p.notes)
        cursor = pages[-1].cursor
        assert cursor["quota"] == {"day": quota_day(NOW), "used": 2}
        assert cursor["streams"][f"channel:{CHANNEL}"]["walk"]["token"] is not None
        tomorrow = YouTubeConnector(
            {
                "base_url": server.url,
                "allow_private_network": True,
                "api_key": API_KEY,
                "channel_ids": [CHANNEL],
                "initial_lookback_hours": 48,
                "page_size": 2,
                "daily_quota_units": 2,
            },
            clock=lambda: NOW.replace(day=21),
        )
        rest = list(tomorrow.fetch(case()["query"], cursor))
    found = {m.external_id for p in pages + rest for m in p.mentions}
    assert found == case()["expected_ids"]


def test_quota_exceeded_is_rate_limited_until_pacific_midnight() -> None:
    with FakeServer(YouTubePlatform()) as server:
        server.faults.append(Reply(403, YouTubePlatform().fixture("quota_exceeded.json")))
        with pytest.raises(SourceError) as err:
            list(_connector(server).fetch(case()["query"], None))
    assert err.value.kind == "rate_limited"
    assert err.value.retry_after == seconds_to_quota_reset(NOW) == 20 * 3600


def test_invalid_key_is_an_auth_failure_and_key_stays_out_of_urls() -> None:
    with FakeServer(YouTubePlatform()) as server:
        with pytest.raises(SourceError) as err:
            list(_connector(server, api_key="AIzaSy-not-the-key").fetch(case()["query"], None))
        assert all("key=" not in str(c.query) for c in server.calls)
    assert err.value.kind == "auth" and "AIzaSy-not-the-key" not in str(err.value)


def test_settings_need_a_channel_or_video() -> None:
    with pytest.raises(SourceError, match="channel_ids and/or video_ids"):
        YouTubeConnector({"api_key": "x" * 20})


class ChannelThreadPlatform(YouTubePlatform):
    """The recorded threads plus one on the channel itself: no `videoId` (the discovery document makes it
    optional; `allThreadsRelatedToChannelId` returns such threads)."""

    def fixture(self, name: str) -> dict:
        answer = super().fixture(name)
        thread = json.loads(json.dumps(answer["items"][0]))
        thread["id"] = thread["snippet"]["topLevelComment"]["id"] = "UgzChannelLevel0001AaABAg"
        del thread["snippet"]["videoId"], thread["snippet"]["topLevelComment"]["snippet"]["videoId"]
        answer["items"].insert(0, thread)
        return answer


def test_channel_level_threads_link_to_the_channel() -> None:
    with FakeServer(ChannelThreadPlatform()) as server:
        found = {m.external_id: m for p in _connector(server).fetch(case()["query"], None) for m in p.mentions}
    channel_thread = found["UgzChannelLevel0001AaABAg"]
    assert channel_thread.url == f"https://www.youtube.com/channel/{CHANNEL}?lc=UgzChannelLevel0001AaABAg"
    assert channel_thread.parent_external_id is None
    assert all(m.url for m in found.values())


@pytest.mark.parametrize(
    "answer",
    [
        {
            "kind": "youtube#videoListResponse",
            "items": [{"kind": "youtube#video", "id": "x"}],
            "nextPageToken": "2",
        },
        {
            "kind": "youtube#commentThreadListResponse",
            "items": [{"kind": "youtube#comment", "id": "a"}, {"kind": "youtube#comment", "id": "b"}],
            "nextPageToken": "2",
        },
        {"kind": "youtube#commentThreadListResponse", "items": {"0": {}}, "nextPageToken": "2"},
    ],
    ids=["other-list", "comments-not-threads", "items-not-a-list"],
)
def test_wrong_page_shape_is_malformed_and_the_next_page_is_not_fetched(answer: dict) -> None:
    with FakeServer(YouTubePlatform()) as server:
        server.faults += [Reply(200, answer)] * 2  # the retry sees it again: it is the page, not a blip
        with pytest.raises(SourceError) as err:
            list(_connector(server, max_attempts=2).fetch(case()["query"], None))
        tokens = [c.param("pageToken") for c in server.data_calls()]
    assert err.value.kind == "malformed"
    assert "2" not in tokens, "no request for the page the malformed answer pointed to"
