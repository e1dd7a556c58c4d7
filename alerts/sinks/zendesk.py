"""Zendesk Support sink: one ticket per story, never two.

The ticket's `external_id` is the story key. Before creating, the sink lists tickets with that
external_id (`GET /api/v2/tickets.json?external_id=`), so a retry after a lost response, a crashed
sender, or a second alert on the same story finds the existing ticket instead of opening another.
The requester is pseudonymous (the author's keyed hash), never the social handle.
"""

from __future__ import annotations

import base64
import re
from typing import Any, ClassVar

import httpx

from alerts.config import AlertsConfig, ZendeskConfig
from alerts.sinks import SinkConfigError
from connectors.http.secrets import Scrubber
from monitor.textfold import fold
from monitor.types import Delivery, DeliveryResult

PRIORITY = {"critical": "urgent", "high": "high", "medium": "normal", "low": "low"}
TAG = re.compile(r"[^a-z0-9_]+")


def tag(value: str) -> str:
    """A Zendesk tag: Nordic letters folded (å/ä -> a, ø/ö -> o, æ -> ae), so "Åhléns" and "Öhléns" differ."""
    folded = fold(value.lower().replace("æ", "ae"))
    return TAG.sub("_", folded).strip("_")[:80]


def brand_tag(brand: str) -> str:
    """The tag every ticket of `brand` carries (`repmon config check` refuses two brands sharing one)."""
    return tag(f"brand_{brand}")


def ticket_body(view: dict[str, Any], external_id: str) -> dict[str, Any]:
    """The Zendesk ticket for an alert view (request shape of `POST /api/v2/tickets`)."""
    top = view.get("top_post") or {}
    lines = [
        view.get("headline", ""),
        "",
        f"Brand: {view.get('brand')} · languages: {', '.join(view.get('languages') or []) or '?'}"
        f" · sources: {', '.join(view.get('sources') or []) or '?'}",
        f"Severity: {view.get('severity')} · kind: {view.get('kind')} · mentions: {view.get('mention_count', 0)}",
    ]
    if top:
        lines += ["", "Post:", top.get("text", ""), top.get("url") or "(no link)"]
    lines += ["", f"reputation-monitor alert {view.get('key')} (story {external_id})"]
    author = (top.get("author_key") or "unknown")[:12]
    tags = ["repmon", brand_tag(str(view.get("brand", "")))]
    tags += [tag(f"lang_{lang}") for lang in view.get("languages") or []]
    tags += [tag(f"aspect_{a}") for a in view.get("aspects") or []]
    ticket: dict[str, Any] = {
        "subject": f"[{view.get('brand')}] {view.get('headline', '')}"[:250],
        "comment": {"body": "\n".join(lines), "public": False},
        "external_id": external_id,
        "priority": PRIORITY.get(view.get("severity", ""), "normal"),
        "tags": list(dict.fromkeys(t for t in tags if t)),
        "requester": {"name": f"Social user {author}"},
        "type": "incident" if view.get("kind") != "complaint" else "problem",
    }
    return ticket


class ZendeskSink:
    name: ClassVar[str] = "zendesk"

    def __init__(self, config: ZendeskConfig | None = None, client: httpx.Client | None = None) -> None:
        self.config = config or ZendeskConfig()
        if not self.config.base_url:
            raise SinkConfigError("Zendesk base_url is not configured ([alerts.zendesk] base_url)")
        token = self.config.token()
        if token is None or not self.config.email:
            raise SinkConfigError(f"Zendesk needs [alerts.zendesk] email and the token in {self.config.token_env}")
        self.base = self.config.base_url.rstrip("/")
        credential = f"{self.config.email}/token:{token.get_secret_value()}"
        # An error body may echo the request (some proxies and test servers do): never keep the credential.
        self.scrubber = Scrubber([token.get_secret_value(), base64.b64encode(credential.encode()).decode()])
        self.client = client or httpx.Client(
            base_url=self.base,
            auth=(f"{self.config.email}/token", token.get_secret_value()),
            timeout=self.config.timeout_s,
            headers={"Accept": "application/json"},
        )

    @classmethod
    def from_config(cls, config: AlertsConfig) -> ZendeskSink:
        return cls(config.zendesk)

    def deliver(self, delivery: Delivery) -> DeliveryResult:
        if delivery.action != "create_ticket":
            return DeliveryResult(ok=False, permanent=True, error=f"zendesk cannot {delivery.action}")
        payload = delivery.payload
        external_id = str(payload["external_id"])
        try:
            existing = self._find(external_id)
            if existing is not None:
                return DeliveryResult(ok=True, result={**self._result(existing), "deduplicated": True})
            ticket = ticket_body(payload["alert"], external_id)
            group = payload.get("group_id")
            if group is not None and str(group).isdigit():
                ticket["group_id"] = int(group)
            resp = self.client.post("/api/v2/tickets.json", json={"ticket": ticket})
            if resp.status_code != 201:
                return self._failure(resp)
            return DeliveryResult(ok=True, result=self._result(resp.json()["ticket"]))
        except httpx.HTTPError as exc:
            return DeliveryResult(ok=False, error=f"Zendesk unreachable: {type(exc).__name__}")
        except _Failed as failed:
            return failed.result

    def _find(self, external_id: str) -> dict[str, Any] | None:
        resp = self.client.get("/api/v2/tickets.json", params={"external_id": external_id})
        if resp.status_code != 200:
            raise _Failed(self._failure(resp))
        tickets = resp.json().get("tickets") or []
        return min(tickets, key=lambda t: t["id"]) if tickets else None

    def _result(self, ticket: dict[str, Any]) -> dict[str, Any]:
        return {"ticket_id": ticket["id"], "url": f"{self.base}/agent/tickets/{ticket['id']}"}

    def scrub(self, text: str) -> str:
        return self.scrubber.scrub(text)

    def _failure(self, resp: httpx.Response) -> DeliveryResult:
        if resp.status_code == 429:
            try:
                seconds = float(resp.headers.get("Retry-After", "60"))
            except ValueError:
                seconds = 60.0
            return DeliveryResult(ok=False, retry_after=seconds, error="Zendesk 429")
        permanent = resp.status_code in (400, 401, 403, 404, 422)
        return DeliveryResult(
            ok=False, permanent=permanent, error=self.scrub(f"Zendesk HTTP {resp.status_code}: {resp.text[:300]}")
        )


class _Failed(Exception):
    def __init__(self, result: DeliveryResult) -> None:
        self.result = result
