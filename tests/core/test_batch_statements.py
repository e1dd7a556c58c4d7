"""The set-based stages cost a fixed number of SQL statements per batch, however many mentions it holds.

Counted on the real engine (SQLAlchemy's `before_cursor_execute`, one per round trip: an executemany is
one), on SQLite and PostgreSQL, for a batch of 10 and a batch of 100 with the same mix of posts: new
stories and reposts joining old ones, new customers, returning customers, posts needing no help. A stage
that queried per mention would show ten times the statements in the larger batch.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from alerts.config import AlertsConfig, Route, Target
from models.lexicon import LexiconScorer
from monitor.detect.config import DetectConfig
from monitor.detect.stage import detect
from monitor.kernel.store.engine import Database
from monitor.kernel.store.tables import (
    Alert,
    AlertMention,
    Brand,
    Case,
    CaseMention,
    Mention,
    OutboxMessage,
    Score,
    Source,
    Story,
)
from monitor.pipeline import group_scored, pending_texts, score_and_store

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
COMPLAINT = (
    "@{brand} kundtjänst svarar inte, jag har väntat i {n} timmar och behöver hjälp med min faktura. Katastrof!"
)
PRAISE = "Tack {brand} för snabb hjälp med flytten idag, riktigt bra service nummer {n}"
CONFIG = AlertsConfig(
    routes=[Route(name="support", needs_help=True, helpdesk_group="360001")],
)


@contextmanager
def counting(db: Database) -> Iterator[list[str]]:
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(db.engine, "before_cursor_execute", count)


def add_posts(session: Session, brand: str, count: int, start: int, at: datetime = NOW) -> list[int]:
    """`count` posts of one brand in a fixed mix: new incidents (new stories), reposts of the brand's
    first complaint and near-copies of it (join its story), complaints from returning customers (one
    author per 4 posts) and from new ones, praise that needs no case. Unscored."""
    brand_id = session.scalar(select(Brand.id).where(Brand.name == brand))
    if brand_id is None:
        brand_row = Brand(name=brand)
        session.add(brand_row)
        session.flush()
        brand_id = brand_row.id
        session.add(Source(brand_id=brand_id, name="export", connector="file"))
        session.flush()
    source_id = session.scalar(select(Source.id).where(Source.brand_id == brand_id))
    ids = []
    for i in range(start, start + count):
        if i % 5 == 4:
            text = "RT @kund0: " + COMPLAINT.format(brand=brand, n=0)
        elif i % 5 == 3:
            text = PRAISE.format(brand=brand, n=i)
        elif i % 5 == 0:  # a new incident: mostly its own words, so it starts a story of its own
            text = f"@{brand} " + " ".join(f"ord{i}x{k}" for k in range(12)) + ", behöver hjälp. Katastrof!"
        else:
            text = COMPLAINT.format(brand=brand, n=i)
        mention = Mention(
            source_id=source_id,
            brand_id=brand_id,
            external_id=f"{brand}-{i}",
            url=f"https://social.example/@kund{i}/{i}",
            author_key=f"{brand}-author-{i // 4 if i % 2 else i}",
            text=text,
            language="sv",
            created_at=at - timedelta(minutes=30) + timedelta(seconds=i),
        )
        session.add(mention)
        ids.append(mention)
    session.flush()
    return [m.id for m in ids]


def score_and_group(db: Database, ids: list[int]) -> None:
    with db.read() as session:
        batch = pending_texts(session, ids=ids)
    score_and_store(
        db, LexiconScorer(), batch, lambda: NOW, on_scored=lambda s, i, t: group_scored(s, i, t, CONFIG)
    )


def statements_for(db: Database, brand: str, size: int, stage: Callable[[Database, list[int]], None]) -> list[str]:
    """Statements of `stage` on a batch of `size` posts, after a first batch gave the brand history."""
    with db.transaction() as session:
        history = add_posts(session, brand, 20, 0)
    score_and_group(db, history)
    with db.transaction() as session:
        batch = add_posts(session, brand, size, 20)
    with counting(db) as statements:
        stage(db, batch)
    return statements


def test_scoring_stories_and_cases_cost_the_same_statements_for_10_or_100_posts(database: Database) -> None:
    small = statements_for(database, "Small", 10, score_and_group)
    stories = _count(database, Story)
    large = statements_for(database, "Large", 100, score_and_group)
    assert len(large) <= len(small), _diff(small, large)
    assert _count(database, Story) >= stories + 20  # the large batch's new incidents got stories
    with database.read() as session:  # the batch really was grouped and filed, not skipped
        grouped = session.scalar(select(Mention.id).where(Mention.story_id.is_(None)).limit(1))
        assert grouped is None
        assert session.query(Story).count() < session.query(Mention).count()  # reposts joined stories
        assert session.query(CaseMention).count() > session.query(Case).count()  # returning customers joined
        assert session.query(OutboxMessage).filter(OutboxMessage.action == "case_post").count() > 0
        assert session.query(Score).count() == session.query(Mention).count()


def test_detection_costs_the_same_statements_for_10_or_100_new_posts(database: Database) -> None:
    with database.transaction() as session:
        history = add_posts(session, "Acme", 20, 0)
    score_and_group(database, history)
    with database.transaction() as session:  # the first run settles the detectors' state
        detect(session, DetectConfig(), NOW)
    counts = []
    for size, later in ((10, 20), (100, 40)):
        at = NOW + timedelta(minutes=later)
        with database.transaction() as session:
            batch = add_posts(session, "Acme", size, 20 + later * 10, at=at)
        score_and_group(database, batch)
        with counting(database) as statements, database.transaction() as session:
            candidates = detect(session, DetectConfig(), at)
        counts.append(statements)
        assert candidates  # the complaints were read and raised, not skipped
    assert len(counts[1]) <= len(counts[0]), _diff(counts[0], counts[1])


def test_routing_costs_the_same_statements_for_10_or_100_candidates(database: Database) -> None:
    """Whether an alert folds into another depends on the alerts recorded before it in the same call,
    but the router decides that in memory: new alerts are inserted with one statement, links and
    outbox rows with one each, and what it reads about the candidates is read once for the batch."""
    from alerts.router import Router
    from monitor.kernel.types import AlertCandidate

    def candidates(brand: str, ids: list[int]) -> list[AlertCandidate]:
        return [
            AlertCandidate(
                kind="complaint",
                brand=brand,
                key=f"complaint:mention:{i}",
                severity="medium",
                detected_at=NOW,
                headline=f"a customer needs help {i}",
                mention_ids=(i,),
            )
            for i in ids
        ]

    leads = Route(name="leads", to=[Target(sink="slack", target="#leads")])  # threads for the follow-ups
    router = Router(AlertsConfig(routes=[leads, *CONFIG.routes]))

    def route(db: Database, ids: list[int]) -> None:
        brand = db_brand(db, ids[0])
        with db.transaction() as session:
            router.record(session, candidates(brand, ids), NOW)
            router.record(session, candidates(brand, ids[::3]), NOW)  # repeats: nothing new

    counts = []
    for brand, size in (("Small", 10), ("Large", 100)):
        with database.transaction() as session:
            history = add_posts(session, brand, 20, 0)
            batch = add_posts(session, brand, size, 20)
        score_and_group(database, history)
        score_and_group(database, batch)
        with counting(database) as statements:
            route(database, batch)
        counts.append(statements)
    assert len(counts[1]) <= len(counts[0]), _diff(counts[0], counts[1])
    assert _count(database, Alert) == 110  # every candidate was recorded
    with database.read() as session:  # and routed: announced ones posted, later ones folded into them
        states = dict(session.execute(select(Alert.state, func.count()).group_by(Alert.state)).all())
        assert states.get("cooldown", 0) >= 100, states
        assert session.scalar(select(func.count()).select_from(AlertMention)) >= 110
        replies = session.scalar(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.action == "thread_reply")
        )
        assert replies >= 100


def db_brand(db: Database, mention_id: int) -> str:
    with db.read() as session:
        return session.scalars(
            select(Brand.name).join(Mention, Mention.brand_id == Brand.id).where(Mention.id == mention_id)
        ).one()


def _count(db: Database, table: Any) -> int:
    with db.read() as session:
        return session.query(table).count()


def _diff(small: list[str], large: list[str]) -> str:
    def heads(statements: list[str]) -> dict[str, int]:
        out: dict[str, int] = {}
        for s in statements:
            head = re.sub(r"\d+", "N", " ".join(s.split())[:80])
            out[head] = out.get(head, 0) + 1
        return out

    a, b = heads(small), heads(large)
    grown = {k: (a.get(k, 0), v) for k, v in b.items() if v > a.get(k, 0)}
    return f"{len(small)} statements for the small batch, {len(large)} for the large; grown: {grown}"
