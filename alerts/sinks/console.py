"""Console sink: a readable alert on stdout, for `repmon demo` and installs without Slack."""

from __future__ import annotations

import sys
from typing import Any, ClassVar, TextIO

from alerts.config import AlertsConfig
from alerts.slack_blocks import INCIDENT_KINDS, counts_line
from monitor.kernel.types import Capability, Delivery, DeliveryResult

SEVERITY_MARK = {"low": "·", "medium": "!", "high": "!!", "critical": "!!!"}


def format_alert(view: dict[str, Any]) -> str:
    """A few plain lines: what happened, where, how big, and the post that shows it."""
    mark = SEVERITY_MARK.get(view.get("severity", ""), "?")
    lines = [
        f"[{mark} {view.get('severity', '?').upper()}] {view.get('headline', '')}",
        "  "
        + " · ".join(
            part
            for part in (
                view.get("brand"),
                "/".join(view.get("languages") or []) or None,
                "/".join(view.get("sources") or []) or None,
                f"{view.get('mention_count', 0)} mentions",
                f"state {view.get('state')}",
            )
            if part
        ),
    ]
    lines.append("  " + counts_line(view).replace("*", ""))
    if view.get("kind") in INCIDENT_KINDS:
        tickets = ", ".join(f"#{t.get('id')}" for t in view.get("case_tickets") or [])
        lines.append(
            f"  {view.get('customers', 0)} customer(s) affected"
            + (f" · aspects {', '.join(view.get('aspects')[:3])}" if view.get("aspects") else "")
            + (f" · tickets {tickets}" if tickets else "")
        )
    top = view.get("top_post")
    if top:
        lines.append(f"  > {top.get('text', '')}")
        if top.get("url"):
            lines.append(f"    {top['url']}")
    return "\n".join(lines)


def format_delivery(delivery: Delivery) -> str:
    payload = delivery.payload
    if delivery.action in ("post", "update"):
        prefix = "UPDATE " if delivery.action == "update" else ""
        return prefix + format_alert(payload.get("alert", {}))
    if delivery.action == "thread_reply":  # under its own parent, named, so a reader sees which thread
        parent = payload.get("parent") or {}
        named = f"{parent.get('kind')}: {parent.get('headline')}" if parent.get("kind") else ""
        return f"  ↳ (alert {delivery.alert_id}{' · ' + named if named else ''}) {payload.get('text', '')}"
    if delivery.action == "create_ticket":  # only as the fallback when the helpdesk is not configured
        group = payload.get("group_id")
        head = f"[helpdesk ticket for group {group}] " if group else "[helpdesk ticket] "
        return head + format_alert(payload.get("alert", {}))
    if delivery.action == "digest":
        items = payload.get("items", [])
        head = f"[{payload.get('title', 'Digest')}] {len(items)} alert(s)"
        return "\n".join([head, *(f"  - [{i.get('severity')}] {i.get('headline')}" for i in items)])
    return f"[{delivery.action}] {payload}"


class ConsoleSink:
    """Writes each delivery to a text stream (stdout by default). Never fails, so never retries."""

    name: ClassVar[str] = "console"
    capabilities: ClassVar[frozenset[Capability]] = frozenset({Capability.POSTS, Capability.THREADS})

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream

    @classmethod
    def from_config(cls, config: AlertsConfig) -> ConsoleSink:
        return cls()

    def deliver(self, delivery: Delivery) -> DeliveryResult:
        stream = self._stream or sys.stdout
        stream.write(format_delivery(delivery) + "\n")
        stream.flush()
        return DeliveryResult(ok=True, result={"printed": True})
