"""Cases: the customer, not the story, is the unit of support work.

A case is one customer's open matter with one brand, keyed by (brand, author pseudonym). The first post
the scorer marks `needs_help` opens it; that customer's later posts join it (a comment on the same
ticket, never a new ticket) until it closes: the helpdesk solved it (read back from Zendesk), a lead
marked it done in Slack, or nobody wrote to it for `[alerts.cases] quiet_close` (default 72 h). A later
post then opens a new case. Posts without an author handle are each their own case.

WHY at scoring time: every scored mention passes here exactly once, in the transaction that writes its
score, so no watermark can skip one and a crash replays the whole batch. WHY independent of alerts:
cooldowns, daily caps and quiet hours decide who is *notified*; none of them may keep a customer from
the helpdesk, so the case's helpdesk deliveries are queued here and never pass through the router.

Exactly one ticket per case and helpdesk: the outbox key is derived from the case key (which is the
ticket's `external_id` in Zendesk, looked up before create, and the webhook's `Idempotency-Key`), and
`cases.open_key` is unique while a case is open, so two workers seeing the same customer at once still
share one case.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from alerts import outbox
from alerts.config import AlertsConfig
from alerts.rules import Facts, destinations
from alerts.sinks import is_helpdesk
from alerts.view import latest_scores, mention_view
from monitor.kernel.states import CaseState, CloseReason
from monitor.kernel.store.tables import Brand, Case, CaseMention, Mention, Score, Source, Story, Ticket
from monitor.kernel.types import AlertCandidate

POSTS_IN_VIEW = 20  # the newest posts a helpdesk payload carries (the ticket keeps the history)
PLAIN_REPOST = re.compile(r"^\s*RT @\w+:", re.IGNORECASE)


@dataclass
class CaseStats:
    opened: list[int]
    joined: list[int]
    closed: list[int]


def case_key(brand_id: int, mention_id: int) -> str:
    """The helpdesk external id: stable, unique, and free of any personal data."""
    return f"repmon-case-{brand_id}-{mention_id}"


def open_key(mention: Mention) -> str:
    who = mention.author_key or f"post:{mention.id}"  # no author handle: the post is its own case
    return f"{mention.brand_id}:{who}"


def is_plain_repost(text: str) -> bool:
    """`RT @someone: …` repeats another customer's post: it is amplification, not a new customer."""
    return bool(PLAIN_REPOST.match(text))


def needs_help(score: Score | None) -> bool:
    """The scorer's own decision, so "customers the product marks needs-help" means one thing everywhere."""
    return bool(score is not None and score.needs_help)


# --------------------------------------------------------------------------- the stage


def assign_cases(session: Session, mention_ids: Sequence[int], now: datetime, config: AlertsConfig) -> CaseStats:
    """Open or join cases for freshly scored mentions, queueing their helpdesk deliveries.

    Runs in the caller's transaction (the one that wrote the scores), after story grouping.
    """
    stats = CaseStats([], [], [])
    if not config.cases.enabled or not mention_ids:
        return stats
    ids = list(dict.fromkeys(mention_ids))
    done = set(session.scalars(select(CaseMention.mention_id).where(CaseMention.mention_id.in_(ids))))
    mentions = session.scalars(
        select(Mention)
        .where(Mention.id.in_([i for i in ids if i not in done]))
        .order_by(Mention.created_at, Mention.id)
    ).all()
    scores = latest_scores(session, [m.id for m in mentions])
    # One lock order for every worker (customer, then time): two batches holding posts of the same two
    # customers cannot deadlock on each other's case inserts; each customer's posts stay in time order.
    for mention in sorted(mentions, key=lambda m: (open_key(m), m.created_at, m.id)):
        score = scores.get(mention.id)
        case = _open_case_of(session, open_key(mention))
        if case is not None and now - case.last_activity_at >= config.cases.quiet_close:
            close_case(session, case, CloseReason.QUIET, now)
            stats.closed.append(case.id)
            case = None
        if case is None:
            if not needs_help(score) or is_plain_repost(mention.text):
                continue
            case, created = _open(session, mention, score, now, config)
            if created:
                stats.opened.append(case.id)
                _queue_opening(session, case, now)
                continue
            # else: a concurrent worker opened this customer's case a moment ago; the post joins it
        if _join(session, case, mention, now):
            stats.joined.append(case.id)
            _queue_post(session, case, mention, now)
    session.flush()
    from alerts.incidents import grow_incidents  # incidents builds on cases: imported late

    grow_incidents(session, [*stats.opened, *stats.joined], now)
    return stats


def _open_case_of(session: Session, key: str) -> Case | None:
    return session.scalars(select(Case).where(Case.open_key == key)).first()


