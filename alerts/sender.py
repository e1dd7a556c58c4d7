"""Drain the outbox: claim due rows, deliver through sinks, retry with backoff, dead-letter.

Claiming sets `locked_until` (and, on PostgreSQL, uses `FOR UPDATE SKIP LOCKED` so concurrent senders
never wait on each other). A sender that crashes mid-delivery leaves its rows `in_flight`; once the lock
expires another sender claims them again. That redelivery is safe because every sink deduplicates by the
row's idempotency key (Slack message metadata, Zendesk external_id, webhook Idempotency-Key header), which
is what makes delivery effectively once. Attempts are counted at claim time, so even a message that
crashes the sender every time ends in dead-letter instead of looping forever. 429s are not failures: the
row waits `retry_after` seconds without using up an attempt, and the whole sink pauses for this drain.
"""

from __future__ import annotations

import hashlib
import logging
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from alerts import outbox
from alerts.config import OutboxConfig
from alerts.followups import after_delivery
from monitor.kernel.states import CLAIMABLE, OutboxStatus
from monitor.kernel.store.tables import OutboxMessage, utcnow
from monitor.kernel.types import Delivery, DeliveryResult, Sink

log = logging.getLogger(__name__)


@dataclass
class DrainStats:
    claimed: int = 0
    delivered: int = 0
    retried: int = 0  # failed, will be retried after backoff
    rate_limited: int = 0  # 429 (or paused behind one): retried after retry_after, attempt not counted
    deferred: int = 0  # waiting for the message it replies to / updates
    dead: int = 0
    lost_claims: int = 0  # another sender took the row over after our lock expired
    fallback: int = 0  # printed on the console because their sink is not configured


