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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from alerts import outbox
from alerts.config import AlertsConfig
from alerts.rules import Facts, destinations
from alerts.sinks import is_helpdesk
from alerts.view import MENTION_COLUMNS, MentionRow, ScoreRow, latest_scores, mention_view, score_rows
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


def needs_help(score: Score | ScoreRow | None) -> bool:
    """The scorer's own decision, so "customers the product marks needs-help" means one thing everywhere."""
    return bool(score is not None and score.needs_help)


# --------------------------------------------------------------------------- the stage


def assign_cases(session: Session, mention_ids: Sequence[int], now: datetime, config: AlertsConfig) -> CaseStats:
    """Open or join cases for freshly scored mentions, queueing their helpdesk deliveries.

    Runs in the caller's transaction (the one that wrote the scores), after story grouping. Set-based:
    the batch's customers are decided in memory (each customer's posts in time order) and written with
    a fixed number of statements however many posts and customers the batch holds.
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
    if not mentions:
        return stats
    scores = score_rows(session, [m.id for m in mentions])[0]  # plain rows: no ORM cost per post
    # One lock order for every worker (customer, then time): two batches holding posts of the same two
    # customers cannot deadlock on each other's case inserts; each customer's posts stay in time order.
    ordered = sorted(mentions, key=lambda m: (open_key(m), m.created_at, m.id))
    open_cases = {
        c.open_key: c
        for c in session.scalars(
            select(Case).where(Case.open_key.in_(sorted({open_key(m) for m in ordered}))).order_by(Case.id)
        )
    }
    plan = _plan(ordered, open_cases, scores, now, config)
    for case in plan.quiet:
        close_case(session, case, CloseReason.QUIET, now)
        stats.closed.append(case.id)
    session.flush()  # closed cases free their open_key before the new ones take it
    brands = dict(session.execute(select(Brand.id, Brand.name)).all())
    cases = _insert_cases(session, plan, scores, brands, now, config)
    steps = _file_posts(session, plan, cases, now)
    _queue_deliveries(session, steps, brands, scores, now, stats)
    session.flush()
    from alerts.incidents import grow_incidents  # incidents builds on cases: imported late

    grow_incidents(session, [*stats.opened, *stats.joined], now)
    _count_posts(session, steps, now)  # last: a case's row stays locked from this UPDATE to the commit
    return stats


@dataclass
class _Customer:
    """One customer's posts of this batch, as decided in memory before anything is written."""

    case: Case | None  # their open case from before this batch (None: the batch opens one, or none)
    seed: Mention | None = None  # the post that opens a new case
    joins: list[Mention] = field(default_factory=list)  # posts that join `case` or the new one


@dataclass
class _Plan:
    customers: list[_Customer]
    quiet: list[Case]  # open cases nobody wrote to for `quiet_close`: closed before their customer posts


def _plan(
    ordered: Sequence[Mention],
    open_cases: dict[str, Case],
    scores: dict[int, ScoreRow],
    now: datetime,
    config: Any,
) -> _Plan:
    """Which post opens, joins or is no case, customer by customer in time order (as if one by one)."""
    plan = _Plan([], [])
    current: _Customer | None = None
    current_key = None
    for mention in ordered:
        key = open_key(mention)
        if key != current_key:
            case = open_cases.get(key)
            if case is not None and now - case.last_activity_at >= config.cases.quiet_close:
                plan.quiet.append(case)
                case = None
            current, current_key = _Customer(case), key
            plan.customers.append(current)
        assert current is not None
        if current.case is None and current.seed is None:
            if needs_help(scores.get(mention.id)) and not is_plain_repost(mention.text):
                current.seed = mention
            continue
        current.joins.append(mention)
    plan.customers = [c for c in plan.customers if c.case is not None or c.seed is not None]
    return plan