def _open(
    session: Session, mention: Mention, score: Score | None, now: datetime, config: AlertsConfig
) -> tuple[Case, bool]:
    """A new case for this post, or the one a concurrent worker opened a moment ago."""
    case = Case(
        key=case_key(mention.brand_id, mention.id),
        open_key=open_key(mention),
        brand_id=mention.brand_id,
        author_key=mention.author_key,
        state=CaseState.OPEN.value,
        first_mention_id=mention.id,
        mention_count=1,
        destinations=_helpdesks(session, mention, score, config),
        opened_at=now,
        last_activity_at=now,
    )
    try:
        with session.begin_nested():
            session.add(case)
            session.flush()
            session.add(CaseMention(mention_id=mention.id, case_id=case.id, added_at=now))
            session.flush()
    except IntegrityError:
        existing = _open_case_of(session, open_key(mention))
        if existing is None:  # the other worker's case is the one with this very post
            existing = session.scalars(select(Case).where(Case.key == case.key)).one()
        return existing, False
    return case, True


def _join(session: Session, case: Case, mention: Mention, now: datetime) -> bool:
    try:
        with session.begin_nested():
            session.add(CaseMention(mention_id=mention.id, case_id=case.id, added_at=now))
            session.flush()
    except IntegrityError:  # another worker already filed this post
        return False
    case.mention_count += 1
    case.last_activity_at = now
    return True


def _helpdesks(session: Session, mention: Mention, score: Score | None, config: AlertsConfig) -> list[list[str]]:
    """The helpdesk destinations (sink, target, route) of every route a complaint from this post matches."""
    brand = session.get(Brand, mention.brand_id)
    followers = mention.author_followers or 0
    candidate = AlertCandidate(
        kind="complaint",
        brand=brand.name if brand else "",
        key=f"case:{mention.id}",
        severity="high" if followers >= 10_000 else "medium",
        detected_at=mention.created_at,
        headline=mention.text[:140],
        mention_ids=(mention.id,),
    )
    aspects = frozenset(
        k for k, p in ((score.aspects or {}) if score else {}).items() if p >= config.aspect_threshold
    )
    language = (score.language if score else None) or mention.language or "other"
    facts = Facts(frozenset({language}), aspects, True)
    return [[d.sink, d.target, d.route] for d in destinations(config, candidate, facts) if is_helpdesk(d.sink)]


# --------------------------------------------------------------------------- helpdesk deliveries


def opening_key(sink: str, target: str, key: str) -> str:
    return outbox.outbox_key("case", sink, target, key)


def helpdesk_payload(sink: str, target: str, route: str, view: dict[str, Any]) -> dict[str, Any]:
    payload: dict[str, Any] = {"case": view, "external_id": view["case_key"], "route": route}
    if sink == "zendesk":
        payload["group_id"] = target
    else:
        payload["webhook"] = target
    return payload


def _queue_opening(session: Session, case: Case, now: datetime) -> None:
    view = case_view(session, case)
    for sink, target, route in case.destinations or []:
        outbox.enqueue(
            session,
            key=opening_key(sink, target, case.key),
            sink=sink,
            action="open_case",
            payload={**helpdesk_payload(sink, target, route, view), "case_id": case.id},
            alert_id=None,
            due=now,
        )


def _queue_post(session: Session, case: Case, mention: Mention, now: datetime) -> None:
    """The customer wrote again: a comment on the same ticket (Zendesk) / a case_post event (webhook)."""
    post = _posts(session, [mention.id])[0]
    view = case_view(session, case)
    for sink, target, route in case.destinations or []:
        parent = opening_key(sink, target, case.key)
        outbox.enqueue(
            session,
            key=outbox.outbox_key(parent, "post", mention.id),
            sink=sink,
            action="case_post",
            payload={**helpdesk_payload(sink, target, route, view), "post": post, "parent_key": parent},
            alert_id=None,
            due=now,
        )


def cases_of(mention_ids: Sequence[int]) -> Any:
    """Ids of the cases holding these posts (a subquery: DISTINCT over a JSON column fails on PostgreSQL)."""
    return select(CaseMention.case_id).where(CaseMention.mention_id.in_(list(mention_ids)))


# --------------------------------------------------------------------------- closing


def close_case(session: Session, case: Case, reason: CloseReason, now: datetime) -> bool:
    """Close an open case (idempotent): the customer's next post opens a new one."""
    if case.state == CaseState.CLOSED:
        return False
    case.state, case.close_reason, case.closed_at, case.open_key = CaseState.CLOSED.value, reason.value, now, None
    return True


