"""Slack buttons over Socket Mode (real slack-sdk SocketModeClient against the local server's WebSocket)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from alerts.config import AlertsConfig, Route, SlackConfig
from alerts.router import Router
from alerts.sender import OutboxSender
from alerts.sinks.slack import SlackSink
from alerts.slack_app import SlackInteractivity
from monitor.kernel.store.tables import Alert, Feedback, OutboxMessage
from monitor.kernel.types import AlertCandidate

from .conftest import T0, World, later
from .local_http import wait_for
from .slack_server import APP_TOKEN, BOT_TOKEN, SlackServer


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def slack(shared_specs: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SlackServer]:
    monkeypatch.setenv("REPMON_SLACK_BOT_TOKEN", BOT_TOKEN)
    monkeypatch.setenv("REPMON_SLACK_APP_TOKEN", APP_TOKEN)
    with SlackServer(shared_specs) as server:
        yield server
    assert server.violations == []


def config_for(server: SlackServer) -> AlertsConfig:
    return AlertsConfig(
        routes=[Route(name="cs", slack_channel="C-CS")],
        cooldowns={},
        slack=SlackConfig(base_url=server.base + "/api/"),
    )


def click(server: SlackServer, alert_id: int, action: dict[str, Any], ts: str = "1.1", user: str = "U777") -> None:
    payload = {
        "type": "block_actions",
        "user": {"id": user, "username": "lead", "team_id": "T1"},
        "api_app_id": "A1",
        "container": {"type": "message", "message_ts": "1700000000.000001", "channel_id": "C-CS"},
        "channel": {"id": "C-CS", "name": "cs"},
        "actions": [{"block_id": f"alert:{alert_id}", "action_ts": ts, **action}],
    }
    assert server.send_interactive(payload).wait(10), "the app never acknowledged the envelope"


def candidate(world: World, key: str, kind: str = "complaint") -> AlertCandidate:
    with world.factory() as s, s.begin():
        m = world.mention(s, "Appen kraschar hela tiden", likes=5)
    return AlertCandidate(
        kind=kind,
        brand="Acme",
        key=key,
        severity="high",
        detected_at=T0,
        headline="App keeps crashing",
        mention_ids=(m,),
    )


def test_buttons_change_state_and_message(world: World, slack: SlackServer) -> None:
    config = config_for(slack)
    clock = Clock(later(1))
    with world.factory() as s, s.begin():
        (alert_id,) = Router(config).record(s, [candidate(world, "k1")], T0)
    sender = OutboxSender(world.factory, {"slack": SlackSink(config.slack)})
    sender.drain(now=T0)
    with SlackInteractivity(config, world.factory, clock=clock) as app:
        assert wait_for(lambda: bool(slack.sockets))
        click(slack, alert_id, {"action_id": "acknowledge", "type": "button", "value": str(alert_id)})
        click(
            slack, alert_id, {"action_id": "acknowledge", "type": "button", "value": str(alert_id)}
        )  # redelivery
        click(slack, alert_id, {"action_id": "assign", "type": "users_select", "selected_user": "U123"}, ts="1.2")
        click(slack, alert_id, {"action_id": "assign", "type": "users_select", "selected_user": "U999"}, ts="1.3")
        click(slack, alert_id, {"action_id": "create_ticket", "type": "button", "value": str(alert_id)}, ts="1.4")
        assert app.handled == 5
    with world.factory() as s:
        alert = s.get(Alert, alert_id)
        assert (alert.state, alert.assignee, alert.acknowledged_at) == ("acknowledged", "U123", later(1))
        assert s.scalars(select(OutboxMessage).where(OutboxMessage.action == "create_ticket")).one()
    sender.drain(now=later(2))
    (post,) = slack.posts("C-CS")
    notes = [r["blocks"][0]["text"]["text"] for r in slack.posts("C-CS", top_level=False)]
    assert notes == ["<@U777> acknowledged", "<@U777> assigned this to <@U123>", "<@U777> asked for a ticket"]
    status = json.dumps(post["blocks"])
    assert "Acknowledged" in status and "Assigned to <@U123>" in status and post["edited"] == 1


def test_wrong_sentiment_feedback_is_exported_in_the_shared_format(
    world: World, slack: SlackServer, tmp_path: Path
) -> None:
    from alerts.feedback import export_feedback

    config = config_for(slack)
    with world.factory() as s, s.begin():
        (alert_id,) = Router(config).record(s, [candidate(world, "k1")], T0)
    with SlackInteractivity(config, world.factory, clock=Clock(later(3))):
        assert wait_for(lambda: bool(slack.sockets))
        more = {"action_id": "more", "type": "overflow"}
        click(slack, alert_id, {**more, "selected_option": {"value": "wrong_sentiment:neutral"}})
        click(slack, alert_id, {**more, "selected_option": {"value": "wrong_sentiment:positive"}}, ts="2.0")
        click(slack, alert_id, {**more, "selected_option": {"value": "wrong_sentiment:<script>"}}, ts="3.0")
    with world.factory() as s:
        (feedback,) = s.scalars(select(Feedback)).all()  # the same user changed their mind
        assert (feedback.corrected_label, feedback.user) == ("positive", "U777")
        out = tmp_path / "feedback.jsonl"
        with out.open("w") as handle:
            assert export_feedback(s, handle) == (1, 0)
    line = json.loads(out.read_text())
    assert line == {
        "text": "Appen kraschar hela tiden",
        "label": "positive",
        "lang": "sv",
        "source": "repmon_feedback/mastodon-social",
    }


def test_mute_folds_the_next_alerts_silently(world: World, slack: SlackServer) -> None:
    config = config_for(slack)
    with world.factory() as s, s.begin():
        (alert_id,) = Router(config).record(s, [candidate(world, "k1")], T0)
    with SlackInteractivity(config, world.factory, clock=Clock(T0)):
        assert wait_for(lambda: bool(slack.sockets))
        click(slack, alert_id, {"action_id": "more", "type": "overflow", "selected_option": {"value": "mute_1h"}})
    k2, k3 = candidate(world, "k2"), candidate(world, "k3")
    with world.factory() as s, s.begin():
        Router(config).record(s, [k2], later(30))
        Router(config).record(s, [k3], later(61))
        states = dict(s.execute(select(Alert.key, Alert.state)).all())
        replies = s.scalars(select(OutboxMessage.payload).where(OutboxMessage.action == "thread_reply")).all()
    assert states == {"k1": "muted", "k2": "cooldown", "k3": "open"}
    assert [r["text"] for r in replies] == ["<@U777> muted this for 1 h: related alerts are folded in silently"]


def test_start_if_configured(world: World, slack: SlackServer, monkeypatch: pytest.MonkeyPatch) -> None:
    from alerts.slack_app import start_if_configured

    monkeypatch.delenv("REPMON_SLACK_APP_TOKEN")
    assert start_if_configured(config_for(slack), world.factory) is None
    monkeypatch.setenv("REPMON_SLACK_APP_TOKEN", APP_TOKEN)
    app = start_if_configured(config_for(slack), world.factory)
    assert app is not None
    try:
        assert wait_for(lambda: bool(slack.sockets))
    finally:
        app.close()