def _insert_cases(
    session: Session,
    plan: _Plan,
    scores: dict[int, ScoreRow],
    brands: dict[int, str],
    now: datetime,
    config: AlertsConfig,
) -> dict[str, Case]:
    """Insert the batch's new cases in one statement; returns every case of the batch by open key.

    A concurrent worker may have opened a customer's case a moment ago (the unique open_key): ours is
    then not inserted and the post joins theirs, as it would one post later.
    """
    seeds = [c.seed for c in plan.customers if c.seed is not None]
    if seeds:
        rows = [
            {
                "key": case_key(m.brand_id, m.id),
                "open_key": open_key(m),
                "brand_id": m.brand_id,
                "author_key": m.author_key,
                "state": CaseState.OPEN.value,
                "first_mention_id": m.id,
                "mention_count": 0,  # counted as its posts are filed
                "destinations": _helpdesks(brands.get(m.brand_id, ""), m, scores.get(m.id), config),
                "opened_at": now,
                "last_activity_at": now,
            }
            for m in seeds
        ]
        module: Any = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
        session.execute(
            module.insert(Case.__table__).on_conflict_do_nothing(), rows
        )  # Core: see outbox.enqueue_many
    found: dict[str | None, Case] = {c.case.open_key: c.case for c in plan.customers if c.case is not None}
    keys = [open_key(m) for m in seeds]
    if keys:
        for case in session.scalars(
            select(Case).where(
                or_(Case.open_key.in_(keys), Case.key.in_([case_key(m.brand_id, m.id) for m in seeds]))
            )
        ):
            if case.open_key is not None:
                found[case.open_key] = case
            else:  # the other worker's case holding this very post, already closed again
                found.setdefault(f"key:{case.key}", case)
    return {k: v for k, v in found.items() if k is not None}  # type: ignore[misc]


@dataclass(frozen=True)
class _Filed:
    """A post filed in a case, in filing order; `opening` when it opened the case."""

    case: Case
    mention: Mention
    opening: bool


def _file_posts(session: Session, plan: _Plan, cases: dict[str, Case], now: datetime) -> list[_Filed]:
    """Insert every case membership in one statement; the ones inserted (not filed by a concurrent worker
    already) are returned in the batch's order, and the cases' counts and activity follow them."""
    filed: list[_Filed] = []
    for customer in plan.customers:
        posts = [customer.seed] if customer.seed is not None else []
        posts += customer.joins
        key = open_key(posts[0])
        case = cases.get(key)
        if case is None and customer.seed is not None:
            case = cases.get(f"key:{case_key(customer.seed.brand_id, customer.seed.id)}")
        if case is None:
            continue
        for mention in posts:
            opening = mention is customer.seed and case.key == case_key(mention.brand_id, mention.id)
            filed.append(_Filed(case, mention, opening))
    if not filed:
        return []
    module: Any = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    inserted = set(
        session.scalars(
            module.insert(CaseMention)
            .on_conflict_do_nothing(index_elements=["mention_id"])
            .returning(CaseMention.mention_id),
            [{"mention_id": f.mention.id, "case_id": f.case.id, "added_at": now} for f in filed],
        )
    )
    return [f for f in filed if f.mention.id in inserted]


def _count_posts(session: Session, filed: list[_Filed], now: datetime) -> None:
    """The cases' counts and activity follow their filed posts: `mention_count + n`, so a concurrent
    worker's posts are never overwritten, and written last, in case-id order, so two workers filing the
    same customers' posts lock each case only for their commit and always in the same order."""
    counts: dict[int, int] = {}
    active: set[int] = set()
    for f in filed:
        counts[f.case.id] = counts.get(f.case.id, 0) + 1
        if not f.opening:
            active.add(f.case.id)
    if not counts:
        return
    table = Case.__table__.c
    activity = bindparam("active", type_=table.last_activity_at.type)
    session.execute(
        update(Case.__table__)
        .where(table.id == bindparam("cid"))
        .values(
            mention_count=table.mention_count + bindparam("n"),
            last_activity_at=func.coalesce(activity, table.last_activity_at),
        ),
        [{"cid": cid, "n": n, "active": now if cid in active else None} for cid, n in sorted(counts.items())],
    )
    for f in filed:  # the session reads them back when asked
        session.expire(f.case, ["mention_count", "last_activity_at"])


