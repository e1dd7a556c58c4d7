"""Zendesk Support sink: one ticket per case (and one problem ticket per incident), never two.

A case ticket's `external_id` is the case key (alerts/cases.py); an alert's ticket uses its story key.
Before creating, the sink lists tickets with that external_id (`GET /api/v2/tickets.json?external_id=`),
so a retry after a lost response, a crashed sender, or a second worker finds the existing ticket instead
of opening another. Actions:

- `open_case`: the case's ticket; `case_post`: the customer's next post as a private comment on it.
- `create_ticket`: an alert's ticket; spikes and viral posts get `type: "problem"`.
- `link_incident`: a case ticket becomes an `incident` with `problem_id` of the problem ticket (looked up
  by its external_id); a case already linked to another problem gets a private note instead.

`ticket_statuses` reads statuses back (`GET /api/v2/tickets/show_many.json?ids=`), so solved/closed
tickets close their cases. The requester is pseudonymous (the author's keyed hash), never the handle.
"""

from __future__ import annotations

import base64
import re
from typing import Any, ClassVar

import httpx

from alerts.config import AlertsConfig, ZendeskConfig
from alerts.sinks import SinkConfigError
from monitor.kernel.net import Scrubber
from monitor.kernel.textfold import fold
from monitor.kernel.types import Capability, Delivery, DeliveryResult

PROBLEM_KINDS = ("negative_spike", "volume_spike", "virality")
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
        "type": "problem" if view.get("kind") in PROBLEM_KINDS else "incident",
    }
    return ticket


def post_lines(post: dict[str, Any]) -> list[str]:
    extra = f" · needs help {post['needs_help_probability']:.0%}" if post.get("needs_help_probability") else ""
    aspects = f" · aspects: {', '.join(post['aspects'])}" if post.get("aspects") else ""
    where = f"{post.get('created_at', '')} · {post.get('source') or '?'} · {post.get('language') or '?'}"
    return [
        where + extra + aspects,
        post.get("text", ""),
        post.get("url") or "(no link)",
    ]


def case_ticket_body(view: dict[str, Any], external_id: str) -> dict[str, Any]:
    """The ticket of one customer's case: their posts, language, aspects, needs-help probability, story."""
    lines = [
        f"A customer of {view.get('brand')} needs help (case {external_id}).",
        f"Languages: {', '.join(view.get('languages') or []) or '?'} · aspects: "
        f"{', '.join(view.get('aspects') or []) or 'none detected'} · needs help: "
        f"{float(view.get('needs_help_probability') or 0):.0%}",
    ]
    if view.get("story_keys"):
        lines.append(f"Story: {', '.join(view['story_keys'])}")
    for post in view.get("posts") or []:
        lines += ["", *post_lines(post)]
    tags = ["repmon", "repmon_case", tag(f"brand_{view.get('brand', '')}")]
    tags += [tag(f"lang_{lang}") for lang in view.get("languages") or []]
    tags += [tag(f"aspect_{a}") for a in view.get("aspects") or []]
    return {
        "subject": f"[{view.get('brand')}] {view.get('headline', '')}"[:250],
        "comment": {"body": "\n".join(lines), "public": False},
        "external_id": external_id,
        "priority": "normal",
        "tags": list(dict.fromkeys(t for t in tags if t)),
        "requester": {"name": f"Social user {view.get('customer') or 'unknown'}"},
        "type": "incident" if view.get("problem") else "question",
    }


class ZendeskSink:
    name: ClassVar[str] = "zendesk"
    capabilities: ClassVar[frozenset[Capability]] = frozenset({Capability.TICKETS})

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
        handlers = {
            "create_ticket": self._create_alert_ticket,
            "open_case": self._open_case,
            "case_post": self._case_post,
            "link_incident": self._link_incident,
        }
        handler = handlers.get(delivery.action)
        if handler is None:
            return DeliveryResult(ok=False, permanent=True, error=f"zendesk cannot {delivery.action}")
        try:
            return handler(delivery.payload)
        except httpx.HTTPError as exc:
            return DeliveryResult(ok=False, error=f"Zendesk unreachable: {type(exc).__name__}")
        except _Failed as failed:
            return failed.result

    def _create_alert_ticket(self, payload: Any) -> DeliveryResult:
        external_id = str(payload["external_id"])
        return self._create_once(external_id, ticket_body(payload["alert"], external_id), payload.get("group_id"))

    def _open_case(self, payload: Any) -> DeliveryResult:
        external_id = str(payload["external_id"])
        return self._create_once(
            external_id, case_ticket_body(payload["case"], external_id), payload.get("group_id")
        )

    def _create_once(self, external_id: str, ticket: dict[str, Any], group: object) -> DeliveryResult:
        existing = self._find(external_id)
        if existing is not None:
            return DeliveryResult(ok=True, result={**self._result(existing), "deduplicated": True})
        if group is not None and str(group).isdigit():
            ticket["group_id"] = int(str(group))
        resp = self.client.post("/api/v2/tickets.json", json={"ticket": ticket})
        if resp.status_code != 201:
            return self._failure(resp)
        return DeliveryResult(ok=True, result=self._result(resp.json()["ticket"]))

    def _case_post(self, payload: Any) -> DeliveryResult:
        ticket_id = (payload.get("parent_result") or {}).get("ticket_id")
        if ticket_id is None:
            return DeliveryResult(ok=False, error="the case ticket is not known yet")
        body = "The customer wrote again:\n" + "\n".join(post_lines(payload.get("post") or {}))
        return self._update(ticket_id, {"comment": {"body": body, "public": False}})

    def _link_incident(self, payload: Any) -> DeliveryResult:
        ticket_id = (payload.get("parent_result") or {}).get("ticket_id")
        problem = self._find(str(payload["problem_external_id"]))
        if ticket_id is None or problem is None:  # the problem ticket is queued too: retry shortly
            return DeliveryResult(ok=False, error="the case or problem ticket does not exist yet")
        if payload.get("note_only"):
            note = f"This customer is also affected by problem #{problem['id']} ({self._result(problem)['url']})."
            return self._update(ticket_id, {"comment": {"body": note, "public": False}})
        note = f"Linked to problem #{problem['id']}: answer the problem to reach every affected customer."
        change = {"type": "incident", "problem_id": problem["id"], "comment": {"body": note, "public": False}}
        return self._update(ticket_id, change)

    def _update(self, ticket_id: object, change: dict[str, Any]) -> DeliveryResult:
        resp = self.client.put(f"/api/v2/tickets/{int(str(ticket_id))}.json", json={"ticket": change})
        if resp.status_code != 200:
            return self._failure(resp)
        return DeliveryResult(ok=True, result=self._result(resp.json()["ticket"]))

    def ticket_statuses(self, ticket_ids: list[str]) -> dict[str, str]:
        """Ticket id -> status (new/open/pending/hold/solved/closed), 100 ids per request."""
        found: dict[str, str] = {}
        for start in range(0, len(ticket_ids), 100):
            ids = ",".join(str(int(i)) for i in ticket_ids[start : start + 100])
            resp = self.client.get("/api/v2/tickets/show_many.json", params={"ids": ids})
            if resp.status_code != 200:
                raise StatusReadError(self._failure(resp).error or f"HTTP {resp.status_code}")
            for ticket in resp.json().get("tickets") or []:
                found[str(ticket["id"])] = str(ticket.get("status"))
        return found

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


class StatusReadError(RuntimeError):
    """Ticket statuses could not be read (the next poll tries again)."""


class _Failed(Exception):
    def __init__(self, result: DeliveryResult) -> None:
        self.result = result
