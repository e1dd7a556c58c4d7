"""A local Zendesk-Support-compatible server: tickets list (by external_id), create, update, show_many,
search.

Request bodies are validated against Zendesk's OpenAPI (`TicketCreateRequest`, `TicketUpdateRequest`);
responses use the documented `TicketResponse` / `TicketsResponse` shapes. An update with a comment
appends it to the ticket's `comments`; `problem_id` must name an existing ticket of type "problem", as
Zendesk requires. Tests move a ticket along with `set_status(id, "solved")`. Faults: 429 with Retry-After, 5xx, and
`lose_next_response` (the ticket is created but the client sees a 500, as when a response times out).
"""

from __future__ import annotations

import base64
import functools
import itertools
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator

from .local_http import LocalServer, Request, Response

EMAIL, TOKEN = "agent@acme.example", "zd-test-token"


class _SpecLoader(yaml.SafeLoader):
    pass


_SpecLoader.add_constructor("tag:yaml.org,2002:value", lambda loader, node: loader.construct_scalar(node))


@functools.cache
def _components(specs: Path) -> dict[str, Any]:
    """Parsed once per test session: the spec is 1.2 MB of YAML."""
    loader = getattr(yaml, "CSafeLoader", None)
    text = (specs / "zendesk" / "openapi-src.yaml").read_text()
    if loader is not None:

        class _Fast(loader):  # type: ignore[misc,valid-type]
            pass

        _Fast.add_constructor("tag:yaml.org,2002:value", lambda ld, node: ld.construct_scalar(node))
        return yaml.load(text, Loader=_Fast)["components"]
    return yaml.load(text, Loader=_SpecLoader)["components"]


def load_validator(specs: Path, schema: str) -> Draft202012Validator:
    return Draft202012Validator({"$ref": f"#/components/schemas/{schema}", "components": _components(specs)})


class ZendeskServer(LocalServer):
    def __init__(self, specs: Path) -> None:
        super().__init__()
        self.create_schema = load_validator(specs, "TicketCreateRequest")
        self.update_schema = load_validator(specs, "TicketUpdateRequest")
        self.tickets: list[dict[str, Any]] = []
        self.violations: list[str] = []
        self.faults: list[Response] = []
        self.lose_next_response = False
        self.groups = {"98738": {"id": 98738, "name": "Social care", "deleted": False, "is_public": True}}
        self._ids = itertools.count(35436)

    def handle(self, request: Request) -> Response:
        expected = "Basic " + base64.b64encode(f"{EMAIL}/token:{TOKEN}".encode()).decode()
        if request.headers.get("authorization") != expected:
            return 401, {}, {"error": "Couldn't authenticate you"}
        with self.lock:
            if self.faults:
                return self.faults.pop(0)
        path = request.path.removesuffix(".json")
        if path == "/api/v2/tickets" and request.method == "GET":
            ext = request.query.get("external_id")
            found = [t for t in self.tickets if ext is None or t["external_id"] == ext]
            return 200, {}, {"tickets": found, "count": len(found), "next_page": None, "previous_page": None}
        if path == "/api/v2/tickets" and request.method == "POST":
            return self._create(request)
        if path == "/api/v2/groups" and request.method == "GET":
            groups = list(self.groups.values())
            return 200, {}, {"groups": groups, "count": len(groups), "next_page": None, "previous_page": None}
        if path.startswith("/api/v2/groups/") and request.method == "GET":
            group = self.groups.get(path.rsplit("/", 1)[1])
            return (200, {}, {"group": group}) if group else (404, {}, {"error": "RecordNotFound"})
        if path == "/api/v2/tickets/show_many" and request.method == "GET":
            wanted = {int(i) for i in request.query.get("ids", "").split(",") if i.strip().isdigit()}
            found = [t for t in self.tickets if t["id"] in wanted]
            return 200, {}, {"tickets": found, "count": len(found), "next_page": None, "previous_page": None}
        if path.startswith("/api/v2/tickets/") and request.method == "PUT":
            return self._update(request, path.rsplit("/", 1)[1])
        if path == "/api/v2/search" and request.method == "GET":
            query = request.query.get("query", "")
            ext = query.split("external_id:", 1)[1].split()[0] if "external_id:" in query else None
            found = [dict(t, result_type="ticket") for t in self.tickets if t["external_id"] == ext]
            return 200, {}, {"results": found, "count": len(found), "next_page": None}
        return 404, {}, {"error": "InvalidEndpoint", "description": "Not found"}

    def _create(self, request: Request) -> Response:
        body = request.form()
        self.violations += [f"create: {e.message}" for e in self.create_schema.iter_errors(body)]
        ticket_in = body.get("ticket") or {}
        if "comment" not in ticket_in:
            return 422, {}, {"error": "RecordInvalid", "details": {"base": [{"description": "comment missing"}]}}
        ticket_id = next(self._ids)
        ticket = {
            "id": ticket_id,
            "url": f"{self.base}/api/v2/tickets/{ticket_id}.json",
            "external_id": ticket_in.get("external_id"),
            "subject": ticket_in.get("subject"),
            "description": ticket_in["comment"].get("body"),
            "priority": ticket_in.get("priority"),
            "status": "new",
            "tags": ticket_in.get("tags", []),
            "group_id": ticket_in.get("group_id"),
            "requester_id": 20978392,
            "type": ticket_in.get("type"),
            "problem_id": ticket_in.get("problem_id"),
            "comments": [ticket_in["comment"].get("body")],
            "requester": ticket_in.get("requester"),  # kept only so tests can inspect what was sent
        }
        with self.lock:
            self.tickets.append(ticket)
            if self.lose_next_response:
                self.lose_next_response = False
                return 500, {}, {"error": "timeout"}
        return 201, {"Location": ticket["url"]}, {"ticket": ticket}

    def _update(self, request: Request, raw_id: str) -> Response:
        body = request.form()
        self.violations += [f"update: {e.message}" for e in self.update_schema.iter_errors(body)]
        change = dict(body.get("ticket") or {})
        with self.lock:
            ticket = next((t for t in self.tickets if str(t["id"]) == raw_id), None)
            if ticket is None:
                return 404, {}, {"error": "RecordNotFound", "description": "Not found"}
            problem_id = change.get("problem_id")
            if problem_id is not None:
                problem = next((t for t in self.tickets if t["id"] == problem_id), None)
                if problem is None or problem.get("type") != "problem":
                    return 422, {}, {"error": "RecordInvalid", "details": {"problem_id": [{"description": "bad"}]}}
            if "comment" in change:
                ticket["comments"].append(change.pop("comment").get("body"))
            ticket.update({k: v for k, v in change.items() if k in ("type", "problem_id", "status", "priority")})
            return 200, {}, {"ticket": ticket, "audit": {"id": next(self._ids)}}

    def set_status(self, ticket_id: int, status: str) -> None:
        """What an agent does in the Zendesk UI (solving a ticket)."""
        with self.lock:
            next(t for t in self.tickets if t["id"] == ticket_id)["status"] = status

    def by_external_id(self, external_id: str) -> list[dict[str, Any]]:
        with self.lock:
            return [t for t in self.tickets if t["external_id"] == external_id]
