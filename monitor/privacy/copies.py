"""Copies of mention content outside the mentions table, and blanking them.

Alerts, stories and outbox payloads quote the posts they are about. Which rows hold copies is known
from the links (alert_mentions, mentions.story_id, outbox.alert_id); what to blank inside them is
decided by the Redactor, so aggregates (counts, severities, states, labels) stay intact.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.kernel.store.tables import Alert, AlertMention, Mention, OutboxMessage, Story
from monitor.privacy.redact import Redactor

BATCH = 500
T = TypeVar("T")


def chunks(items: Sequence[T] | Collection[T], size: int = BATCH) -> Iterator[list[T]]:
    """Bounded IN-lists: PostgreSQL and SQLite both limit bound parameters per statement."""
    seq = list(items)
    for start in range(0, len(seq), size):
        yield seq[start : start + size]


@dataclass
class CopyStats:
    alerts: int = 0
    stories: int = 0
    outbox: int = 0

    def add(self, other: CopyStats) -> None:
        self.alerts += other.alerts
        self.stories += other.stories
        self.outbox += other.outbox


def alert_ids_for(session: Session, mention_ids: Collection[int]) -> set[int]:
    """Alerts that cite the mentions directly or through the mentions' stories."""
    found: set[int] = set()
    for batch in chunks(mention_ids):
        found.update(
            session.scalars(select(AlertMention.alert_id).where(AlertMention.mention_id.in_(batch))).all()
        )
        story_ids = select(Mention.story_id).where(Mention.id.in_(batch), Mention.story_id.is_not(None))
        found.update(session.scalars(select(Alert.id).where(Alert.story_id.in_(story_ids))).all())
    return found


def story_ids_for(session: Session, mention_ids: Collection[int]) -> set[int]:
    found: set[int] = set()
    for batch in chunks(mention_ids):
        rows = session.scalars(
            select(Mention.story_id).where(Mention.id.in_(batch), Mention.story_id.is_not(None))
        ).all()
        found.update(r for r in rows if r is not None)
    return found


def outbox_ids_for(session: Session, alert_ids: Collection[int]) -> set[int]:
    """Outbox rows of the alerts, including digest/overflow summaries that list them in `items`.

    Summaries cover several alerts, so they carry no `alert_id` of their own; their items quote the
    alerts' headlines (and so possibly the post) and must be found through the payload.
    """
    found: set[int] = set()
    for batch in chunks(alert_ids):
        found.update(session.scalars(select(OutboxMessage.id).where(OutboxMessage.alert_id.in_(batch))).all())
    wanted = set(alert_ids)
    if wanted:
        summaries = session.execute(
            select(OutboxMessage.id, OutboxMessage.payload).where(OutboxMessage.alert_id.is_(None))
        ).all()
        for row_id, payload in summaries:
            items = (payload or {}).get("items") or []
            if any(isinstance(i, dict) and i.get("alert_id") in wanted for i in items):
                found.add(row_id)
    return found


def _redact_json(value: Any, redactor: Redactor) -> tuple[Any, bool]:
    new = redactor.json(value)
    return new, new != value


def redact_rows(
    session: Session,
    redactor: Redactor,
    *,
    alert_ids: Iterable[int] = (),
    story_ids: Iterable[int] = (),
    outbox_ids: Iterable[int] = (),
) -> CopyStats:
    """Blank the needles in the given rows; count only rows that really changed (idempotence check)."""
    stats = CopyStats()
    for batch in chunks(sorted(set(alert_ids))):
        for alert in session.scalars(select(Alert).where(Alert.id.in_(batch))).all():
            headline = redactor.text(alert.headline)
            evidence, evidence_changed = _redact_json(alert.evidence, redactor)
            if headline != alert.headline or evidence_changed:
                alert.headline, alert.evidence = headline, evidence
                stats.alerts += 1
    for batch in chunks(sorted(set(story_ids))):
        for story in session.scalars(select(Story).where(Story.id.in_(batch))).all():
            if story.headline and (headline := redactor.text(story.headline)) != story.headline:
                story.headline = headline
                stats.stories += 1
    for batch in chunks(sorted(set(outbox_ids))):
        for message in session.scalars(select(OutboxMessage).where(OutboxMessage.id.in_(batch))).all():
            payload, changed = _redact_json(message.payload, redactor)
            if changed:
                message.payload = payload
                stats.outbox += 1
    return stats


def redact_everywhere(session: Session, redactor: Redactor) -> CopyStats:
    """Scan every alert, story and outbox row: for needles (a handle) that may appear without a link."""
    stats = CopyStats()
    alert_ids = session.scalars(select(Alert.id)).all()
    story_ids = session.scalars(select(Story.id).where(Story.headline.is_not(None))).all()
    outbox_ids = session.scalars(select(OutboxMessage.id)).all()
    stats.add(redact_rows(session, redactor, alert_ids=alert_ids, story_ids=story_ids, outbox_ids=outbox_ids))
    return stats
