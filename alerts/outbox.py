"""Writing outbox rows: the only way alerts leave the database.

Rows are inserted in the caller's transaction (so an alert and its deliveries commit or vanish
together) and every row carries a unique idempotency key, so recording the same event twice never
enqueues a second delivery.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from alerts.sinks import can
from monitor.kernel.states import OutboxStatus
from monitor.kernel.store.tables import OutboxMessage
from monitor.kernel.types import Capability

KEY_LIMIT = 200  # outbox.idempotency_key is String(200)


def outbox_key(*parts: object) -> str:
    """A readable idempotency key, hashed down when it would not fit the column."""
    key = ":".join(str(p) for p in parts)
    if len(key) <= KEY_LIMIT:
        return key
    return key[:150] + ":" + hashlib.sha256(key.encode()).hexdigest()[:40]


def find(session: Session, key: str) -> OutboxMessage | None:
    return session.scalars(select(OutboxMessage).where(OutboxMessage.idempotency_key == key)).first()


def enqueue(
    session: Session,
    *,
    key: str,
    sink: str,
    action: str,
    payload: dict[str, Any],
    alert_id: int | None,
    due: datetime,
) -> OutboxMessage:
    """Insert a pending row unless one with `key` exists (then return that one untouched)."""
    existing = find(session, key)
    if existing is not None:
        return existing
    row = OutboxMessage(
        alert_id=alert_id,
        sink=sink,
        action=action,
        payload=payload,
        idempotency_key=key,
        status=OutboxStatus.PENDING,
        next_attempt_at=due,
        created_at=due,
    )
    session.add(row)
    session.flush()
    return row


def enqueue_many(session: Session, rows: Sequence[NewMessage], due: datetime) -> None:
    """`enqueue` for a batch, in one INSERT: rows whose key exists already are left untouched.

    The caller's ORM changes are flushed first, so a row it added by `enqueue` counts as existing.
    Rows go to the Core table as one executemany: an ORM-enabled bulk insert spends more time turning
    each row's attributes into columns than the database spends storing it.
    """
    if not rows:
        return
    session.flush()
    values = [
        {
            "alert_id": row.alert_id,
            "sink": row.sink,
            "action": row.action,
            "payload": row.payload,
            "idempotency_key": row.key,
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": due,
            "created_at": due,
        }
        for row in rows
    ]
    module: Any = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    session.execute(
        module.insert(OutboxMessage.__table__).on_conflict_do_nothing(index_elements=["idempotency_key"]), values
    )


@dataclass(frozen=True, slots=True)
class NewMessage:
    """One outbox row to insert with `enqueue_many`."""

    key: str
    sink: str
    action: str
    payload: dict[str, Any]
    alert_id: int | None = None


def post_rows(session: Session, alert_id: int) -> list[OutboxMessage]:
    """The first message of an alert per sink: threads and updates hang off these."""
    return list(
        session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.alert_id == alert_id, OutboxMessage.action == "post")
            .order_by(OutboxMessage.id)
        )
    )


def count_children(session: Session, parent_key: str, action: str) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.action == action, OutboxMessage.idempotency_key.like(f"{parent_key}:{action}:%"))
        )
        or 0
    )


def enqueue_update(session: Session, alert_id: int, view: dict[str, Any], now: datetime) -> list[int]:
    """Refresh every posted message of an alert (chat.update). Pending updates collapse into one."""
    ids = []
    for post in post_rows(session, alert_id):
        if not can(post.sink, Capability.EDITS):
            continue  # only some sinks' messages can be edited in place (Slack's)
        pending = session.scalars(
            select(OutboxMessage).where(
                OutboxMessage.alert_id == alert_id,
                OutboxMessage.action == "update",
                OutboxMessage.status == OutboxStatus.PENDING,
                OutboxMessage.idempotency_key.like(f"{post.idempotency_key}:update:%"),
            )
        ).first()
        payload = {**post.payload, "alert": view, "parent_key": post.idempotency_key}
        if pending is not None:
            pending.payload = payload  # a newer snapshot supersedes the queued one
            ids.append(pending.id)
            continue
        n = count_children(session, post.idempotency_key, "update") + 1
        key = outbox_key(post.idempotency_key, "update", n)
        row = enqueue(
            session, key=key, sink=post.sink, action="update", payload=payload, alert_id=alert_id, due=now
        )
        ids.append(row.id)
    return ids


def enqueue_thread_reply(
    session: Session,
    alert_id: int,
    text: str,
    mentions: list[dict[str, Any]],
    tag: str,
    now: datetime,
    *,
    trusted: bool = False,
) -> list[int]:
    """A follow-up under each posted message of an alert (Slack thread; console prints it indented).

    `trusted` marks text we composed ourselves (Slack markup kept); anything else is escaped by the sink.
    `tag` identifies the follow-up (e.g. the new mention ids), so the same follow-up is never queued twice.
    """
    ids = []
    parent = (post_rows(session, alert_id) or [None])[0]
    under = (parent.payload.get("alert") or {}) if parent is not None else {}
    for post in post_rows(session, alert_id):
        if not can(post.sink, Capability.THREADS):
            continue
        key = outbox_key(post.idempotency_key, "thread_reply", tag)
        payload = {"text": text, "mentions": mentions, "parent_key": post.idempotency_key, "trusted": trusted}
        payload["parent"] = {"kind": under.get("kind"), "headline": under.get("headline")}  # console shows it
        if "channel" in post.payload:
            payload["channel"] = post.payload["channel"]
        row = enqueue(
            session, key=key, sink=post.sink, action="thread_reply", payload=payload, alert_id=alert_id, due=now
        )
        ids.append(row.id)
    return ids


def enqueue_ticket(
    session: Session, alert_id: int, view: dict[str, Any], group: str | None, external_id: str, now: datetime
) -> None:
    """Shared with the Slack "Create ticket" button, so a route and a click never make two tickets."""
    enqueue(
        session,
        key=outbox_key("zendesk", external_id),
        sink="zendesk",
        action="create_ticket",
        payload={"alert": view, "group_id": group, "external_id": external_id},
        alert_id=alert_id,
        due=now,
    )
