"""Slack sink with the real slack-sdk WebClient against the local Slack-compatible server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from alerts.config import AlertsConfig, Route, SlackConfig
from alerts.router import Router
from alerts.sender import OutboxSender
from alerts.sinks.slack import SlackSink
from monitor.kernel.store.tables import Alert, OutboxMessage
from monitor.kernel.types import AlertCandidate, Delivery

from .conftest import T0, World, later
from .slack_server import BOT_TOKEN, SlackServer

HOSTILE = "Hej <!channel> och <@U123>, se <https://evil.example|click> & svara!"
CONFIG = AlertsConfig(routes=[Route(name="cs", slack_channel="C-CS")], cooldowns={})


@pytest.fixture
def slack(shared_specs: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SlackServer]:
    monkeypatch.setenv("REPMON_SLACK_BOT_TOKEN", BOT_TOKEN)
    with SlackServer(shared_specs) as server:
        yield server
    assert server.violations == []


def sink_for(server: SlackServer) -> SlackSink:
    return SlackSink(SlackConfig(base_url=server.base + "/api/"))


def texts(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["text"]] if isinstance(node.get("text"), str) else []
        return own + [t for v in node.values() for t in texts(v)]
    if isinstance(node, list):
        return [t for v in node for t in texts(v)]
    return []


def record(world: World, key: str, text: str, at_minutes: float = 0, **evidence: object) -> int:
    with world.factory() as s, s.begin():
        m = world.mention(s, text, url="https://social.example/@x/1?a=<b>")
        cand = AlertCandidate(
            kind="complaint",
            brand="Acme <script>",
            key=key,
            severity="critical",
            detected_at=T0,
            headline=f"{HOSTILE} upset customer thread continues here now",
            evidence=evidence,
            mention_ids=(m,),
        )
        return Router(CONFIG).record(s, [cand], later(at_minutes))[0]


def test_alert_message_thread_and_update_with_hostile_text_escaped(world: World, slack: SlackServer) -> None:
    alert_id = record(world, "k1", HOSTILE, count=12, baseline=2.5)
    sender = OutboxSender(world.factory, {"slack": sink_for(slack)})
    assert sender.drain(now=T0).delivered == 1
    (post,) = slack.posts("C-CS")
    rendered = "\n".join([post["text"], *texts(post["blocks"])])
    for raw in ("<!channel>", "<@U123>", "<https://evil.example|click>", "<script>"):
        assert raw not in rendered
    assert "&lt;!channel&gt;" in rendered and "&amp; svara" in rendered
    assert "*12* mentions vs baseline *2.5*" in rendered
    assert "<https://social.example/@x/1?a=%3Cb%3E|Open post>" in rendered
    headline = post["blocks"][0]["text"]["text"]
    assert len(headline.split()) <= 11  # emoji + at most ten words
    actions = next(b for b in post["blocks"] if b["type"] == "actions")
    assert [e["action_id"] for e in actions["elements"]] == [
        "create_ticket",
        "assign",
        "acknowledge",
        "done",
        "more",
    ]
    assert actions["elements"][0]["style"] == "primary"
    with world.factory() as s:
        assert s.get(Alert, alert_id).slack_ts == post["ts"]

    record(world, "k1", "Me too <!here>", at_minutes=5)  # the same event again: a follow-up, not an alert
    stats = sender.drain(now=later(5))
    assert stats.delivered == 2  # the thread reply and the chat.update
    assert len(slack.posts("C-CS")) == 1
    (reply,) = slack.posts("C-CS", top_level=False)
    assert reply["thread_ts"] == post["ts"] and "<!here>" not in "".join(texts(reply["blocks"]))
    assert post["edited"] == 1 and "2 mentions" not in post["text"]


def test_429_is_honoured_then_delivered_once(world: World, slack: SlackServer) -> None:
    record(world, "k1", "a")
    slack.rate_limit(times=1, retry_after=7)
    sender = OutboxSender(world.factory, {"slack": sink_for(slack)})
    assert sender.drain(now=T0).rate_limited == 1
    with world.factory() as s:
        row = s.scalars(select(OutboxMessage)).one()
        assert (row.next_attempt_at - T0).total_seconds() == 7 and row.attempts == 0
    assert sender.drain(now=later(0.1)).claimed == 0
    assert sender.drain(now=later(0.2)).delivered == 1
    assert len(slack.posts()) == 1


def test_slack_down_for_a_while_loses_nothing(world: World, slack: SlackServer) -> None:
    for i in range(5):
        record(world, f"k{i}", f"post {i}")
    slack.down = True
    sender = OutboxSender(world.factory, {"slack": sink_for(slack)})
    minute = 0.0
    for _ in range(4):  # four rounds of a 5xx storm, each after the backoff has passed
        stats = sender.drain(now=later(minute))
        assert stats.delivered == 0 and stats.dead == 0
        minute += 10
    slack.down = False
    assert sender.drain(now=later(minute)).delivered == 5
    assert sorted(p["metadata"]["event_payload"]["key"] for p in slack.posts()) == sorted(
        f"k{i}:slack:C-CS:post" for i in range(5)
    )


def test_retry_after_an_unrecorded_post_finds_the_message_instead_of_posting_again(slack: SlackServer) -> None:
    sink = sink_for(slack)
    view = {"alert_id": 1, "headline": "x", "severity": "low", "brand": "Acme", "evidence": {}}
    first = Delivery(1, 1, "slack", "post", {"alert": view, "channel": "C-CS"}, "key-1", attempts=1)
    result = sink.deliver(first)
    assert result.ok
    retry = Delivery(1, 1, "slack", "post", {"alert": view, "channel": "C-CS"}, "key-1", attempts=2)
    again = sink.deliver(retry)
    assert again.ok and again.result["ts"] == result.result["ts"] and again.result["deduplicated"]
    assert len(slack.posts()) == 1


def test_unknown_channel_is_dead_lettered_without_retries(world: World, slack: SlackServer) -> None:
    with world.factory() as s, s.begin():
        m = world.mention(s, "x")
        config = AlertsConfig(routes=[Route(name="bad", slack_channel="C-MISSING")])
        cand = AlertCandidate(
            kind="complaint",
            brand="Acme",
            key="k",
            severity="high",
            detected_at=T0,
            headline="h",
            mention_ids=(m,),
        )
        Router(config).record(s, [cand], T0)
    assert OutboxSender(world.factory, {"slack": sink_for(slack)}).drain(now=T0).dead == 1
    with world.factory() as s:
        assert "channel_not_found" in s.scalars(select(OutboxMessage.last_error)).one()


def test_quiet_hours_digest_is_one_escaped_slack_message_in_the_morning(world: World, slack: SlackServer) -> None:
    from datetime import UTC, datetime, time

    from alerts.config import QuietHours

    config = AlertsConfig(
        routes=[Route(name="cs", slack_channel="C-CS")],
        cooldowns={},
        quiet_hours=QuietHours(start=time(22), end=time(7)),
    )
    night = datetime(2026, 11, 23, 23, 0, tzinfo=UTC)
    with world.factory() as s, s.begin():
        for i in range(3):
            m = world.mention(s, f"natt {i}")
            cand = AlertCandidate(
                kind=f"k{i}",
                brand="Acme",
                key=f"n{i}",
                severity="high",
                detected_at=night,
                headline=f"<!channel> night problem {i}",
                mention_ids=(m,),
            )
            Router(config).record(s, [cand], night)
    sender = OutboxSender(world.factory, {"slack": sink_for(slack)})
    assert sender.drain(now=night).claimed == 0 and slack.posts() == []
    morning = datetime(2026, 11, 24, 6, 0, tzinfo=UTC)
    assert sender.drain(now=morning).delivered == 1
    (digest,) = slack.posts("C-CS")
    rendered = "".join(texts(digest["blocks"]))
    assert "Morning digest 2026-11-24" in rendered and "(3 alert(s))" in rendered
    assert "<!channel>" not in rendered and rendered.count("&lt;!channel&gt; night problem") == 3


def test_unreachable_slack_is_a_transient_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    monkeypatch.setenv("REPMON_SLACK_BOT_TOKEN", BOT_TOKEN)
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sink = SlackSink(SlackConfig(base_url=f"http://127.0.0.1:{port}/api/"))
    view = {"alert_id": 1, "headline": "x", "severity": "low", "brand": "Acme", "evidence": {}}
    result = sink.deliver(Delivery(1, 1, "slack", "post", {"alert": view, "channel": "C"}, "k", attempts=1))
    assert not result.ok and not result.permanent and result.retry_after is None
    assert "unreachable" in (result.error or "") and BOT_TOKEN not in (result.error or "")


def test_dedupe_lookup_pages_through_a_busy_channel(slack: SlackServer) -> None:
    from datetime import UTC, datetime

    sink = sink_for(slack)
    view = {"alert_id": 1, "headline": "x", "severity": "low", "brand": "Acme", "evidence": {}}
    payload = {"alert": view, "channel": "C-CS", "enqueued_at": datetime.now(UTC).isoformat()}
    first = sink.deliver(Delivery(1, 1, "slack", "post", payload, "key-1", attempts=1))
    for i in range(450):  # other people keep talking: our message is now three pages back
        slack.messages["C-CS"].append(
            {
                "type": "message",
                "ts": slack.next_ts(),
                "text": f"chat {i}",
                "thread_ts": None,
                "blocks": None,
                "metadata": None,
            }
        )
    again = sink.deliver(Delivery(1, 1, "slack", "post", payload, "key-1", attempts=2))
    assert again.ok and again.result["ts"] == first.result["ts"] and again.result["deduplicated"]
    assert len([m for m in slack.posts("C-CS") if m.get("bot_id")]) == 1
    assert slack.calls.count("conversations.history") == 3
