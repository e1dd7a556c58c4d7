"""`repmon slack test` and `repmon zendesk test`: try the real connection once and explain any failure.

Setting up a Slack app or a Zendesk token fails in a handful of well-known ways (wrong token type, the app
not invited to the channel, API token access switched off, a group id copied wrong). Each check here
does what the daemon will do, and turns the platform's error code into the step that fixes it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
from slack_sdk.errors import SlackApiError

from alerts.config import AlertsConfig

GUIDE = "docs/setup-slack-zendesk.md"
SLACK_FIXES = {
    "invalid_auth": "the token is not valid: copy the Bot User OAuth Token (xoxb-...) from the app's "
    "OAuth & Permissions page into {bot_env}",
    "not_authed": "no token was sent: set {bot_env}",
    "token_revoked": "the token was revoked: reinstall the app to the workspace and copy the new xoxb- token",
    "account_inactive": "the app's bot user is deactivated: reinstall the app to the workspace",
    "missing_scope": "the app lacks a scope ({needed}): add it under OAuth & Permissions (see deploy/"
    "slack-app-manifest.yaml), reinstall the app and copy the new token",
    "channel_not_found": "no channel {channel!r} visible to the app: use the channel ID (right-click the "
    "channel > View channel details) and, for a private channel, /invite the app first",
    "not_in_channel": "the app is not in {channel!r}: type `/invite @<app name>` in that channel",
    "is_archived": "channel {channel!r} is archived: unarchive it or route to another channel",
    "ratelimited": "Slack is rate-limiting this app: wait a minute and try again",
}


@dataclass(frozen=True, slots=True)
class Check:
    ok: bool
    what: str
    detail: str

    def __str__(self) -> str:
        return f"{'ok' if self.ok else 'FAILED'}: {self.what}: {self.detail}"


def _slack_fix(exc: SlackApiError, **fields: str) -> str:
    data = exc.response.data if isinstance(getattr(exc.response, "data", None), dict) else {}
    code = str(data.get("error") or "unknown_error")
    fields.setdefault("needed", str(data.get("needed") or "see the manifest"))
    fix = SLACK_FIXES.get(code)
    return f"Slack said {code}: " + (fix.format(**fields) if fix else f"see {GUIDE}")


def slack_checks(config: AlertsConfig, channels: list[str], post: bool = True) -> Iterator[Check]:
    """Bot token (auth.test), a test message per channel, and the app-level token for the buttons."""
    from alerts.sinks.slack import make_client

    slack = config.slack
    bot_env = slack.bot_token_env
    if slack.bot_token() is None:
        yield Check(False, "bot token", f"not set: export {bot_env}=xoxb-... (see {GUIDE})")
        return
    client = make_client(slack)
    try:
        who = client.auth_test()
    except SlackApiError as exc:
        yield Check(False, "bot token", _slack_fix(exc, bot_env=bot_env, channel=""))
        return
    except OSError as exc:
        yield Check(False, "bot token", f"cannot reach Slack at {slack.base_url} ({type(exc).__name__}): {exc}")
        return
    yield Check(True, "bot token", f"workspace {who.get('team')!r}, bot user {who.get('user')!r}")
    for channel in channels:
        if not post:
            continue
        try:
            client.chat_postMessage(
                channel=channel,
                text=f"reputation-monitor test message ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC): alerts can "
                "reach this channel.",
            )
        except SlackApiError as exc:
            yield Check(False, f"channel {channel}", _slack_fix(exc, bot_env=bot_env, channel=channel))
        else:
            yield Check(True, f"channel {channel}", "test message posted")
    if slack.app_token() is None:
        yield Check(
            True,
            "buttons (Socket Mode)",
            f"off: {slack.app_token_env} not set; alerts are posted without working buttons",
        )
        return
    try:
        client.apps_connections_open(app_token=slack.app_token().get_secret_value())  # type: ignore[union-attr]
    except SlackApiError as exc:
        fix = _slack_fix(exc, bot_env=slack.app_token_env, channel="")
        if "invalid_auth" in fix or "not_authed" in fix:
            fix = (
                f"the app-level token in {slack.app_token_env} is not valid: create one (xapp-...) with scope "
                "connections:write under Basic Information > App-Level Tokens, and enable Socket Mode"
            )
        yield Check(False, "buttons (Socket Mode)", fix)
    else:
        yield Check(True, "buttons (Socket Mode)", "app-level token accepted")


def zendesk_checks(config: AlertsConfig, groups: list[str]) -> Iterator[Check]:
    """Settings, the login (`GET /api/v2/groups/{id}`), and each routed group's existence."""
    zendesk = config.zendesk
    missing = [f"[alerts.zendesk] {k}" for k in ("base_url", "email") if not getattr(zendesk, k)]
    if zendesk.token() is None:
        missing.append(f"the API token in {zendesk.token_env}")
    if missing:
        yield Check(False, "settings", f"missing {', '.join(missing)} (see {GUIDE})")
        return
    from alerts.sinks.zendesk import ZendeskSink

    sink = ZendeskSink(zendesk)
    try:
        listed = sink.client.get("/api/v2/groups.json")
    except httpx.HTTPError as exc:
        yield Check(False, "connection", f"cannot reach {zendesk.base_url} ({type(exc).__name__})")
        return
    if listed.status_code in (401, 403):
        yield Check(
            False,
            "login",
            f"Zendesk refused {zendesk.email}/token (HTTP {listed.status_code}): check the agent email, the token "
            f"in {zendesk.token_env}, and that token access is on (Admin Center > Apps and integrations > "
            "Zendesk API)",
        )
        return
    if listed.status_code != 200:
        yield Check(False, "login", sink.scrub(f"unexpected HTTP {listed.status_code}: {listed.text[:200]}"))
        return
    listing = [g for g in listed.json().get("groups") or [] if isinstance(g, dict)]
    known = {str(g.get("id")): str(g.get("name")) for g in listing}
    yield Check(True, "login", f"{zendesk.email} at {zendesk.base_url}; {len(known)} group(s) visible")
    for group in groups:
        if group not in known and group.isdigit():  # beyond the first page of the list
            shown = sink.client.get(f"/api/v2/groups/{group}.json")
            if shown.status_code == 200:
                known[group] = str((shown.json().get("group") or {}).get("name"))
        if group in known:
            yield Check(True, f"group {group}", f"{known[group]!r}: tickets will be assigned there")
        else:
            names = ", ".join(f"{gid} ({name})" for gid, name in sorted(known.items())) or "none"
            yield Check(False, f"group {group}", f"no such group visible to this agent; groups: {names}")
