"""What one `Router.record` call reads once and writes once, whatever the number of candidates.

The router decides candidate by candidate (whether an alert folds into another depends on the alerts
recorded before it, in the same call too), but those decisions only need what is in memory: this batch
reads the candidates' mentions, scores, cases, case tickets, existing alerts, their links to the
candidates' mentions and their posted messages in a fixed number of queries, inserts every new alert
with one statement, and collects mention links and outbox rows to insert with one statement each at the
end. So routing a storm of a hundred candidates costs the statements of routing one.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from alerts import outbox
from alerts.config import AlertsConfig
from alerts.linking import brand_id_for
from alerts.rules import local_day_bounds
from alerts.view import (
    TICKET_LINKS,
    MentionRow,
    ScoreRow,
    ViewContext,
    members_of,
    mention_rows,
    mention_view,
    render_view,
    score_rows,
)
from monitor.kernel.states import FOLDED_STATES, AlertState
from monitor.kernel.store.tables import (
    Alert,
    AlertMention,
    Brand,
    CaseMention,
    OutboxMessage,
    Source,
    Story,
    Ticket,
)
from monitor.kernel.types import AlertCandidate

CHUNK = 5_000  # ids per IN list
INSERT_CHUNK = 500  # alert rows per INSERT (SQLite's limit on bound parameters)


@dataclass(frozen=True, slots=True)
class Post:
    """An alert's first message to one sink (threads and updates hang off it): stored, or queued now."""

    key: str
    sink: str
    payload: dict[str, Any]


