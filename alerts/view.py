"""The alert as sinks see it: a plain JSON snapshot written into the outbox payload.

Sinks never query the database (they may run in another process, after the data changed); the router
and the interactivity handler build this snapshot in the same transaction as the state it describes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, defer

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


def latest_scores(session: Session, mention_ids: list[int], *, embedding: bool = False) -> dict[int, Score]:
    """The newest score of each mention (a mention is rescored when the model changes).

    The sentence vector is loaded only when asked for (story grouping): it is most of a score row's
    bytes, and reading it anyway elsewhere raises instead of lazily loading one row at a time.
    """
    if not mention_ids:
        return {}
    query = select(Score).where(Score.mention_id.in_(mention_ids)).order_by(Score.scored_at, Score.id)
    if not embedding:
        query = query.options(defer(Score.embedding, raiseload=True))
    return {score.mention_id: score for score in session.scalars(query)}


@dataclass(frozen=True, slots=True)
class MentionRow:
    """The columns of a mention that routing and views read, as a plain row: the router reads every
    candidate's mentions (hundreds in a storm) once per call, and ORM objects cost ten times more."""

    id: int
    source_id: int
    story_id: int | None
    text: str
    url: str | None
    language: str | None
    created_at: datetime
    likes: int | None
    reposts: int | None
    replies: int | None
    quotes: int | None
    author_key: str | None
    author_followers: int | None


MENTION_COLUMNS = tuple(getattr(Mention, name) for name in MentionRow.__slots__)


def mention_rows(session: Session, ids: list[int]) -> dict[int, MentionRow]:
    if not ids:
        return {}
    rows = session.execute(select(*MENTION_COLUMNS).where(Mention.id.in_(ids)))
    return {row[0]: MentionRow(*row) for row in rows}


@dataclass(frozen=True, slots=True)
class ScoreRow:
    """What routing and views read of a score (no sentence vector), as a plain row."""

    mention_id: int
    id: int
    scored_at: datetime
    label: str
    language: str
    aspects: dict[str, Any] | None
    needs_help: bool
    needs_help_probability: float


_SCORE_COLUMNS = tuple(getattr(Score, name) for name in ScoreRow.__slots__)


def score_rows(session: Session, ids: list[int]) -> tuple[dict[int, ScoreRow], dict[int, tuple[datetime, int]]]:
    """The latest score of each mention (as `latest_scores`) and its first score's (scored_at, id)."""
    latest: dict[int, ScoreRow] = {}
    first: dict[int, tuple[datetime, int]] = {}
    if not ids:
        return latest, first
    query = select(*_SCORE_COLUMNS).where(Score.mention_id.in_(ids)).order_by(Score.scored_at, Score.id)
    for row in session.execute(query):
        score = latest[row[0]] = ScoreRow(*row)
        first.setdefault(score.mention_id, (score.scored_at, score.id))
    return latest, first


def alert_mentions(session: Session, alert_id: int) -> list[Mention]:
    return list(
        session.scalars(
            select(Mention)
            .join(AlertMention, AlertMention.mention_id == Mention.id)
            .where(AlertMention.alert_id == alert_id)
            .order_by(Mention.created_at, Mention.id)
        )
    )


def engagement(mention: Mention | MentionRow) -> int:
    return sum(v or 0 for v in (mention.likes, mention.reposts, mention.replies, mention.quotes))


def mention_view(
    mention: Mention | MentionRow, source_name: str | None, score: Score | ScoreRow | _LatestScore | None
) -> dict[str, Any]:
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


@dataclass(frozen=True, slots=True)
class _Member:
    """What an alert's view needs of one of its mentions and its latest score (no ORM objects: an
    alert of a storm has hundreds of mentions, and its view is rebuilt on every follow-up)."""

    id: int
    source_id: int
    author_key: str | None
    language: str | None
    followers: int | None
    engagement: int
    score_language: str | None
    label: str | None
    aspects: dict[str, float] | None
    first_score: tuple[datetime, int] | None  # the order `latest_scores` meets the mention in


@dataclass(frozen=True, slots=True)
class _LatestScore:
    """What `mention_view` reads of a score."""

    language: str | None
    label: str | None


def _members(session: Session, alert_id: int) -> list[_Member]:
    """The alert's mentions (oldest first) with their latest score's language and aspects: one query."""
    rows = session.execute(
        select(
            Mention.id,
            Mention.source_id,
            Mention.author_key,
            Mention.language,
            Mention.author_followers,
            Mention.likes,
            Mention.reposts,
            Mention.replies,
            Mention.quotes,
            Score.language,
            Score.label,
            Score.aspects,
            Score.scored_at,
            Score.id,
        )
        .join(AlertMention, AlertMention.mention_id == Mention.id)
        .outerjoin(Score, Score.mention_id == Mention.id)
        .where(AlertMention.alert_id == alert_id)
        .order_by(Mention.created_at, Mention.id, Score.scored_at, Score.id)
    ).all()
    members: dict[int, _Member] = {}
    for r in rows:
        first = members.get(r[0])
        members[r[0]] = _Member(
            id=r[0],
            source_id=r[1],
            author_key=r[2],
            language=r[3],
            followers=r[4],
            engagement=sum(v or 0 for v in r[5:9]),
            score_language=r[9],
            label=r[10],
            aspects=r[11],
            first_score=(first.first_score if first else None) or ((r[12], r[13]) if r[13] is not None else None),
        )
    return list(members.values())


