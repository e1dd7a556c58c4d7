"""Read-side queries for the CLI: stored mentions with their latest score, filtered.

Exports carry the pseudonymous author key, never the handle: a CSV passed around a support team must
not become a list of who complained.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from monitor.kernel.store.tables import Brand, Mention, Score, Source


@dataclass(frozen=True, slots=True)
class MentionRow:
    id: int
    brand: str
    source: str
    external_id: str
    created_at: datetime
    url: str | None
    author_key: str | None
    language: str | None
    text: str
    likes: int | None
    reposts: int | None
    replies: int | None
    sentiment: str | None
    p_negative: float | None
    needs_help: bool | None
    model_version: str | None
    story_id: int | None

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["created_at"] = self.created_at.isoformat()
        return data


def mentions(
    session: Session,
    *,
    brand: str | None = None,
    source: str | None = None,
    since: datetime | None = None,
    sentiment: str | None = None,
    limit: int | None = None,
    newest_first: bool = True,
) -> Iterator[MentionRow]:
    """Mentions matching every given filter, each with its most recent score (if scored)."""
    latest = select(Score.mention_id, func.max(Score.id).label("score_id")).group_by(Score.mention_id).subquery()
    stmt = (
        select(Mention, Brand.name, Source.name, Score)
        .join(Brand, Brand.id == Mention.brand_id)
        .join(Source, Source.id == Mention.source_id)
        .outerjoin(latest, latest.c.mention_id == Mention.id)
        .outerjoin(Score, Score.id == latest.c.score_id)
    )
    if brand:
        stmt = stmt.where(Brand.name == brand)
    if source:
        stmt = stmt.where(Source.name == source)
    if since:
        stmt = stmt.where(Mention.created_at >= since)
    if sentiment:
        stmt = stmt.where(Score.label == sentiment)
    order = Mention.created_at.desc() if newest_first else Mention.created_at.asc()
    stmt = stmt.order_by(order, Mention.id)
    if limit:
        stmt = stmt.limit(limit)
    for mention, brand_name, source_name, score in session.execute(stmt).yield_per(500):
        yield MentionRow(
            id=mention.id,
            brand=brand_name,
            source=source_name,
            external_id=mention.external_id,
            created_at=mention.created_at,
            url=mention.url,
            author_key=mention.author_key,
            language=score.language if score else mention.language,
            text=mention.text,
            likes=mention.likes,
            reposts=mention.reposts,
            replies=mention.replies,
            sentiment=score.label if score else None,
            p_negative=score.p_negative if score else None,
            needs_help=score.needs_help if score else None,
            model_version=score.model_version if score else None,
            story_id=mention.story_id,
        )
