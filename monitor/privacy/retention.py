"""Retention: past the configured age a mention keeps its numbers and loses everything personal.

What stays (aggregates the report and the detectors need): brand, source, time, language, rating,
engagement counts, the sentiment label and aspect scores, story and alert membership, and the keyed
author hash (pseudonymous, so a data-subject request can still find the rows; see docs/privacy.md).
What goes: text, title, URL, handle, links, the raw platform payload, the text embedding (it is
derived from the text), and every copy of those in alerts, stories and the outbox.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, func, null, select, update
from sqlalchemy.orm import Session

from monitor.kernel.states import FINISHED
from monitor.kernel.store.tables import Mention, OutboxMessage, Score
from monitor.privacy.copies import (
    BATCH,
    CopyStats,
    alert_ids_for,
    outbox_ids_for,
    redact_rows,
    story_ids_for,
)
from monitor.privacy.redact import Needles

log = logging.getLogger(__name__)

PURGED_PAYLOAD = {"purged": True}
FINISHED_OUTBOX = FINISHED


@dataclass
class PurgeStats:
    mentions: int = 0
    outbox_payloads_dropped: int = 0
    copies: CopyStats = field(default_factory=CopyStats)


CONTENT = (Mention.id, Mention.text, Mention.title, Mention.url, Mention.author_handle, Mention.links)


def needles_of(rows: Iterable[Row[Any]]) -> Needles:
    """What to search for in copies: the posts' texts, titles, URLs, links and handles."""
    needles = Needles()
    for row in rows:
        needles.add_text(row.text)
        needles.add_text(row.title)
        needles.add_literal(row.url)
        needles.add_handle(row.author_handle)
        for link in row.links or ():
            if isinstance(link, str):
                needles.add_literal(link)
    return needles


def expire_loaded(session: Session, ids: Collection[int]) -> None:
    """Bulk UPDATEs bypass the ORM: make any Mention the caller already loaded re-read its row."""
    wanted = set(ids)
    for obj in list(session.identity_map.values()):
        if isinstance(obj, Mention) and obj.id in wanted:
            session.expire(obj)


def anonymise_mentions(
    session: Session, ids: Sequence[int], now: datetime, *, author_keys: bool = False
) -> CopyStats:
    """Blank a batch (at most BATCH ids) of mentions and every copy of their content, in the caller's transaction.

    One bulk UPDATE per batch rather than per-row ORM writes: retention runs over whole backlogs.
    `author_keys`: also blank copies of the authors' keyed hashes (erasure; retention keeps them).
    """
    rows = session.execute(select(*CONTENT, Mention.author_key).where(Mention.id.in_(ids))).all()
    needles = needles_of(rows)
    if author_keys:  # erasure: the pseudonym goes too (sinks copy it, e.g. a ticket's requester name)
        for row in rows:
            needles.add_author_key(row.author_key)
    alert_ids = alert_ids_for(session, ids)
    copies = CopyStats()
    if needles:
        copies = redact_rows(
            session,
            needles.compile(),
            alert_ids=alert_ids,
            story_ids=story_ids_for(session, ids),
            outbox_ids=outbox_ids_for(session, alert_ids),
        )
    session.execute(
        update(Mention)
        .where(Mention.id.in_(ids))
        .values(
            text="",
            title=null(),
            url=null(),
            author_handle=null(),
            links=null(),
            raw=null(),
            anonymised_at=func.coalesce(Mention.anonymised_at, now),
        )
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(Score)
        .where(Score.mention_id.in_(ids))
        .values(embedding=null())
        .execution_options(synchronize_session=False)
    )
    expire_loaded(session, ids)
    return copies


def purge(session: Session, now: datetime, retention: timedelta | int) -> PurgeStats:
    """Apply retention to everything older than `now - retention` (days if an int). Idempotent.

    Runs in the caller's transaction, in batches so memory stays bounded on a large backlog. Finished
    outbox rows past the limit lose their whole payload (delivery status and result stay): they are
    operational history, and a payload can quote a post no link points back to.
    """
    if isinstance(retention, int):
        retention = timedelta(days=retention)
    if retention <= timedelta(0):
        raise ValueError(f"retention must be positive, got {retention}")
    cutoff = now - retention
    stats = PurgeStats()
    last_id = 0
    while True:
        ids = list(
            session.scalars(
                select(Mention.id)
                # Walking the primary key keeps each batch's scan short on a large table.
                .where(Mention.id > last_id, Mention.created_at < cutoff, Mention.anonymised_at.is_(None))
                .order_by(Mention.id)
                .limit(BATCH)
            )
        )
        if not ids:
            break
        last_id = ids[-1]
        stats.copies.add(anonymise_mentions(session, ids, now))
        stats.mentions += len(ids)
        session.flush()
    for message in session.scalars(
        select(OutboxMessage).where(OutboxMessage.created_at < cutoff, OutboxMessage.status.in_(FINISHED_OUTBOX))
    ).all():
        if message.payload != PURGED_PAYLOAD:
            message.payload = dict(PURGED_PAYLOAD)
            stats.outbox_payloads_dropped += 1
    session.flush()
    log.info(
        "retention %s: anonymised %d mentions, %d alerts, %d stories, %d outbox payloads; dropped %d",
        retention,
        stats.mentions,
        stats.copies.alerts,
        stats.copies.stories,
        stats.copies.outbox,
        stats.outbox_payloads_dropped,
    )
    return stats