def close_quiet(session: Session, now: datetime, config: AlertsConfig) -> int:
    """Close every open case nobody wrote to for `quiet_close` (the periodic sweep)."""
    cutoff = now - config.cases.quiet_close
    quiet = session.scalars(
        select(Case).where(Case.state == CaseState.OPEN.value, Case.last_activity_at <= cutoff)
    ).all()
    return sum(close_case(session, case, CloseReason.QUIET, now) for case in quiet)


def open_zendesk_tickets(session: Session, limit: int = 100) -> dict[str, int]:
    """Zendesk ticket id -> case id of open cases, oldest activity first (what the status poll reads)."""
    rows = session.execute(
        select(Ticket.ticket_id, Case.id)
        .join(Case, Case.id == Ticket.case_id)
        .where(Ticket.system == "zendesk", Ticket.ticket_id.is_not(None), Case.state == CaseState.OPEN.value)
        .order_by(Case.last_activity_at, Case.id)
        .limit(limit)
    ).all()
    return {str(ticket_id): case_id for ticket_id, case_id in rows}


SOLVED = ("solved", "closed")


def close_solved(session: Session, statuses: dict[str, str], now: datetime) -> int:
    """Close the cases whose Zendesk ticket is now solved or closed; `statuses` is ticket id -> status."""
    tickets = open_zendesk_tickets(session, limit=10_000)
    closed = 0
    for ticket_id, status in statuses.items():
        case_id = tickets.get(str(ticket_id))
        if case_id is not None and status in SOLVED:
            closed += close_case(session, session.get_one(Case, case_id), CloseReason.HELPDESK, now)
    return closed


def close_cases_of_mentions(session: Session, mention_ids: Sequence[int], now: datetime) -> int:
    """A lead marked an alert done in Slack: the open cases of its posts are done too."""
    cases = session.scalars(
        select(Case).where(Case.id.in_(cases_of(mention_ids)), Case.state == CaseState.OPEN.value)
    ).all()
    return sum(close_case(session, case, CloseReason.SLACK, now) for case in cases)


# --------------------------------------------------------------------------- views


def _posts(session: Session, ids: list[int]) -> list[dict[str, Any]]:
    mentions = session.scalars(select(Mention).where(Mention.id.in_(ids)).order_by(Mention.created_at, Mention.id))
    found = list(mentions)
    sources = dict(session.execute(select(Source.id, Source.name)).all())
    scores = latest_scores(session, [m.id for m in found])
    out = []
    for m in found:
        score = scores.get(m.id)
        view = mention_view(m, sources.get(m.source_id), score)
        view["needs_help_probability"] = round(score.needs_help_probability, 3) if score else None
        view["aspects"] = sorted(k for k, p in ((score.aspects or {}) if score else {}).items() if p >= 0.5)
        out.append(view)
    return out


def case_mention_ids(session: Session, case_id: int) -> list[int]:
    return list(
        session.scalars(
            select(CaseMention.mention_id).where(CaseMention.case_id == case_id).order_by(CaseMention.mention_id)
        )
    )


def case_view(session: Session, case: Case) -> dict[str, Any]:
    """Everything a helpdesk needs about a case, as JSON-ready data (sinks never query the database)."""
    ids = case_mention_ids(session, case.id)
    posts = _posts(session, ids)
    brand = session.get(Brand, case.brand_id)
    languages = Counter(p["language"] or "other" for p in posts)
    aspects = Counter(a for p in posts for a in p["aspects"])
    story_ids = {
        sid for sid in session.scalars(select(Mention.story_id).where(Mention.id.in_(ids))) if sid is not None
    }
    stories = sorted(session.scalars(select(Story.key).where(Story.id.in_(story_ids)))) if story_ids else []
    first = posts[0] if posts else {}
    return {
        "case_key": case.key,
        "case_id": case.id,
        "brand": brand.name if brand else str(case.brand_id),
        "customer": (case.author_key or "anonymous")[:12],  # pseudonymous: never the handle
        "state": case.state,
        "opened_at": case.opened_at.isoformat(),
        "post_count": len(posts),
        "languages": [lang for lang, _ in languages.most_common()],
        "aspects": [name for name, _ in aspects.most_common()],
        "needs_help_probability": max((p["needs_help_probability"] or 0 for p in posts), default=0.0),
        "story_keys": stories,
        "problem": case.problem_key,
        "headline": (first.get("text") or "")[:140],
        "posts": posts[-POSTS_IN_VIEW:],
    }


def case_ids_of_mentions(session: Session, mention_ids: Sequence[int]) -> set[int]:
    if not mention_ids:
        return set()
    return set(session.scalars(select(CaseMention.case_id).where(CaseMention.mention_id.in_(list(mention_ids)))))
