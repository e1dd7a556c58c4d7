"""Secrets never leave, nothing is dropped silently, Assign means a person (issue 16).

Echoing servers answer every request with an error that repeats the request's headers and body, as a
misconfigured proxy or a hostile endpoint would: the credential must not reach the DeliveryResult, the
outbox row or the log, for every sink.
"""

from __future__ import annotations

import base64
import io
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from slack_sdk import WebClient
from sqlalchemy import select

from alerts import outbox
from alerts.config import SlackConfig, WebhookConfig, ZendeskConfig
from alerts.sender import OutboxSender
from alerts.sinks.console import ConsoleSink
from alerts.sinks.slack import SlackSink
from alerts.sinks.webhook import WebhookSink
from alerts.sinks.zendesk import ZendeskSink
from alerts.slack_app import not_assignable
from monitor.config import validate
from monitor.kernel.logsetup import configure
from monitor.kernel.store.tables import OutboxMessage
from monitor.kernel.types import Delivery
from monitor.wiring import build_sinks

from .conftest import T0, World
from .local_http import LocalServer, Request, Response
from .slack_server import BOT_TOKEN, SlackServer
from .zendesk_server import EMAIL, TOKEN, ZendeskServer

SECRETS = (TOKEN, BOT_TOKEN, base64.b64encode(f"{EMAIL}/token:{TOKEN}".encode()).decode(), "whsec-0123456789")
VIEW = {
    "key": "k",
    "alert_id": 1,
    "brand": "Acme",
    "headline": "Refund waits three weeks",
    "severity": "high",
    "kind": "complaint",
    "state": "open",
}


class EchoServer(LocalServer):
    """Answers every request with `status` and a body that repeats the request's headers and body."""

    def __init__(self, status: int, slack_shape: bool = False) -> None:
        super().__init__()
        self.status, self.slack_shape = status, slack_shape

    def handle(self, request: Request) -> Response:
        echo = f"{request.method} {request.path} headers={request.headers} body={request.body.decode()[:500]}"
        if self.slack_shape:
            return 200, {}, {"ok": False, "error": echo}
        return self.status, {}, {"error": "bad request", "echo": echo}


def leaked(text: str | None) -> list[str]:
    return [s for s in SECRETS if s in (text or "")]


def delivery(sink: str, action: str, payload: dict, attempts: int = 1) -> Delivery:
    return Delivery(1, None, sink, action, {"enqueued_at": T0.isoformat(), **payload}, "key-1", attempts)


@pytest.fixture
def secrets_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REPMON_ZENDESK_TOKEN", TOKEN)
    monkeypatch.setenv("REPMON_SLACK_BOT_TOKEN", BOT_TOKEN)
    monkeypatch.setenv("REPMON_WEBHOOK_SECRET", SECRETS[3])


@pytest.mark.parametrize("status", [400, 401, 422, 500])
def test_zendesk_error_body_echoing_the_credential_is_scrubbed(secrets_env, status) -> None:
    with EchoServer(status) as echo:
        sink = ZendeskSink(ZendeskConfig(base_url=echo.base, email=EMAIL))
        result = sink.deliver(delivery("zendesk", "create_ticket", {"external_id": "s1", "alert": VIEW}))
    assert not result.ok and "Zendesk HTTP" in (result.error or "")
    assert "Basic [redacted]" in result.error or "[redacted]" in result.error
    assert leaked(result.error) == []


def test_slack_error_echoing_the_token_is_scrubbed(secrets_env) -> None:
    with EchoServer(200, slack_shape=True) as echo:
        sink = SlackSink(SlackConfig(base_url=echo.base + "/api/"))
        result = sink.deliver(delivery("slack", "post", {"channel": "C1", "alert": VIEW}))
    assert not result.ok and "Slack" in (result.error or "")
    assert leaked(result.error) == []


def test_webhook_error_body_never_reaches_the_result(secrets_env) -> None:
    with EchoServer(400) as echo:
        hook = WebhookConfig(url=echo.base + "/hook", secret_env="REPMON_WEBHOOK_SECRET", allow_private=True)
        sink = WebhookSink({"helpdesk": hook})
        result = sink.deliver(delivery("webhook", "post", {"webhook": "helpdesk", "alert": VIEW}))
    assert not result.ok and result.error == "webhook helpdesk HTTP 400"