def _queue_deliveries(
    session: Session,
    filed: list[_Filed],
    brands: dict[int, str],
    scores: dict[int, ScoreRow],
    now: datetime,
    stats: CaseStats,
) -> None:
    """The opening (a new ticket) or a comment per filed post, each payload the case as it was then
    (the posts filed so far, oldest first), exactly as if the posts had been filed one by one."""
    cases = list({id(f.case): f.case for f in filed}.values())
    history = _case_posts(session, [c.id for c in cases], exclude={f.mention.id for f in filed})
    mentions = [f.mention for f in filed]
    posts = {v["id"]: v for v in _post_views(session, mentions, scores)}
    story_ids = {m.story_id for _, members in history.values() for m in members} | {m.story_id for m in mentions}
    story_keys = dict(
        session.execute(select(Story.id, Story.key).where(Story.id.in_([s for s in story_ids if s]))).all()
    )
    so_far = {c.id: list(history.get(c.id, ([], []))[0]) for c in cases}
    stories = {c.id: {m.story_id for m in history.get(c.id, ([], []))[1]} for c in cases}
    messages: list[outbox.NewMessage] = []
    for f in filed:
        case, mention = f.case, f.mention
        so_far[case.id].append(_PostView(mention.created_at, mention.id, posts[mention.id]))
        so_far[case.id].sort(key=lambda p: (p.created_at, p.mention_id))
        stories[case.id].add(mention.story_id)
        keys = sorted(story_keys[s] for s in stories[case.id] if s)
        view = _view(case, [p.view for p in so_far[case.id]], keys, brands)
        if f.opening:
            stats.opened.append(case.id)
            messages += _opening_messages(case, view)
        else:
            stats.joined.append(case.id)
            messages += _post_messages(case, mention, posts[mention.id], view)
    outbox.enqueue_many(session, messages, now)


def _opening_messages(case: Case, view: dict[str, Any]) -> list[outbox.NewMessage]:
    return [
        outbox.NewMessage(
            key=opening_key(sink, target, case.key),
            sink=sink,
            action="open_case",
            payload={**helpdesk_payload(sink, target, route, view), "case_id": case.id},
        )
        for sink, target, route in case.destinations or []
    ]


def _post_messages(
    case: Case, mention: Mention, post: dict[str, Any], view: dict[str, Any]
) -> list[outbox.NewMessage]:
    """The customer wrote again: a comment on the same ticket (Zendesk) / a case_post event (webhook)."""
    out = []
    for sink, target, route in case.destinations or []:
        parent = opening_key(sink, target, case.key)
        out.append(
            outbox.NewMessage(
                key=outbox.outbox_key(parent, "post", mention.id),
                sink=sink,
                action="case_post",
                payload={**helpdesk_payload(sink, target, route, view), "post": post, "parent_key": parent},
            )
        )
    return out


