"""Engagement re-polling: young mentions are re-read on a decaying schedule, in batches.

Virality prediction needs how fast likes/reposts grow in the first minutes and hours, so a post is
re-read when it is 2, 5, 10, 20, 40 minutes old, then at doubling ages until `max_age`, after which
it is left alone (`next_repoll_at = NULL`). Every observation that changed a count becomes an
`EngagementSnapshot` (through the store's `record_engagement`), and the mention keeps the latest counts.
A post the source reports deleted is erased through the privacy module (reason `source_deleted`):
keeping content its author deleted is exactly what data-protection law forbids.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.kernel.store.engine import Database
from monitor.kernel.store.ingest import ENGAGEMENT_FIELDS, record_engagement
from monitor.kernel.store.tables import Mention
from monitor.kernel.types import Connector, EngagementUpdate
from monitor.privacy.erasure import erase_mentions
from monitor.sync import as_source_error, error_via

log = logging.getLogger(__name__)

DEFAULT_AGES = tuple(timedelta(minutes=m) for m in (2, 5, 10, 20, 40))


@dataclass(frozen=True)
class RepollSchedule:
    """Ages at which a mention is re-read; after the listed ones the last gap keeps doubling."""

    ages: tuple[timedelta, ...] = DEFAULT_AGES
    max_age: timedelta = timedelta(hours=48)

    def age(self, index: int) -> timedelta:
        if index < len(self.ages):
            return self.ages[index]
        return self.ages[-1] * (2 ** (index - len(self.ages) + 1))

    def next_at(self, created_at: datetime, now: datetime) -> datetime | None:
        """The first scheduled age still ahead of `now`; None once the mention is too old to matter."""
        current = now - created_at
        index = 0
        while self.age(index) <= current:
            index += 1
        if self.age(index) > self.max_age:
            return None
        return created_at + self.age(index)


@dataclass
class RepollStats:
    checked: int = 0
    changed: int = 0
    deleted: int = 0
    batches: int = 0
    errors: list[str] = field(default_factory=list)
    error_via: str | None = None  # `monitor.sync.error_via` of the error that stopped the run


def _batch_size(connector: Connector, default: int = 25) -> int:
    settings = getattr(connector, "settings", None)
    return int(getattr(settings, "repoll_batch_size", default) or default)


def repoll_due(
    db: Database,
    source_id: int,
    connector: Connector,
    now: datetime,
    *,
    schedule: RepollSchedule | None = None,
    limit: int = 500,
) -> RepollStats:
    """Re-read engagement of this source's mentions that are due, one transaction per batch.

    A failing batch (rate limited, network) stops the run and leaves those mentions due, so they are
    retried next time instead of silently skipped.
    """
    schedule = schedule or RepollSchedule()
    stats = RepollStats()
    with db.transaction() as session:
        due = session.execute(
            select(Mention.id, Mention.external_id)
            .where(
                Mention.source_id == source_id,
                Mention.next_repoll_at.is_not(None),
                Mention.next_repoll_at <= now,
                Mention.anonymised_at.is_(None),
            )
            .order_by(Mention.next_repoll_at)
            .limit(limit)
        ).all()
    size = _batch_size(connector)
    for start in range(0, len(due), size):
        batch = {external_id: mention_id for mention_id, external_id in due[start : start + size]}
        try:
            updates = {u.external_id: u for u in connector.repoll(list(batch)) if u.external_id in batch}
        except Exception as exc:  # a hostile answer must not stop the re-poll of the sources after this one
            error = as_source_error(exc, connector)
            stats.errors.append(f"{error.kind}: {error}")
            stats.error_via = error_via(exc)
            unexpected = stats.error_via == "catch_all"  # a bug of ours: worth its traceback
            log.warning("re-poll of source %s stopped: %s", source_id, error, exc_info=unexpected)
            break
        stats.batches += 1
        with db.transaction() as session:
            gone = [batch[eid] for eid, update in updates.items() if update.deleted]
            if gone:
                stats.deleted += erase_mentions(session, gone, "source_deleted", now).mentions
            alive = [batch[eid] for eid, update in updates.items() if not update.deleted]
            _apply(session, alive, updates, now, schedule, stats)
            missing = [batch[eid] for eid in batch if eid not in updates]
            _apply(session, missing, {}, now, schedule, stats)
    return stats


def _apply(
    session: Session,
    mention_ids: Sequence[int],
    updates: dict[str, EngagementUpdate],
    now: datetime,
    schedule: RepollSchedule,
    stats: RepollStats,
) -> None:
    if not mention_ids:
        return
    for mention in session.scalars(select(Mention).where(Mention.id.in_(list(mention_ids)))):
        update = updates.get(mention.external_id)
        if update is not None:
            counts = {k: v for k in ENGAGEMENT_FIELDS if (v := getattr(update, k)) is not None}
            stats.checked += 1
            if record_engagement(session, mention, counts, update.observed_at or now):
                stats.changed += 1
        mention.repoll_count += 1
        mention.next_repoll_at = schedule.next_at(mention.created_at, now)
