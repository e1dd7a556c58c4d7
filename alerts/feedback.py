"""Export support leads' sentiment corrections as evaluation data in the shared JSONL format.

One line per corrected mention, `{"text", "label", "lang", "source"}` like /work/shared/data, so the
model's evaluation can score itself on the posts that people told us it got wrong. When several
people corrected the same post, the latest correction wins.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import TextIO

from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.view import latest_scores
from monitor.kernel.store.tables import Feedback, Mention, Source

EXPORT_LANGUAGES = ("sv", "da", "no", "en")


def export_feedback(session: Session, out: TextIO, since: datetime | None = None) -> tuple[int, int]:
    """Write the JSONL lines; returns (written, skipped: deleted posts or unsupported languages)."""
    query = (
        select(Feedback, Mention, Source.name)
        .join(Mention, Mention.id == Feedback.mention_id)
        .join(Source, Source.id == Mention.source_id)
        .where(Feedback.kind == "wrong_sentiment", Feedback.corrected_label.is_not(None))
        .order_by(Feedback.created_at, Feedback.id)
    )
    if since is not None:
        query = query.where(Feedback.created_at >= since)
    latest: dict[int, tuple[Feedback, Mention, str]] = {}
    for feedback, mention, source in session.execute(query).all():
        latest[mention.id] = (feedback, mention, source)
    scores = latest_scores(session, list(latest))
    written = skipped = 0
    for mention_id, (feedback, mention, source) in latest.items():
        score = scores.get(mention_id)
        lang = (score.language if score else None) or mention.language
        if lang not in EXPORT_LANGUAGES or mention.anonymised_at is not None or not mention.text.strip():
            skipped += 1
            continue
        line = {
            "text": mention.text,
            "label": feedback.corrected_label,
            "lang": lang,
            "source": f"repmon_feedback/{source}",
        }
        out.write(json.dumps(line, ensure_ascii=False) + "\n")
        written += 1
    return written, skipped