class OutboxSender:
    def __init__(
        self,
        session_factory: Callable[[], Session],
        sinks: Mapping[str, Sink],
        config: OutboxConfig | None = None,
        unavailable: Mapping[str, str] | None = None,
    ) -> None:
        self.session_factory = session_factory
        self.sinks = dict(sinks)
        self.config = config or OutboxConfig()
        self.unavailable = dict(unavailable or {})  # sink -> why it could not be built (for the fallback log)
        self._warned: set[str] = set()

    def drain(self, now: datetime | None = None, limit: int = 100) -> DrainStats:
        """Deliver up to `limit` due messages once each; returns what happened to them."""
        now = now or utcnow()
        stats = DrainStats()
        lock = now + self.config.lock_for
        claimed = self._claim(now, lock, limit)
        stats.claimed = len(claimed)
        paused: dict[str, datetime] = {}  # sink -> until, after a 429
        for row_id in sorted(claimed):  # creation order: a post is always delivered before its replies
            self._process(row_id, now, lock, paused, stats)
        return stats

    # ------------------------------------------------------------------ claiming

    def _claim(self, now: datetime, lock: datetime, limit: int) -> list[int]:
        with self.session_factory() as session, session.begin():
            query = (
                select(OutboxMessage.id)
                .where(
                    OutboxMessage.status.in_(CLAIMABLE),
                    OutboxMessage.next_attempt_at <= now,
                    or_(OutboxMessage.locked_until.is_(None), OutboxMessage.locked_until <= now),
                )
                .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
                .limit(limit)
            )
            if session.get_bind().dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            claimed = []
            for row_id in session.scalars(query).all():
                # The conditional update is the claim itself, so it is atomic on SQLite too.
                result = session.execute(
                    update(OutboxMessage)
                    .where(
                        OutboxMessage.id == row_id,
                        OutboxMessage.status.in_(CLAIMABLE),
                        or_(OutboxMessage.locked_until.is_(None), OutboxMessage.locked_until <= now),
                    )
                    .values(status=OutboxStatus.IN_FLIGHT, locked_until=lock, attempts=OutboxMessage.attempts + 1)
                    .execution_options(synchronize_session=False)
                )
                if result.rowcount == 1:  # type: ignore[attr-defined]
                    claimed.append(row_id)
            return claimed

    # ------------------------------------------------------------------ one message

    def _process(
        self, row_id: int, now: datetime, lock: datetime, paused: dict[str, datetime], stats: DrainStats
    ) -> None:
        with self.session_factory() as session:
            row = session.get(OutboxMessage, row_id)
            if row is None:
                return
            delivery, wait = self._prepare(session, row)
        if wait == "dead_parent":
            self._finish(row_id, lock, stats, dead="the message this one refers to was dead-lettered")
            return
        if wait == "parent":
            self._finish(row_id, lock, stats, defer_until=now + self.config.backoff_base, kind="deferred")
            return
        if delivery.attempts > self.config.max_attempts:  # claimed again and again: the sender keeps dying
            self._finish(row_id, lock, stats, dead=f"gave up after {delivery.attempts - 1} unfinished attempts")
            return
        if delivery.sink in paused:
            self._finish(row_id, lock, stats, defer_until=paused[delivery.sink], kind="rate_limited")
            return
        sink = self.sinks.get(delivery.sink)
        if sink is None and "console" in self.sinks:  # never a silent wait: print it, and say why
            sink = self.sinks["console"]
            result = self._fallback(delivery, sink, stats)
        elif sink is None:
            result = DeliveryResult(ok=False, error=f"sink {delivery.sink!r} is not configured")
        else:
            try:
                result = sink.deliver(delivery)
            except Exception as exc:  # a sink bug must not stop the other deliveries
                result = DeliveryResult(ok=False, error=f"{type(exc).__name__}: {exc}")
                log.error(
                    "sink %s raised on outbox %s: %s\n%s",
                    delivery.sink,
                    row_id,
                    _scrub(sink, result.error or ""),
                    "".join(traceback.format_tb(exc.__traceback__)),  # frames only: the message may hold a secret
                )
        if result.error:  # an error body may echo the request's credentials: never store or log them
            result = replace(result, error=_scrub(sink, result.error))
        if result.ok:
            self._finish(row_id, lock, stats, result=result, now=now)
        elif result.retry_after is not None:
            until = now + timedelta(seconds=max(result.retry_after, 0.0))
            paused[delivery.sink] = until
            self._finish(row_id, lock, stats, defer_until=until, kind="rate_limited", error=result.error)
        elif result.permanent or delivery.attempts >= self.config.max_attempts:
            self._finish(row_id, lock, stats, dead=result.error or "failed")
        else:
            until = now + self.backoff(row_id, delivery.attempts)
            self._finish(row_id, lock, stats, defer_until=until, kind="retried", error=result.error, counted=True)

    def _fallback(self, delivery: Delivery, console: Sink, stats: DrainStats) -> DeliveryResult:
        """An alert for a sink that is not configured goes to the console; the log says which and why."""
        reason = self.unavailable.get(delivery.sink) or "it is not configured"
        if delivery.sink not in self._warned:
            self._warned.add(delivery.sink)
            log.warning(
                "sink %s cannot deliver (%s); printing its alerts on the console instead "
                "(`repmon config check` names what to set)",
                delivery.sink,
                reason,
            )
        result = console.deliver(delivery)
        if result.ok:
            stats.fallback += 1
            result = replace(result, result={**result.result, "fallback": "console", "reason": reason[:300]})
        return result

    def _prepare(self, session: Session, row: OutboxMessage) -> tuple[Delivery, str | None]:
        """The Delivery to hand the sink; replies/updates get their parent message's result (e.g. ts)."""
        payload: dict[str, Any] = {**row.payload, "enqueued_at": row.created_at.isoformat()}
        wait = None
        parent_key = payload.get("parent_key")
        if parent_key:
            parent = outbox.find(session, parent_key)
            if parent is None or parent.status == OutboxStatus.DEAD:
                wait = "dead_parent"
            elif parent.status != OutboxStatus.DELIVERED:
                wait = "parent"
            else:
                payload["parent_result"] = dict(parent.result or {})
        delivery = Delivery(
            outbox_id=row.id,
            alert_id=row.alert_id,
            sink=row.sink,
            action=row.action,
            payload=payload,
            idempotency_key=row.idempotency_key,
            attempts=row.attempts,
        )
        return delivery, wait

    def backoff(self, row_id: int, attempts: int) -> timedelta:
        """Exponential backoff with a deterministic per-row jitter (0-25 %), capped at `backoff_max`."""
        base = self.config.backoff_base.total_seconds() * 2 ** max(attempts - 1, 0)
        jitter = int(hashlib.sha256(f"{row_id}:{attempts}".encode()).hexdigest()[:4], 16) / 0xFFFF / 4
        return min(timedelta(seconds=base * (1 + jitter)), self.config.backoff_max)

    def _finish(
        self,
        row_id: int,
        lock: datetime,
        stats: DrainStats,
        *,
        result: DeliveryResult | None = None,
        now: datetime | None = None,
        defer_until: datetime | None = None,
        kind: str = "retried",
        error: str | None = None,
        dead: str | None = None,
        counted: bool = False,
    ) -> None:
        """Record the outcome, but only while our claim still holds (compare-and-set on locked_until)."""
        with self.session_factory() as session, session.begin():
            row = session.get(OutboxMessage, row_id)
            if row is None or row.status != OutboxStatus.IN_FLIGHT or row.locked_until != lock:
                stats.lost_claims += 1
                return
            row.locked_until = None
            if result is not None:
                row.status = OutboxStatus.DELIVERED
                row.delivered_at = now
                row.result = dict(result.result)
                row.last_error = None
                after_delivery(session, row, now or utcnow())
                stats.delivered += 1
            elif dead is not None:
                row.status = OutboxStatus.DEAD
                row.last_error = dead[:2000]
                stats.dead += 1
                log.warning("outbox %s (%s %s) dead-lettered: %s", row_id, row.sink, row.action, dead)
            else:
                assert defer_until is not None
                row.status = OutboxStatus.PENDING
                row.next_attempt_at = defer_until
                if not counted:
                    row.attempts = max(row.attempts - 1, 0)  # waiting is not a failed attempt
                if error:
                    row.last_error = error[:2000]
                setattr(stats, kind, getattr(stats, kind) + 1)


def _scrub(sink: Any, text: str) -> str:
    """The sink's own scrubber (it knows its secrets) plus the generic token patterns."""
    from monitor.kernel.net import redact

    scrub = getattr(sink, "scrub", None)
    return redact(scrub(text) if callable(scrub) else text)


def retry_dead(session: Session, ids: list[int] | None, now: datetime) -> int:
    """Move dead-lettered messages back to pending with a fresh attempt budget (`repmon outbox retry`)."""
    query = select(OutboxMessage).where(OutboxMessage.status == OutboxStatus.DEAD)
    if ids:
        query = query.where(OutboxMessage.id.in_(ids))
    rows = session.scalars(query).all()
    for row in rows:
        row.status = OutboxStatus.PENDING
        row.attempts = 0
        row.next_attempt_at = now
        row.locked_until = None
    return len(rows)
