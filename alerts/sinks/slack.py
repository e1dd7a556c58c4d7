"""Slack sink: one Block Kit message per alert, edits with chat.update, follow-ups in its thread.

Slack has no idempotency key for chat.postMessage, so each message carries our outbox key in its
message `metadata`; on a retry (the previous attempt may have posted before the sender died) the sink
first looks for a message with that key in the channel (or thread) and returns it instead of posting
again. Errors are classified for the sender: 429 -> retry_after, configuration errors -> permanent.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime
from typing import Any, ClassVar

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from alerts import slack_blocks as sb
from alerts.config import AlertsConfig, SlackConfig
from alerts.sinks import SinkConfigError
from monitor.kernel.net import Scrubber
from monitor.kernel.types import Capability, Delivery, DeliveryResult

log = logging.getLogger(__name__)
METADATA_EVENT = "repmon_delivery"
MAX_LOOKUP_PAGES = 20
PERMANENT_ERRORS = frozenset(
    {
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "invalid_auth",
        "not_authed",
        "account_inactive",
        "token_revoked",
        "missing_scope",
        "no_permission",
        "invalid_blocks",
        "msg_too_long",
        "message_not_found",
        "cant_update_message",
        "edit_window_closed",
        "invalid_arguments",
        "restricted_action",
    }
)


def make_client(config: SlackConfig) -> WebClient:
    token = config.bot_token()
    if token is None:
        raise SinkConfigError(f"Slack bot token not set: export {config.bot_token_env}")
    base = config.base_url if config.base_url.endswith("/") else config.base_url + "/"
    return WebClient(token=token.get_secret_value(), base_url=base, timeout=int(config.timeout_s))


class SlackSink:
    name: ClassVar[str] = "slack"
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {Capability.POSTS, Capability.THREADS, Capability.EDITS}
    )

    def __init__(self, config: SlackConfig | None = None, client: WebClient | None = None) -> None:
        self.config = config or SlackConfig()
        self.client = client or make_client(self.config)

    @classmethod
    def from_config(cls, config: AlertsConfig) -> SlackSink:
        return cls(config.slack)

    def deliver(self, delivery: Delivery) -> DeliveryResult:
        try:
            return DeliveryResult(ok=True, result=self._send(delivery))
        except SlackApiError as exc:
            result = classify(exc)
        except (OSError, TimeoutError) as exc:  # connection refused/reset, DNS, socket timeout
            result = DeliveryResult(ok=False, error=f"Slack unreachable: {type(exc).__name__}: {exc}")
        return replace(result, error=self.scrub(result.error or ""))

    def scrub(self, text: str) -> str:
        """Error text without the bot token (a proxy or a hostile server may echo the request)."""
        return Scrubber([self.client.token or ""]).scrub(text)

    def _send(self, delivery: Delivery) -> dict[str, Any]:
        p = delivery.payload
        parent = p.get("parent_result") or {}
        channel = parent.get("channel") or p.get("channel")
        if not channel:
            raise SlackApiError("no channel", {"ok": False, "error": "channel_not_found"})
        if delivery.action == "post":
            view = p["alert"]
            return self._post_once(delivery, channel, sb.fallback_text(view), sb.alert_blocks(view), None)
        if delivery.action == "update":
            view = p["alert"]
            resp = self.client.chat_update(
                channel=channel, ts=parent["ts"], text=sb.fallback_text(view), blocks=sb.alert_blocks(view)
            )
            return {"channel": resp["channel"], "ts": resp["ts"]}
        if delivery.action == "thread_reply":
            trusted = bool(p.get("trusted"))
            text = p.get("text", "") if trusted else sb.escape(p.get("text", ""))
            blocks = sb.reply_blocks(p.get("text", ""), p.get("mentions") or [], trusted=trusted)
            return self._post_once(delivery, channel, text, blocks, parent["ts"])
        if delivery.action == "digest":
            blocks = sb.digest_blocks(p.get("title", "Digest"), p.get("items") or [])
            return self._post_once(delivery, channel, sb.escape(p.get("title", "Digest")), blocks, None)
        raise SlackApiError(f"unsupported action {delivery.action}", {"ok": False, "error": "invalid_arguments"})

    def _post_once(
        self, delivery: Delivery, channel: str, text: str, blocks: list[dict[str, Any]], thread_ts: str | None
    ) -> dict[str, Any]:
        if delivery.attempts > 1:  # an earlier attempt may have posted before failing or crashing
            found = self._find_posted(channel, delivery.idempotency_key, thread_ts, _oldest(delivery))
            if found is not None:
                log.info("outbox %s already posted as %s; not posting again", delivery.outbox_id, found)
                return {"channel": channel, "ts": found, "deduplicated": True}
        resp = self.client.chat_postMessage(
            channel=channel,
            text=text,
            blocks=blocks,
            thread_ts=thread_ts,
            unfurl_links=False,
            unfurl_media=False,
            metadata={"event_type": METADATA_EVENT, "event_payload": {"key": delivery.idempotency_key}},
        )
        return {"channel": resp["channel"], "ts": resp["ts"]}

    def _find_posted(self, channel: str, key: str, thread_ts: str | None, oldest: str | None) -> str | None:
        """Our message with this key, searching every page since the row was enqueued."""
        cursor = None
        for _ in range(MAX_LOOKUP_PAGES):
            args: dict[str, Any] = {"channel": channel, "include_all_metadata": True, "limit": 200}
            if cursor:
                args["cursor"] = cursor
            if thread_ts:
                resp = self.client.conversations_replies(ts=thread_ts, **args)
            else:
                resp = self.client.conversations_history(oldest=oldest, **args)
            for message in resp.get("messages") or []:
                meta = message.get("metadata") or {}
                if (
                    meta.get("event_type") == METADATA_EVENT
                    and (meta.get("event_payload") or {}).get("key") == key
                ):
                    return str(message["ts"])
            cursor = (resp.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                return None
        log.warning("dedupe lookup for %s stopped after %d pages", key, MAX_LOOKUP_PAGES)
        return None


def _oldest(delivery: Delivery) -> str | None:
    """Slack `oldest` bound: a minute before the row was enqueued (clock skew margin)."""
    enqueued = delivery.payload.get("enqueued_at")
    if not enqueued:
        return None
    return f"{datetime.fromisoformat(enqueued).timestamp() - 60:.6f}"


def classify(exc: SlackApiError) -> DeliveryResult:
    """Turn a Slack error into the sender's retry decision."""
    response = exc.response
    status = getattr(response, "status_code", None)
    data = response if isinstance(response, dict) else getattr(response, "data", None)
    error = (data or {}).get("error") if isinstance(data, dict) else None
    error = error or str(exc).splitlines()[0]
    if status == 429 or error == "ratelimited":
        headers = getattr(response, "headers", {}) or {}
        retry_after = headers.get("Retry-After") or headers.get("retry-after") or "1"
        try:
            seconds = float(retry_after)
        except ValueError:
            seconds = 1.0
        return DeliveryResult(ok=False, retry_after=seconds, error=f"Slack 429 ratelimited ({seconds:g}s)")
    return DeliveryResult(
        ok=False, permanent=error in PERMANENT_ERRORS, error=f"Slack {status or ''} {error}".strip()
    )