def test_scrubbed_through_the_sender_into_outbox_and_log(world: World, secrets_env, caplog, tmp_path) -> None:
    with world.factory() as s, s.begin():
        outbox.enqueue(
            s,
            key="t1",
            sink="zendesk",
            action="create_ticket",
            payload={"external_id": "s1", "alert": VIEW},
            alert_id=None,
            due=T0,
        )
    caplog.set_level(logging.DEBUG)
    with EchoServer(400) as echo:
        sink = ZendeskSink(ZendeskConfig(base_url=echo.base, email=EMAIL))
        stats = OutboxSender(world.factory, {"zendesk": sink}).drain(now=T0)
    assert stats.dead == 1
    with world.factory() as s:
        row = s.scalars(select(OutboxMessage)).one()
    assert row.last_error and "Zendesk HTTP 400" in row.last_error
    assert leaked(row.last_error) == [] and leaked(caplog.text) == []
    # what the operator sees: repmon status and repmon outbox list, scrubbed too
    url = world.factory.kw["bind"].url.render_as_string(hide_password=False)
    for args in (["status"], ["outbox", "list"]):
        shown = repmon(tmp_path / "none.toml", *args, env={"REPMON_DATABASE_URL": url})
        assert "Zendesk HTTP 400" in shown.output and leaked(shown.output) == [], shown.output
    assert repmon(tmp_path / "none.toml", "status", env={"REPMON_DATABASE_URL": url}).exit_code == 1  # dead row


def test_an_alert_for_an_unconfigured_sink_prints_on_the_console_and_says_why(world, monkeypatch, caplog) -> None:
    monkeypatch.delenv("REPMON_SLACK_BOT_TOKEN", raising=False)
    monkeypatch.delenv("REPMON_ZENDESK_TOKEN", raising=False)
    config = validate(
        {"alerts": {"routes": [{"name": "cs", "slack_channel": "C1", "helpdesk_group": "42"}]}},
        require_secrets=False,
    )
    unavailable: dict[str, str] = {}
    sinks = build_sinks(config, unavailable)
    assert "slack" not in sinks and "REPMON_SLACK_BOT_TOKEN" in unavailable["slack"]
    printed = io.StringIO()
    sinks["console"] = ConsoleSink(printed)
    with world.factory() as s, s.begin():
        post = {"channel": "C1", "alert": VIEW}
        ticket = {"external_id": "s1", "alert": VIEW, "group_id": "42"}
        outbox.enqueue(s, key="p1", sink="slack", action="post", payload=post, alert_id=None, due=T0)
        outbox.enqueue(s, key="t1", sink="zendesk", action="create_ticket", payload=ticket, alert_id=None, due=T0)
    caplog.set_level(logging.WARNING)
    stats = OutboxSender(world.factory, sinks, unavailable=unavailable).drain(now=T0)
    assert stats.delivered == 2 and stats.fallback == 2
    assert printed.getvalue().count("Refund waits three weeks") == 2 and "group 42" in printed.getvalue()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("slack" in w and "REPMON_SLACK_BOT_TOKEN" in w and "console" in w for w in warnings)
    assert any("zendesk" in w and "base_url" in w for w in warnings)
    with world.factory() as s:
        rows = s.scalars(select(OutboxMessage)).all()
    assert {r.status for r in rows} == {"delivered"} and all(r.result["fallback"] == "console" for r in rows)


def test_library_debug_logging_never_prints_tokens(caplog) -> None:
    root = logging.getLogger()
    saved = [(h, list(h.filters)) for h in root.handlers]
    try:
        configure(3)  # -vvv: slack-sdk's own debug output on
        caplog.set_level(logging.DEBUG)
        with SlackServerless() as server:
            WebClient(token=BOT_TOKEN, base_url=server.base + "/api/").api_call("auth.test")
        logging.getLogger("slack_sdk.socket_mode").debug("wss url: wss://x/?ticket=abc-secret-ticket&app_id=A1")
        assert "auth.test" in caplog.text  # the library did log the request ...
        assert BOT_TOKEN not in caplog.text and "abc-secret-ticket" not in caplog.text  # ... without secrets
        configure(2)  # -vv: our debug, the libraries stay at INFO
        assert logging.getLogger("slack_sdk").getEffectiveLevel() == logging.INFO
    finally:
        for handler, filters in saved:
            handler.filters[:] = filters
        for name in ("slack_sdk", "httpx", "httpcore", "urllib3", "websocket", "apscheduler", "slack_bolt"):
            logging.getLogger(name).setLevel(logging.NOTSET)


class SlackServerless(LocalServer):
    def handle(self, request: Request) -> Response:
        return 200, {}, {"ok": True, "team": "Acme", "user": "repmon"}