@dataclass
class RouteBatch:
    alerts_by_key: dict[str, Alert]
    brands: dict[str, Brand]
    sources: dict[int, str]
    mentions: dict[int, MentionRow]  # every candidate's mentions
    scores: dict[int, ScoreRow]  # their latest scores
    first_scored: dict[int, tuple[datetime, int]]  # (scored_at, id) of their first score
    in_cases: set[int]  # those filed in a customer case
    case_tickets: dict[int, list[tuple[int, str, str | None]]]  # mention -> its cases' tickets (pk, id, url)
    updates: dict[int, Alert] = field(default_factory=dict)  # alerts whose message gets an update, in order
    # Every alert that can be a new alert's parent or count against its daily cap: muted ones, announced
    # ones of the local day or a cooldown, announced ones of the candidates' stories; then those this
    # call creates, as it records them. The parent and cap rules filter it in memory.
    related: list[Alert] = field(default_factory=list)
    linked: dict[int, set[int]] = field(default_factory=dict)  # alert -> its links among the candidates' mentions
    posts: dict[int, list[Post]] = field(default_factory=dict)  # alert -> its posts, oldest first
    stories: dict[int, str] = field(default_factory=dict)  # story id -> key
    created: dict[str, Alert] = field(default_factory=dict)  # alerts this call inserted, by key
    _links: list[dict[str, int]] = field(default_factory=list)  # queued alert_mentions rows
    _messages: dict[str, outbox.NewMessage] = field(default_factory=dict)  # queued outbox rows by key

    # ------------------------------------------------------------------ reading, once per call

    @classmethod
    def load(
        cls, session: Session, candidates: Sequence[AlertCandidate], config: AlertsConfig, now: datetime
    ) -> RouteBatch:
        keys = sorted({c.key for c in candidates})
        ids = sorted({i for c in candidates for i in c.mention_ids})
        mentions: dict[int, MentionRow] = {}
        in_cases: set[int] = set()
        scores: dict[int, ScoreRow] = {}
        first: dict[int, tuple[datetime, int]] = {}
        for chunk in _chunks(ids):
            mentions.update(mention_rows(session, chunk))
            latest, earliest = score_rows(session, chunk)
            scores.update(latest)
            first.update(earliest)
            if config.cases.enabled:
                in_cases.update(
                    session.scalars(select(CaseMention.mention_id).where(CaseMention.mention_id.in_(chunk)))
                )
        alerts = {a.key: a for a in session.scalars(select(Alert).where(Alert.key.in_(keys)))} if keys else {}
        names = sorted({c.brand for c in candidates})
        # whole rows, held by the batch, so the views' `session.get(Brand, id)` finds them in the session
        brands = {b.name: b for b in session.scalars(select(Brand).where(Brand.name.in_(names)))} if names else {}
        batch = cls(
            alerts_by_key=alerts,
            brands=brands,
            sources=dict(session.execute(select(Source.id, Source.name)).all()) if candidates else {},
            mentions=mentions,
            scores=scores,
            first_scored=first,
            in_cases=in_cases,
            case_tickets=_case_tickets(session, ids),
        )
        batch._load_related(session, candidates, config, now)
        batch._load_links_and_posts(session, ids)
        batch._load_stories(session, candidates)
        return batch

    def _load_related(
        self, session: Session, candidates: Sequence[AlertCandidate], config: AlertsConfig, now: datetime
    ) -> None:
        brand_ids = [b.id for b in self.brands.values()]
        if brand_ids:
            day_start, _ = local_day_bounds(now.astimezone(config.tz))
            since = min([day_start, *(now - config.cooldown(c.kind) for c in candidates)])
            stories = sorted({s for c in candidates if (s := self.story_for(c)) is not None})
            announced = and_(
                Alert.state.not_in(FOLDED_STATES), or_(Alert.created_at >= since, Alert.story_id.in_(stories))
            )
            query = select(Alert).where(Alert.brand_id.in_(brand_ids), or_(Alert.muted_until > now, announced))
            self.related = list(session.scalars(query.order_by(Alert.id)))
        # the alerts a repeated candidate was folded into get its follow-ups
        parents = {int(a.route.split(":", 1)[1]) for a in self.alerts_by_key.values() if _folded(a)}
        parents -= {a.id for a in self.related}
        if parents:
            list(session.scalars(select(Alert).where(Alert.id.in_(sorted(parents)))))  # into the identity map

    def _load_links_and_posts(self, session: Session, ids: list[int]) -> None:
        for chunk in _chunks(ids):
            rows = session.execute(
                select(AlertMention.alert_id, AlertMention.mention_id).where(AlertMention.mention_id.in_(chunk))
            )
            for alert_id, mention_id in rows:
                self.linked.setdefault(alert_id, set()).add(mention_id)
        alert_ids = {a.id for a in self.related} | {a.id for a in self.alerts_by_key.values()}
        alert_ids |= {int(a.route.split(":", 1)[1]) for a in self.alerts_by_key.values() if _folded(a)}
        self._load_posts(session, sorted(alert_ids))

    def _load_posts(self, session: Session, alert_ids: list[int]) -> None:
        for chunk in _chunks(alert_ids):
            rows = session.execute(
                select(OutboxMessage.alert_id, OutboxMessage.idempotency_key, OutboxMessage.sink)
                .add_columns(OutboxMessage.payload)
                .where(OutboxMessage.alert_id.in_(chunk), OutboxMessage.action == "post")
                .order_by(OutboxMessage.id)
            )
            for alert_id, key, sink, payload in rows:
                self.posts.setdefault(alert_id, []).append(Post(key, sink, payload))

    def _load_stories(self, session: Session, candidates: Sequence[AlertCandidate]) -> None:
        ids = {s for c in candidates if (s := self.story_for(c)) is not None}
        if ids:
            rows = session.execute(select(Story.id, Story.key).where(Story.id.in_(sorted(ids))))
            self.stories = dict(rows.all())

    # ------------------------------------------------------------------ new alerts, one INSERT

    def insert_alerts(self, session: Session, candidates: Sequence[AlertCandidate], now: datetime) -> None:
        """Insert an alert for every candidate key not recorded yet (the first candidate of a key makes
        it), in candidate order, so ids grow as they would one by one. A key a concurrent recorder
        inserted first is skipped by the INSERT and read back: its candidate is then a repeat."""
        rows: dict[str, dict[str, Any]] = {}
        for c in candidates:
            if c.key in self.alerts_by_key or c.key in rows:
                continue
            rows[c.key] = {
                "key": c.key,
                "kind": c.kind,
                "brand_id": self._brand_id(session, c.brand),
                "story_id": self.story_for(c),
                "severity": c.severity,
                "state": AlertState.OPEN.value,
                "headline": c.headline,
                "evidence": dict(c.evidence),
                "detected_at": c.detected_at,
                "created_at": now,
                "updated_at": now,
            }
        if not rows:
            return
        session.flush()
        module: Any = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
        values = list(rows.values())
        mine: set[int] = set()
        for start in range(0, len(values), INSERT_CHUNK):
            stmt = module.insert(Alert).values(values[start : start + INSERT_CHUNK])
            stmt = stmt.on_conflict_do_nothing(index_elements=["key"]).returning(Alert.id)
            mine.update(session.scalars(stmt))
        theirs = []
        for chunk in _chunks(sorted(rows)):
            for alert in session.scalars(select(Alert).where(Alert.key.in_(chunk))):
                if alert.id in mine:
                    self.created[alert.key] = alert
                else:  # a concurrent recorder's: a repeat, and a parent for the candidates after it
                    self.alerts_by_key[alert.key] = alert
                    theirs.append(alert.id)
                    if all(a is not alert for a in self.related):
                        self.related.append(alert)
        self._load_posts(session, sorted(theirs))

    def _brand_id(self, session: Session, name: str) -> int:
        brand = self.brands.get(name)
        if brand is None:  # a brand no source has made yet
            brand = self.brands[name] = session.get_one(Brand, brand_id_for(session, name))
        return brand.id

    # ------------------------------------------------------------------ in-memory state

    def known(self, mention_ids: Sequence[int]) -> set[int]:
        return {i for i in mention_ids if i in self.mentions}

    def story_for(self, candidate: AlertCandidate) -> int | None:
        return candidate.story_id or self.story_of(candidate.mention_ids)

    def story_of(self, mention_ids: Sequence[int]) -> int | None:
        """The story most of the candidate's mentions belong to (ties: the oldest story)."""
        counts = Counter(
            m.story_id
            for i in set(mention_ids)
            if (m := self.mentions.get(i)) is not None and m.story_id is not None
        )
        return min(counts, key=lambda story: (-counts[story], story)) if counts else None

    def mention_views(self, ids: list[int]) -> list[dict[str, Any]]:
        found = sorted((self.mentions[i] for i in set(ids) if i in self.mentions), key=lambda m: m.id)
        return [mention_view(m, self.sources.get(m.source_id), self.scores.get(m.id)) for m in found]

    def attach(self, alert_id: int, mention_ids: Sequence[int]) -> list[int]:
        """Link the existing ones of these mentions to an alert (queued); returns those not linked before."""
        have = self.linked.setdefault(alert_id, set())
        new = [m for m in dict.fromkeys(mention_ids) if m not in have and m in self.mentions]
        have.update(new)
        self._links += ({"alert_id": alert_id, "mention_id": m} for m in new)
        return new

    def new_alert_view(self, alert: Alert) -> dict[str, Any]:
        """The view of an alert this call created, from what the batch read: its mentions are the ones
        linked to it a moment ago, and no ticket can name it yet."""
        mentions = [self.mentions[i] for i in sorted(self.linked.get(alert.id, ()))]
        members = members_of(mentions, self.scores, self.first_scored)
        brand = next((b.name for b in self.brands.values() if b.id == alert.brand_id), str(alert.brand_id))
        tickets = sorted({t for m in mentions for t in self.case_tickets.get(m.id, ())})[:TICKET_LINKS]
        context = ViewContext(
            brand=brand,
            story_key=self.stories.get(alert.story_id) if alert.story_id else None,
            sources=self.sources,
            case_tickets=[{"id": ticket_id, "url": url} for _, ticket_id, url in tickets],
        )
        top = max(members, key=lambda m: (m.engagement, m.followers or 0), default=None)
        return render_view(alert, members, context, self.mentions[top.id] if top is not None else None)

    # ------------------------------------------------------------------ outbox rows, queued

    def enqueue(self, message: outbox.NewMessage) -> None:
        """Queue an outbox row (the first one queued for a key wins, as a stored one would)."""
        self._messages.setdefault(message.key, message)
        if message.action == "post" and message.alert_id is not None:
            self.posts.setdefault(message.alert_id, []).append(Post(message.key, message.sink, message.payload))

    def posts_of(self, alert_id: int) -> Iterator[Post]:
        yield from self.posts.get(alert_id, ())

    def write(self, session: Session, now: datetime) -> None:
        """The queued links and outbox rows, one INSERT each (rows already there are left alone)."""
        session.flush()
        module: Any = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
        if self._links:  # the Core table, one executemany (as outbox.enqueue_many)
            stmt = module.insert(AlertMention.__table__).on_conflict_do_nothing(
                index_elements=["alert_id", "mention_id"]
            )
            session.execute(stmt, self._links)
            self._links = []
        outbox.enqueue_many(session, list(self._messages.values()), now)
        self._messages = {}


def _folded(alert: Alert) -> bool:
    return bool(alert.route and alert.route.startswith("folded:"))


def _chunks(ids: Sequence[Any]) -> Iterator[list[Any]]:
    for start in range(0, len(ids), CHUNK):
        yield list(ids[start : start + CHUNK])


def _case_tickets(session: Session, ids: list[int]) -> dict[int, list[tuple[int, str, str | None]]]:
    """Each mention's cases' helpdesk tickets (those created already), for the views of new alerts."""
    found: dict[int, list[tuple[int, str, str | None]]] = {}
    for chunk in _chunks(ids):
        rows = session.execute(
            select(CaseMention.mention_id, Ticket.id, Ticket.ticket_id, Ticket.url)
            .join(Ticket, Ticket.case_id == CaseMention.case_id)
            .where(CaseMention.mention_id.in_(chunk), Ticket.ticket_id.is_not(None))
        )
        for mention_id, pk, ticket_id, url in rows:
            found.setdefault(mention_id, []).append((pk, ticket_id, url))
    return found
