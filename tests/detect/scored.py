"""Scored mentions written straight to the store, the input every detection test starts from."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.orm import Session

from monitor.kernel.store.tables import Brand, Mention, Score, Source


def add_scored(
    session: Session,
    brand: Brand,
    source: Source,
    rows: Sequence[tuple[str, datetime, str, str | None]],
    *,
    scored_at: datetime | None = None,
) -> list[int]:
    """Mentions with their scores, one per `(external id, created at, label, author key)`: p(negative)
    0.8 for a negative, else 0.1. Scored when created unless `scored_at` says otherwise."""
    mentions = [
        Mention(
            source_id=source.id,
            brand_id=brand.id,
            external_id=external_id,
            text=f"{label} mention",
            created_at=at,
            scored_at=scored_at or at,
            author_key=author,
        )
        for external_id, at, label, author in rows
    ]
    session.add_all(mentions)
    session.flush()
    labels = [row[2] for row in rows]
    session.add_all(
        Score(
            mention_id=m.id,
            model_version="t",
            label=label,
            p_negative=(p_neg := 0.8 if label == "negative" else 0.1),
            p_neutral=0.1,
            p_positive=0.9 - p_neg,
            language="en",
        )
        for m, label in zip(mentions, labels, strict=True)
    )
    return [m.id for m in mentions]