# Real users.list shapes: Slackbot is `is_bot: false`; bots, apps, deactivated users and guests.
USERS = json.loads(
    """[
 {"id": "USLACKBOT", "name": "slackbot", "deleted": false, "is_bot": false, "is_app_user": false},
 {"id": "U01", "name": "anna", "real_name": "Anna Lead", "deleted": false, "is_bot": false, "is_app_user": false,
  "is_restricted": false, "is_ultra_restricted": false},
 {"id": "B02", "name": "zapier", "deleted": false, "is_bot": true, "is_app_user": false},
 {"id": "U03", "name": "app", "deleted": false, "is_bot": false, "is_app_user": true},
 {"id": "U04", "name": "left", "deleted": true, "is_bot": false},
 {"id": "U05", "name": "guest", "deleted": false, "is_bot": false, "is_restricted": true},
 {"id": "U06", "name": "sc-guest", "deleted": false, "is_bot": false, "is_ultra_restricted": true}
]"""
)


def test_assign_accepts_only_real_active_members() -> None:
    assignable = [u["id"] for u in USERS if not_assignable(u) is None]
    assert assignable == ["U01"]
    assert "Slackbot" in not_assignable(USERS[0])


# ------------------------------------------------------------------ repmon slack test / zendesk test


@pytest.fixture
def servers(shared_specs: Path, monkeypatch) -> Iterator[tuple[SlackServer, ZendeskServer]]:
    monkeypatch.setenv("REPMON_SLACK_BOT_TOKEN", BOT_TOKEN)
    monkeypatch.setenv("REPMON_ZENDESK_TOKEN", TOKEN)
    monkeypatch.delenv("REPMON_SLACK_APP_TOKEN", raising=False)
    monkeypatch.setenv("REPMON_PSEUDONYM_KEY", "0123456789abcdef0123456789abcdef")
    with SlackServer(shared_specs) as slack, ZendeskServer(shared_specs) as zendesk:
        yield slack, zendesk


def setup_file(tmp_path: Path, slack: SlackServer, zendesk: ZendeskServer, group: str = "98738") -> Path:
    path = tmp_path / "repmon.toml"
    path.write_text(
        f"""
[alerts.slack]
base_url = "{slack.base}/api/"
[alerts.zendesk]
base_url = "{zendesk.base}"
email = "{EMAIL}"
[[alerts.routes]]
name = "cs"
slack_channel = "C-CS"
helpdesk_group = "{group}"
""",
        encoding="utf-8",
    )
    return path


def repmon(path: Path, *args: str, env: dict[str, str] | None = None):
    from monitor.cli import _register_plugins, cli

    _register_plugins()
    return CliRunner().invoke(cli, ["--config", str(path), *args], env=env)


def test_slack_test_posts_to_each_routed_channel(tmp_path, servers) -> None:
    slack, zendesk = servers
    result = repmon(setup_file(tmp_path, slack, zendesk), "slack", "test")
    assert result.exit_code == 0, result.output
    assert "ok: channel C-CS: test message posted" in result.output
    assert "REPMON_SLACK_APP_TOKEN not set" in result.output
    assert len(slack.posts("C-CS")) == 1


def test_slack_test_explains_a_wrong_token(tmp_path, servers, monkeypatch) -> None:
    slack, zendesk = servers
    monkeypatch.setenv("REPMON_SLACK_BOT_TOKEN", "xoxp-a-user-token-by-mistake")
    result = repmon(setup_file(tmp_path, slack, zendesk), "slack", "test")
    assert result.exit_code == 1
    assert "invalid_auth" in result.stderr and "Bot User OAuth Token" in result.stderr
    assert "REPMON_SLACK_BOT_TOKEN" in result.stderr and "Traceback" not in result.output


def test_slack_test_explains_a_missing_channel(tmp_path, servers) -> None:
    slack, zendesk = servers
    slack.faults.append((200, {}, {"ok": True, "team": "Acme", "user": "repmon"}))  # auth.test
    slack.faults.append((200, {}, {"ok": False, "error": "not_in_channel"}))
    result = repmon(setup_file(tmp_path, slack, zendesk), "slack", "test")
    assert result.exit_code == 1 and "/invite" in result.stderr


def test_zendesk_test_finds_the_group_or_lists_the_real_ones(tmp_path, servers) -> None:
    slack, zendesk = servers
    good = repmon(setup_file(tmp_path, slack, zendesk), "zendesk", "test")
    assert good.exit_code == 0 and "'Social care'" in good.output, good.output
    wrong = repmon(setup_file(tmp_path, slack, zendesk, group="12345"), "zendesk", "test")
    assert wrong.exit_code == 1 and "98738 (Social care)" in wrong.stderr


