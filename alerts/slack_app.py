"""Slack interactivity over Socket Mode: no public URL needed, the app dials out to Slack.

Each `block_actions` envelope is applied in one database transaction and acknowledged only after
that transaction committed, so a crash before the commit makes Slack redeliver it (the handlers are
idempotent). The message update and thread note go through the outbox like every other delivery;
`on_change` lets the daemon drain it at once instead of on its next tick.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.socket_mode import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from sqlalchemy.orm import Session

from alerts import slack_blocks as sb
from alerts.actions import Action, ActionError, apply_action, parse_block_actions
from alerts.config import AlertsConfig
from alerts.sinks import SinkConfigError
from alerts.sinks.slack import make_client

log = logging.getLogger(__name__)


class SlackInteractivity:
    def __init__(
        self,
        config: AlertsConfig,
        session_factory: Callable[[], Session],
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        on_change: Callable[[], None] | None = None,
        web_client: WebClient | None = None,
    ) -> None:
        app_token = config.slack.app_token()
        if app_token is None:
            raise SinkConfigError(f"Slack app-level token not set: export {config.slack.app_token_env}")
        self.config = config
        self.session_factory = session_factory
        self.clock = clock
        self.on_change = on_change
        self.web = web_client or make_client(config.slack)
        self.client = SocketModeClient(app_token=app_token.get_secret_value(), web_client=self.web)
        self.client.socket_mode_request_listeners.append(self._on_request)
        self.handled = 0

    def start(self) -> None:
        try:
            self.client.connect()
        except Exception:  # do not leave the client's worker threads behind a failed start
            self.client.close()
            raise

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> SlackInteractivity:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _on_request(self, client: SocketModeClient, request: SocketModeRequest) -> None:
        if request.type != "interactive":
            client.send_socket_mode_response(SocketModeResponse(envelope_id=request.envelope_id))
            return
        try:
            actions = [self._with_name(a) for a in parse_block_actions(request.payload)]
            with self.session_factory() as session, session.begin():
                notes = [apply_action(session, action, self.config, self.clock()) for action in actions]
        except ActionError as exc:  # bad input: acknowledge (a redelivery would fail the same way)
            log.warning("Slack action ignored: %s", exc)
            self._tell_clicker(request.payload, str(exc))
            notes = []
        except Exception:  # database trouble: leave it unacknowledged so Slack redelivers it
            log.exception("Slack action failed; not acknowledged")
            return
        self.handled += 1
        client.send_socket_mode_response(SocketModeResponse(envelope_id=request.envelope_id))
        for note in notes:
            log.info("alert action: %s", note)
        if notes and self.on_change:
            self.on_change()

    def _tell_clicker(self, payload: dict, reason: str) -> None:  # type: ignore[type-arg]
        """A refused click is explained to the person who clicked (only they see it), never silently dropped."""
        channel = (payload.get("channel") or {}).get("id") or (payload.get("container") or {}).get("channel_id")
        user = (payload.get("user") or {}).get("id")
        if not (channel and user):
            return
        try:
            self.web.chat_postEphemeral(channel=channel, user=user, text=f"Not done: {sb.escape(reason)}")
        except SlackApiError as exc:  # the note is a courtesy; the refusal itself is already logged
            log.info("could not tell %s why the action was refused: %s", user, exc.response.get("error"))

    def _with_name(self, action: Action) -> Action:
        """An assignee must be a real, active person in the workspace (users.info)."""
        if action.action_id != "assign" or not action.value:
            return action
        try:
            user = self.web.users_info(user=action.value)["user"]
        except SlackApiError as exc:
            raise ActionError(f"assign: cannot look up {action.value}: {exc.response.get('error')}") from exc
        if why := not_assignable(user):
            raise ActionError(f"assign: {action.value} {why}")
        return Action(**{**action.__dict__, "user_name": user.get("real_name") or user.get("name")})


SLACKBOT = "USLACKBOT"


def not_assignable(user: dict) -> str | None:  # type: ignore[type-arg]
    """Why this Slack user cannot own an alert, or None for a real, active member of the workspace.

    Slackbot has `is_bot: false` in users.info, so it is refused by id; app users and bots never read
    their messages; guests (restricted, ultra-restricted) are outside the team; deleted users are gone.
    """
    if user.get("id") == SLACKBOT:
        return "is Slackbot, not a person"
    if user.get("is_bot") or user.get("is_app_user"):
        return "is a bot or app, not a person"
    if user.get("deleted"):
        return "is deactivated"
    if user.get("is_restricted") or user.get("is_ultra_restricted"):
        return "is a guest account, not a member of the team"
    return None


def start_if_configured(
    config: AlertsConfig,
    session_factory: Callable[[], Session],
    *,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    on_change: Callable[[], None] | None = None,
) -> SlackInteractivity | None:
    """For the daemon: start Socket Mode when the app-level token is set, else return None quietly."""
    if config.slack.app_token() is None or config.slack.bot_token() is None:
        log.info(
            "Slack interactivity off: %s / %s not set", config.slack.app_token_env, config.slack.bot_token_env
        )
        return None
    app = SlackInteractivity(config, session_factory, clock=clock, on_change=on_change)
    app.start()
    return app