def alert_view(session: Session, alert: Alert, sources: dict[int, str] | None = None) -> dict[str, Any]:
    """Everything a sink needs to render `alert`, as JSON-ready data (`sources`: id -> name, if read)."""
    mentions = _members(session, alert.id)
    if sources is None:
        sources = dict(session.execute(select(Source.id, Source.name)).all()) if mentions else {}
    brand = session.get(Brand, alert.brand_id)
    story = session.get(Story, alert.story_id) if alert.story_id else None
    ticket = session.scalars(select(Ticket).where(Ticket.alert_id == alert.id).order_by(Ticket.id)).first()
    top = top_member(mentions)
    return render_view(
        alert,
        mentions,
        ViewContext(
            brand=brand.name if brand else str(alert.brand_id),
            story_key=story.key if story else None,
            sources=sources,
            case_tickets=case_tickets(session, alert_id=alert.id),
            ticket={"id": ticket.ticket_id, "url": ticket.url} if ticket and ticket.ticket_id else None,
        ),
        session.get_one(Mention, top.id) if top is not None else None,  # often in the session already
    )


@dataclass(frozen=True, slots=True)
class ViewContext:
    """What an alert's view shows besides its mentions (read by `alert_view`, or by the router for a batch)."""

    brand: str
    story_key: str | None
    sources: dict[int, str]
    case_tickets: list[dict[str, Any]]
    ticket: dict[str, Any] | None = None


def members_of(
    mentions: Iterable[Mention | MentionRow],
    scores: Mapping[int, Score | ScoreRow],
    first_scored: Mapping[int, tuple[datetime, int]],
) -> list[_Member]:
    """`_members` from rows already read (the router's batch): `scores` the latest score of each
    mention, `first_scored` its first score's (scored_at, id), the order aspects are counted in."""
    members = []
    for m in sorted(mentions, key=lambda m: (m.created_at, m.id)):
        score = scores.get(m.id)
        members.append(
            _Member(
                id=m.id,
                source_id=m.source_id,
                author_key=m.author_key,
                language=m.language,
                followers=m.author_followers,
                engagement=engagement(m),
                score_language=score.language if score else None,
                label=score.label if score else None,
                aspects=score.aspects if score else None,
                first_score=first_scored.get(m.id),
            )
        )
    return members


def top_member(mentions: list[_Member]) -> _Member | None:
    """The post with the most engagement (then followers); the oldest of equals."""
    return max(mentions, key=lambda m: (m.engagement, m.followers or 0), default=None)


def render_view(
    alert: Alert, mentions: list[_Member], context: ViewContext, top_mention: Mention | MentionRow | None
) -> dict[str, Any]:
    """The view of `alert` from its members (oldest first) and `top_mention`, the row of `top_member`."""
    scored = [m for m in mentions if m.first_score is not None]
    source_names = context.sources
    languages = Counter(m.score_language or m.language or "other" for m in mentions)
    by_source = Counter(source_names.get(m.source_id, "?") for m in mentions)
    top = top_member(mentions)
    aspects = Counter(  # in the order the scores were written, as ties keep it
        name
        for m in sorted(scored, key=lambda m: m.first_score or (datetime.min, 0))
        for name, p in (m.aspects or {}).items()
        if float(p) >= 0.5
    )
    top_post = None
    if top is not None and top_mention is not None:
        top_score = _LatestScore(top.score_language, top.label) if top.first_score is not None else None
        top_post = mention_view(top_mention, source_names.get(top.source_id), top_score)
    return {
        "customers": len({m.author_key or f"post:{m.id}" for m in mentions}),
        "case_tickets": context.case_tickets,
        "alert_id": alert.id,
        "key": alert.key,
        "kind": alert.kind,
        "brand": context.brand,
        "severity": alert.severity,
        "state": alert.state,
        "headline": short_headline(alert.headline),
        "languages": [lang for lang, _ in languages.most_common()],
        "sources": [name for name, _ in by_source.most_common()],
        "mention_count": len(mentions),
        "aspects": [name for name, _ in aspects.most_common()],
        "evidence": dict(alert.evidence or {}),
        "story_key": context.story_key,
        "assignee": alert.assignee,
        "muted_until": alert.muted_until.isoformat() if alert.muted_until else None,
        "detected_at": alert.detected_at.isoformat(),
        "ticket": context.ticket,
        "top_post": top_post,
    }


def case_tickets(
    session: Session, mention_ids: list[int] | None = None, *, alert_id: int | None = None
) -> list[dict[str, Any]]:
    """The helpdesk tickets of the cases these posts (or the alert's posts) belong to (the first few,
    for the lead's message)."""
    if alert_id is not None:
        posts: Any = select(AlertMention.mention_id).where(AlertMention.alert_id == alert_id)
    elif mention_ids:
        posts = mention_ids
    else:
        return []
    rows = session.execute(
        select(Ticket.ticket_id, Ticket.url)
        .where(
            Ticket.case_id.in_(select(CaseMention.case_id).where(CaseMention.mention_id.in_(posts))),
            Ticket.ticket_id.is_not(None),
        )
        .order_by(Ticket.id)
        .limit(TICKET_LINKS)
    ).all()
    return [{"id": ticket_id, "url": url} for ticket_id, url in rows]
