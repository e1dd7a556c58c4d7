"""The alert as sinks see it: a plain JSON snapshot written into the outbox payload.

Sinks never query the database (they may run in another process, after the data changed); the router
and the interactivity handler build this snapshot in the same transaction as the state it describes.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.kernel.store.tables import (
    Alert,
    AlertMention,
    Brand,
    CaseMention,
    Mention,
    Score,
    Source,
    Story,
    Ticket,
)

HEADLINE_WORDS = 10
TICKET_LINKS = 10  # case tickets linked from a lead's incident message
EXCERPT_CHARS = 280


def short_headline(text: str, words: int = HEADLINE_WORDS) -> str:
    """At most `words` words, so a lead can triage from the notification preview alone."""
    parts = text.split()
    return " ".join(parts[:words]) + ("…" if len(parts) > words else "")


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def latest_scores(session: Session, mention_ids: list[int]) -> dict[int, Score]:
    """The newest score of each mention (a mention is rescored when the model changes)."""
    if not mention_ids:
        return {}
    rows = session.scalars(
        select(Score).where(Score.mention_id.in_(mention_ids)).order_by(Score.scored_at, Score.id)
    )
    return {score.mention_id: score for score in rows}


def alert_mentions(session: Session, alert_id: int) -> list[Mention]:
    return list(
        session.scalars(
            select(Mention)
            .join(AlertMention, AlertMention.mention_id == Mention.id)
            .where(AlertMention.alert_id == alert_id)
            .order_by(Mention.created_at, Mention.id)
        )
    )


def engagement(mention: Mention) -> int:
    return sum(v or 0 for v in (mention.likes, mention.reposts, mention.replies, mention.quotes))


def mention_view(mention: Mention, source_name: str | None, score: Score | None) -> dict[str, Any]:
    return {
        "id": mention.id,
        "text": excerpt(mention.text),
        "url": mention.url,
        "source": source_name,
        "language": (score.language if score else None) or mention.language,
        "label": score.label if score else None,
        "created_at": mention.created_at.isoformat(),
        "engagement": engagement(mention),
        "author_key": mention.author_key,  # pseudonymous: never the raw handle
    }


def alert_view(session: Session, alert: Alert) -> dict[str, Any]:
    """Everything a sink needs to render `alert`, as JSON-ready data."""
    mentions = alert_mentions(session, alert.id)
    scores = latest_scores(session, [m.id for m in mentions])
    source_names = dict(session.execute(select(Source.id, Source.name)).all()) if mentions else {}
    brand = session.get(Brand, alert.brand_id)
    story = session.get(Story, alert.story_id) if alert.story_id else None
    languages = Counter(
        (scores[m.id].language if m.id in scores else None) or m.language or "other" for m in mentions
    )
    sources = Counter(source_names.get(m.source_id, "?") for m in mentions)
    top = max(mentions, key=lambda m: (engagement(m), m.author_followers or 0), default=None)
    evidence = dict(alert.evidence or {})
    aspects = Counter(
        name for score in scores.values() for name, p in (score.aspects or {}).items() if float(p) >= 0.5
    )
    ticket = session.scalars(select(Ticket).where(Ticket.alert_id == alert.id).order_by(Ticket.id)).first()
    return {
        "customers": len({m.author_key or f"post:{m.id}" for m in mentions}),
        "case_tickets": case_tickets(session, [m.id for m in mentions]),
        "alert_id": alert.id,
        "key": alert.key,
        "kind": alert.kind,
        "brand": brand.name if brand else str(alert.brand_id),
        "severity": alert.severity,
        "state": alert.state,
        "headline": short_headline(alert.headline),
        "languages": [lang for lang, _ in languages.most_common()],
        "sources": [name for name, _ in sources.most_common()],
        "mention_count": len(mentions),
        "aspects": [name for name, _ in aspects.most_common()],
        "evidence": evidence,
        "story_key": story.key if story else None,
        "assignee": alert.assignee,
        "muted_until": alert.muted_until.isoformat() if alert.muted_until else None,
        "detected_at": alert.detected_at.isoformat(),
        "ticket": {"id": ticket.ticket_id, "url": ticket.url} if ticket and ticket.ticket_id else None,
        "top_post": mention_view(top, source_names.get(top.source_id), scores.get(top.id)) if top else None,
    }


def case_tickets(session: Session, mention_ids: list[int]) -> list[dict[str, Any]]:
    """The helpdesk tickets of the cases these posts belong to (the first few, for the lead's message)."""
    if not mention_ids:
        return []
    rows = session.execute(
        select(Ticket.ticket_id, Ticket.url)
        .where(
            Ticket.case_id.in_(select(CaseMention.case_id).where(CaseMention.mention_id.in_(mention_ids))),
            Ticket.ticket_id.is_not(None),
        )
        .order_by(Ticket.id)
        .limit(TICKET_LINKS)
    ).all()
    return [{"id": ticket_id, "url": url} for ticket_id, url in rows]
