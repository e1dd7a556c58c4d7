"""Erasure: a post deleted at its source, or every post of an author who asked to be forgotten.

An erased mention becomes a tombstone: its row stays so that counts in past reports and alert
evidence stay consistent, but nothing in it points to a person or a post any more - the author hash
and the external id go too (the id would let anyone look the post up again on the platform). Feedback
rows about an erased post are deleted: they exist to be exported with the post's text as evaluation
data, which no longer exists.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from pydantic import SecretStr
from sqlalchemy import String, cast, delete, literal, null, select, update
from sqlalchemy.orm import Session

from monitor.kernel.store.pseudonym import Pseudonymiser
from monitor.kernel.store.tables import Feedback, Mention
from monitor.privacy.copies import CopyStats, chunks, redact_everywhere
from monitor.privacy.redact import Needles
from monitor.privacy.retention import anonymise_mentions, expire_loaded

log = logging.getLogger(__name__)

ERASED_PREFIX = "erased:"
REASONS = ("source_deleted", "data_subject_request", "operator")

KeyLike = Pseudonymiser | SecretStr | str | bytes


@dataclass
class ErasureStats:
    mentions: int = 0
    feedback: int = 0
    copies: CopyStats = field(default_factory=CopyStats)


def as_pseudonymiser(key: KeyLike) -> Pseudonymiser:
    return key if isinstance(key, Pseudonymiser) else Pseudonymiser(key)


def is_erased(mention: Mention) -> bool:
    return mention.external_id.startswith(ERASED_PREFIX)


def _tombstone(session: Session, ids: Sequence[int]) -> None:
    """Remove what retention keeps: the author hash, the follower count and the post's ids."""
    session.execute(
        update(Mention)
        .where(Mention.id.in_(ids))
        .values(
            author_key=null(),
            author_followers=null(),
            parent_external_id=null(),
            external_id=literal(ERASED_PREFIX) + cast(Mention.id, String),  # unique: row ids are
        )
        .execution_options(synchronize_session=False)
    )
    expire_loaded(session, ids)


def erase_mentions(
    session: Session, mention_ids: Collection[int], reason: str, now: datetime | None = None
) -> ErasureStats:
    """Erase these mentions and every copy of them; idempotent (erased ones are skipped).

    `reason` is one of REASONS and is logged (never the content), so an operator can account for
    erasures without keeping what was erased. Runs in the caller's transaction.
    """
    if reason not in REASONS:
        raise ValueError(f"unknown erasure reason {reason!r}; expected one of {', '.join(REASONS)}")
    now = now or datetime.now(UTC)
    stats = ErasureStats()
    for batch in chunks(sorted(set(mention_ids))):
        ids = list(
            session.scalars(
                select(Mention.id)
                .where(Mention.id.in_(batch), Mention.external_id.not_like(f"{ERASED_PREFIX}%"))
                .order_by(Mention.id)
            )
        )
        if not ids:
            continue
        stats.copies.add(anonymise_mentions(session, ids, now, author_keys=True))
        _tombstone(session, ids)
        result = session.execute(delete(Feedback).where(Feedback.mention_id.in_(ids)))
        stats.feedback += result.rowcount or 0
        stats.mentions += len(ids)
    session.flush()
    log.info("erased %d mentions (reason=%s), %d feedback rows", stats.mentions, reason, stats.feedback)
    return stats


def erase_external(
    session: Session,
    source_id: int,
    external_ids: Collection[str],
    reason: str = "source_deleted",
    now: datetime | None = None,
) -> ErasureStats:
    """Erase by the platform's post ids: what a delete event (Mastodon `delete`, a Bluesky record
    deletion) carries. Unknown ids are ignored: the post may never have matched the brand."""
    ids: list[int] = []
    for batch in chunks(sorted(set(external_ids))):
        ids += session.scalars(
            select(Mention.id).where(Mention.source_id == source_id, Mention.external_id.in_(batch))
        ).all()
    return erase_mentions(session, ids, reason, now)


def author_mention_ids(session: Session, handle: str, key: KeyLike) -> list[int]:
    """The author's mentions, found by keyed hash: works after retention removed the handle."""
    author_key = as_pseudonymiser(key).author_key(handle)
    if author_key is None:
        raise ValueError("an author handle is required")
    return list(session.scalars(select(Mention.id).where(Mention.author_key == author_key).order_by(Mention.id)))


def erase_author(session: Session, handle: str, key: KeyLike, now: datetime | None = None) -> ErasureStats:
    """Answer an erasure request: the author's mentions, plus their handle wherever it was copied."""
    pseudonymiser = as_pseudonymiser(key)
    ids = author_mention_ids(session, handle, pseudonymiser)
    stats = erase_mentions(session, ids, "data_subject_request", now)
    needles = Needles()
    needles.add_handle(handle)
    needles.add_author_key(pseudonymiser.author_key(handle))
    stats.copies.add(redact_everywhere(session, needles.compile()))
    session.flush()
    return stats
