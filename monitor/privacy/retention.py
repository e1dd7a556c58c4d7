"""Retention: past the configured age a mention keeps its numbers and loses everything personal.

What stays (aggregates the report and the detectors need): brand, source, time, language, rating,
engagement counts, the sentiment label and aspect scores, story and alert membership, and the keyed
author hash (pseudonymous, so a data-subject request can still find the rows; see docs/privacy.md).
What goes: text, title, URL, handle, links, the raw platform payload, the text embedding (it is
derived from the text), and every copy of those in alerts, stories and the outbox.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from monitor.privacy.copies import (
    BATCH,
    CopyStats,
    alert_ids_for,
    chunks,
    outbox_ids_for,
    redact_rows,
    story_ids_for,
)
from monitor.privacy.redact import Needles
from monitor.store.tables import Mention, OutboxMessage, Score

log = logging.getLogger(__name__)

PURGED_PAYLOAD = {"purged": True}
FINISHED_OUTBOX = ("delivered", "dead")


@dataclass
class PurgeStats:
    mentions: int = 0
    outbox_payloads_dropped: int = 0
    copies: CopyStats = field(default_factory=CopyStats)


def needles_of(mention: Mention) -> Needles:
    needles = Needles()
    needles.add_text(mention.text)
    needles.add_text(mention.title)
    needles.add_literal(mention.url)
    needles.add_handle(mention.author_handle)
    for link in mention.links or ():
        if isinstance(link, str):
            needles.add_literal(link)
    return needles


def blank_content(mention: Mention, now: datetime) -> None:
    """Remove what identifies or quotes the author; keep counts, time, language, rating, author_key."""
    mention.text = ""
    mention.title = None
    mention.url = None
    mention.author_handle = None
    mention.links = None
    mention.raw = None
    mention.anonymised_at = now


def anonymise_mentions(session: Session, mentions: list[Mention], now: datetime) -> CopyStats:
    """Blank a batch of mentions and every copy of their content; the caller owns the transaction."""
    needles = Needles()
    for mention in mentions:
        batch_needles = needles_of(mention)
        needles.texts |= batch_needles.texts
        needles.literals |= batch_needles.literals
        needles.handles |= batch_needles.handles
    ids = [m.id for m in mentions]
    alert_ids = alert_ids_for(session, ids)
    story_ids = story_ids_for(session, ids)
    copies = CopyStats()
    if needles:
        copies = redact_rows(
            session,
            needles.compile(),
            alert_ids=alert_ids,
            story_ids=story_ids,
            outbox_ids=outbox_ids_for(session, alert_ids),
        )
    for mention in mentions:
        blank_content(mention, now)
    for batch in chunks(ids):
        session.execute(update(Score).where(Score.mention_id.in_(batch)).values(embedding=None))
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
    while True:
        mentions = list(
            session.scalars(
                select(Mention)
                .where(Mention.created_at < cutoff, Mention.anonymised_at.is_(None))
                .order_by(Mention.id)
                .limit(BATCH)
            )
        )
        if not mentions:
            break
        stats.copies.add(anonymise_mentions(session, mentions, now))
        stats.mentions += len(mentions)
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