def _helpdesks(brand: str, mention: Mention, score: ScoreRow | None, config: AlertsConfig) -> list[list[str]]:
    """The helpdesk destinations (sink, target, route) of every route a complaint from this post matches."""
    followers = mention.author_followers or 0
    candidate = AlertCandidate(
        kind="complaint",
        brand=brand,
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


def _post_views(
    session: Session, mentions: Sequence[Mention | MentionRow], scores: Mapping[int, Score | ScoreRow]
) -> list[dict[str, Any]]:
    """A helpdesk's view of each post (`scores`: the latest score of each, as `latest_scores` gives)."""
    sources = dict(session.execute(select(Source.id, Source.name)).all()) if mentions else {}
    out = []
    for m in mentions:
        score = scores.get(m.id)
        view = mention_view(m, sources.get(m.source_id), score)
        view["needs_help_probability"] = round(score.needs_help_probability, 3) if score else None
        view["aspects"] = sorted(k for k, p in ((score.aspects or {}) if score else {}).items() if p >= 0.5)
        out.append(view)
    return out


def _posts(session: Session, ids: list[int]) -> list[dict[str, Any]]:
    found = list(
        session.scalars(select(Mention).where(Mention.id.in_(ids)).order_by(Mention.created_at, Mention.id))
    )
    return _post_views(session, found, latest_scores(session, [m.id for m in found]))


def _case_posts(
    session: Session, case_ids: list[int], exclude: set[int]
) -> dict[int, tuple[list[_PostView], list[MentionRow]]]:
    """Every case's posts (but `exclude`), oldest first, as views and as mentions: three queries in all.

    Plain rows, not ORM objects: a returning customer's case history is read again for each new post."""
    if not case_ids:
        return {}
    query = (
        select(CaseMention.case_id, *MENTION_COLUMNS)
        .join(Mention, Mention.id == CaseMention.mention_id)
        .where(CaseMention.case_id.in_(case_ids))
        .order_by(Mention.created_at, Mention.id)
    )
    rows = [(row[0], MentionRow(*row[1:])) for row in session.execute(query)]
    mentions = [m for _, m in rows if m.id not in exclude]
    views = {v["id"]: v for v in _post_views(session, mentions, score_rows(session, [m.id for m in mentions])[0])}
    out: dict[int, tuple[list[_PostView], list[MentionRow]]] = {}
    for case_id, m in rows:
        if m.id in exclude:
            continue
        posts, members = out.setdefault(case_id, ([], []))
        posts.append(_PostView(m.created_at, m.id, views[m.id]))
        members.append(m)
    return out


@dataclass(frozen=True, slots=True)
class _PostView:
    created_at: datetime
    mention_id: int
    view: dict[str, Any]


def case_view(session: Session, case: Case) -> dict[str, Any]:
    """Everything a helpdesk needs about a case, as JSON-ready data (sinks never query the database)."""
    posts, members = _case_posts(session, [case.id], exclude=set()).get(case.id, ([], []))
    story_ids = {m.story_id for m in members if m.story_id is not None}
    stories = sorted(session.scalars(select(Story.key).where(Story.id.in_(story_ids)))) if story_ids else []
    brands = dict(session.execute(select(Brand.id, Brand.name).where(Brand.id == case.brand_id)).all())
    return _view(case, [p.view for p in posts], stories, brands)


def _view(
    case: Case, posts: list[dict[str, Any]], story_keys: list[str], brands: dict[int, str]
) -> dict[str, Any]:
    """The case as JSON-ready data from its posts' views (oldest first) and its stories' keys."""
    languages = Counter(p["language"] or "other" for p in posts)
    aspects = Counter(a for p in posts for a in p["aspects"])
    first = posts[0] if posts else {}
    return {
        "case_key": case.key,
        "case_id": case.id,
        "brand": brands.get(case.brand_id, str(case.brand_id)),
        "customer": (case.author_key or "anonymous")[:12],  # pseudonymous: never the handle
        "state": case.state,
        "opened_at": case.opened_at.isoformat(),
        "post_count": len(posts),
        "languages": [lang for lang, _ in languages.most_common()],
        "aspects": [name for name, _ in aspects.most_common()],
        "needs_help_probability": max((p["needs_help_probability"] or 0 for p in posts), default=0.0),
        "story_keys": story_keys,
        "problem": case.problem_key,
        "headline": (first.get("text") or "")[:140],
        "posts": posts[-POSTS_IN_VIEW:],
    }


def case_ids_of_mentions(session: Session, mention_ids: Sequence[int]) -> set[int]:
    if not mention_ids:
        return set()
    return set(session.scalars(select(CaseMention.case_id).where(CaseMention.mention_id.in_(list(mention_ids)))))