def test_zendesk_test_explains_a_refused_login(tmp_path, servers, monkeypatch) -> None:
    slack, zendesk = servers
    monkeypatch.setenv("REPMON_ZENDESK_TOKEN", "wrong-token")
    result = repmon(setup_file(tmp_path, slack, zendesk), "zendesk", "test")
    assert result.exit_code == 1 and "REPMON_ZENDESK_TOKEN" in result.stderr and "wrong-token" not in result.output


def test_zendesk_test_names_missing_settings(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("REPMON_ZENDESK_TOKEN", raising=False)
    path = tmp_path / "repmon.toml"
    path.write_text("[alerts.zendesk]\n", encoding="utf-8")
    result = repmon(path, "zendesk", "test")
    assert result.exit_code == 1
    assert "base_url" in result.stderr and "email" in result.stderr and "REPMON_ZENDESK_TOKEN" in result.stderr


def test_start_time_is_utc_aware() -> None:  # guards the helper above against naive datetimes
    assert T0.tzinfo is UTC and datetime.now(UTC) > T0


def test_slack_listen_with_a_revoked_app_token_is_one_line(tmp_path, servers, monkeypatch) -> None:
    slack, zendesk = servers
    monkeypatch.setenv("REPMON_SLACK_APP_TOKEN", "xapp-revoked")
    result = repmon(setup_file(tmp_path, slack, zendesk), "slack-listen")
    assert result.exit_code == 1 and "Traceback" not in result.output
    (line,) = [x for x in result.stderr.splitlines() if x.startswith("error:")]
    assert "invalid_auth" in line and "repmon slack test" in line


# Web API methods the code calls -> the bot scope each needs (api.slack.com/methods).
SCOPES = {
    "chat_postMessage": "chat:write",
    "chat_update": "chat:write",
    "conversations_history": "channels:history",
    "conversations_replies": "channels:history",
    "users_info": "users:read",
}


def test_the_app_manifest_grants_every_scope_the_code_needs() -> None:
    import yaml

    root = Path(__file__).resolve().parents[2]
    manifest = yaml.safe_load((root / "deploy" / "slack-app-manifest.yaml").read_text())
    assert json.loads((root / "deploy" / "slack-app-manifest.json").read_text()) == manifest
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    code = "".join(p.read_text() for p in (root / "alerts").rglob("*.py"))
    used = {method for method in SCOPES if f".{method}(" in code}
    assert used == set(SCOPES)  # the table above is complete for what the code calls
    assert {SCOPES[m] for m in used} <= scopes
    assert manifest["settings"]["socket_mode_enabled"] and manifest["settings"]["interactivity"]["is_enabled"]


def test_assigning_slackbot_is_refused_and_the_clicker_is_told(
    world: World, shared_specs: Path, monkeypatch
) -> None:
    from alerts.config import AlertsConfig, Route
    from alerts.router import Router
    from alerts.slack_app import SlackInteractivity
    from monitor.kernel.store.tables import Alert
    from monitor.kernel.types import AlertCandidate

    from .local_http import wait_for
    from .slack_server import APP_TOKEN

    monkeypatch.setenv("REPMON_SLACK_BOT_TOKEN", BOT_TOKEN)
    monkeypatch.setenv("REPMON_SLACK_APP_TOKEN", APP_TOKEN)
    with SlackServer(shared_specs) as slack:
        config = AlertsConfig(
            routes=[Route(name="cs", slack_channel="C-CS")], slack=SlackConfig(base_url=slack.base + "/api/")
        )
        with world.factory() as s, s.begin():
            m = world.mention(s, "Appen kraschar hela tiden")
            cand = AlertCandidate("complaint", "Acme", "k1", "high", T0, "App keeps crashing", mention_ids=(m,))
            (alert_id,) = Router(config).record(s, [cand], T0)
        with SlackInteractivity(config, world.factory) as app:
            assert wait_for(lambda: bool(slack.sockets))
            payload = {
                "type": "block_actions",
                "user": {"id": "U777", "username": "lead", "team_id": "T1"},
                "api_app_id": "A1",
                "container": {"type": "message", "message_ts": "1700000000.000001", "channel_id": "C-CS"},
                "channel": {"id": "C-CS", "name": "cs"},
                "actions": [
                    {"block_id": f"alert:{alert_id}", "action_ts": "1.1", "action_id": "assign",
                     "type": "users_select", "selected_user": "USLACKBOT"}
                ],
            }  # fmt: skip
            assert slack.send_interactive(payload).wait(10)
            assert app.handled == 1
        assert slack.violations == []
    with world.factory() as s:
        assert s.get(Alert, alert_id).assignee is None
    (note,) = slack.ephemeral
    assert note["user"] == "U777" and "Slackbot" in note["text"]
