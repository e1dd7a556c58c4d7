"""What the weekly report shows, computed from the database as plain numbers.

Kept apart from drawing so the numbers can be tested on both databases and the HTML can be tested
for escaping and layout without a database. Bucketing happens in Python: date functions differ
between SQLite and PostgreSQL, and a week of one brand's mentions fits comfortably in memory.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from monitor.kernel.store.tables import Alert, AlertMention, Brand, Mention, Score, Source, Story, Ticket
from monitor.kernel.types import ASPECTS, SENTIMENTS

UNSCORED = "unscored"
SPIKE_KINDS = ("negative_spike", "volume_spike", "virality")
ASPECT_THRESHOLD = 0.5  # an aspect counts as present at this probability
TOP_STORIES = 10
HOUR, DAY = timedelta(hours=1), timedelta(days=1)
HOURLY_UP_TO = timedelta(days=2)  # a day or two is read by the hour; a week by the day


class ReportError(LookupError):
    """The report cannot be produced (unknown brand, empty period)."""


@dataclass(frozen=True)
class Spike:
    at: datetime
    kind: str
    severity: str
    headline: str


@dataclass(frozen=True)
class Share:
    """Negative mentions among scored mentions of one group."""

    group: str
    negative: int
    scored: int

    @property
    def share(self) -> float:
        return self.negative / self.scored if self.scored else 0.0


@dataclass(frozen=True)
class StoryRow:
    story_id: int
    headline: str
    mentions: int  # in the period
    negative: int
    first_seen: datetime
    alert_state: str | None
    alert_severity: str | None
    tickets: tuple[tuple[str, str | None], ...]  # (label, url)


@dataclass(frozen=True)
class Durations:
    """Minutes from the first post to the alert and from the alert to its acknowledgement."""

    to_alert: tuple[float, ...]
    to_ack: tuple[float, ...]
    alerts: int
    unacknowledged: int

    @staticmethod
    def _median(values: tuple[float, ...]) -> float | None:
        return statistics.median(values) if values else None

    @staticmethod
    def _p90(values: tuple[float, ...]) -> float | None:
        if not values:
            return None
        ordered = sorted(values)
        return ordered[math.ceil(0.9 * len(ordered)) - 1]  # nearest-rank percentile

    @property
    def median_to_alert(self) -> float | None:
        return self._median(self.to_alert)

    @property
    def median_to_ack(self) -> float | None:
        return self._median(self.to_ack)

    @property
    def p90_to_alert(self) -> float | None:
        return self._p90(self.to_alert)

    @property
    def p90_to_ack(self) -> float | None:
        return self._p90(self.to_ack)


@dataclass(frozen=True)
class SourceHealth:
    name: str
    connector: str
    health: str
    health_since: datetime | None
    reason: str | None
    last_success_at: datetime | None
    consecutive_failures: int
    per_bucket: tuple[int, ...]  # mentions, aligned with ReportData.buckets
    coverage_alerts: int


@dataclass
class ReportData:
    brand: str
    since: datetime
    until: datetime
    bucket: timedelta  # one hour for periods up to two days, else one day
    buckets: list[datetime]  # bucket starts (UTC)
    volume: dict[str, list[int]]  # sentiment (and "unscored") -> count per bucket
    spikes: list[Spike]
    by_source: list[Share]
    by_language: list[Share]
    stories: list[StoryRow]
    aspects: dict[str, dict[str, int]]  # language -> aspect -> mentions with the aspect
    aspect_base: dict[str, int]  # language -> scored mentions
    durations: Durations
    sources: list[SourceHealth]
    total: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def negative(self) -> int:
        return sum(self.volume["negative"])


def _floor(value: datetime, bucket: timedelta) -> datetime:
    value = value.replace(minute=0, second=0, microsecond=0)
    return value.replace(hour=0) if bucket == DAY else value


def _mentions_with_latest_score(session: Session, brand_id: int, since: datetime, until: datetime) -> list[Any]:
    """One row per mention in the period with its newest score (a rescoring with a new model wins).

    Two plain scans joined in Python instead of a GROUP BY subquery joined back in SQL: on tables
    the planner has no statistics for yet (right after a backfill) PostgreSQL chose a nested loop over
    that subquery, which took minutes for 20,000 mentions.
    """
    in_period = (Mention.brand_id == brand_id, Mention.created_at >= since, Mention.created_at < until)
    mentions = session.execute(
        select(Mention.id, Mention.created_at, Mention.source_id, Mention.story_id).where(*in_period)
    ).all()
    latest: dict[int, Any] = {}
    for score in session.execute(
        select(Score.mention_id, Score.id, Score.label, Score.language, Score.aspects)
        .join(Mention, Mention.id == Score.mention_id)
        .where(*in_period)
    ):
        if score.mention_id not in latest or score.id > latest[score.mention_id].id:
            latest[score.mention_id] = score
    rows = []
    for m in mentions:
        score = latest.get(m.id)
        rows.append(
            _Row(
                id=m.id,
                created_at=m.created_at,
                source_id=m.source_id,
                story_id=m.story_id,
                label=score.label if score else None,
                language=score.language if score else None,
                aspects=score.aspects if score else None,
            )
        )
    return rows


@dataclass(frozen=True, slots=True)
class _Row:
    id: int
    created_at: datetime
    source_id: int
    story_id: int | None
    label: str | None
    language: str | None
    aspects: dict[str, Any] | None


def build_report(session: Session, brand: str, since: datetime, until: datetime) -> ReportData:
    """All report numbers for one brand over [since, until)."""
    if until <= since:
        raise ReportError(f"empty period: {since.isoformat()} .. {until.isoformat()}")
    brand_row = session.scalars(select(Brand).where(Brand.name == brand)).one_or_none()
    if brand_row is None:
        known = ", ".join(session.scalars(select(Brand.name).order_by(Brand.name))) or "none"
        raise ReportError(f"unknown brand {brand!r}; known brands: {known}")
    bucket = HOUR if until - since <= HOURLY_UP_TO else DAY
    buckets = []
    start = _floor(since, bucket)
    while start < until:
        buckets.append(start)
        start += bucket
    index = {b: i for i, b in enumerate(buckets)}

    per_mention = {row.id: row for row in _mentions_with_latest_score(session, brand_row.id, since, until)}

    volume: dict[str, list[int]] = {s: [0] * len(buckets) for s in (*SENTIMENTS, UNSCORED)}
    source_counts: dict[int, Counter[str]] = defaultdict(Counter)
    language_counts: dict[str, Counter[str]] = defaultdict(Counter)
    source_counts_per_bucket: dict[int, list[int]] = defaultdict(lambda: [0] * len(buckets))
    story_counts: dict[int, Counter[str]] = defaultdict(Counter)
    aspects: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(ASPECTS, 0))
    aspect_base: Counter[str] = Counter()
    for row in per_mention.values():
        label = row.label if row.label in SENTIMENTS else UNSCORED
        slot = index[_floor(row.created_at, bucket)]
        volume[label][slot] += 1
        source_counts_per_bucket[row.source_id][slot] += 1
        if row.story_id is not None:
            story_counts[row.story_id][label] += 1
        if label == UNSCORED:
            continue
        source_counts[row.source_id][label] += 1
        language = row.language or "other"
        language_counts[language][label] += 1
        aspect_base[language] += 1
        for aspect, probability in (row.aspects or {}).items():
            if aspect in ASPECTS and isinstance(probability, int | float) and probability >= ASPECT_THRESHOLD:
                aspects[language][aspect] += 1

    sources = list(session.scalars(select(Source).where(Source.brand_id == brand_row.id).order_by(Source.name)))
    names = {s.id: s.name for s in sources}
    by_source = [Share(names[sid], c["negative"], sum(c.values())) for sid, c in sorted(source_counts.items())]
    by_language = [Share(lang, c["negative"], sum(c.values())) for lang, c in sorted(language_counts.items())]

    alerts = list(
        session.scalars(
            select(Alert)
            .where(Alert.brand_id == brand_row.id, Alert.detected_at >= since, Alert.detected_at < until)
            .order_by(Alert.detected_at)
        )
    )
    spikes = [Spike(a.detected_at, a.kind, a.severity, a.headline) for a in alerts if a.kind in SPIKE_KINDS]
    coverage = Counter(
        (a.evidence or {}).get("source") for a in alerts if a.kind == "coverage_lost" and a.evidence
    )
    return ReportData(
        brand=brand,
        since=since,
        until=until,
        bucket=bucket,
        buckets=buckets,
        volume=volume,
        spikes=spikes,
        by_source=by_source,
        by_language=by_language,
        stories=_stories(session, story_counts),
        aspects={lang: aspects[lang] for lang in sorted(aspect_base)},
        aspect_base=dict(sorted(aspect_base.items())),
        durations=_durations(session, alerts),
        sources=[
            SourceHealth(
                name=s.name,
                connector=s.connector,
                health=s.health,
                health_since=s.health_changed_at,
                reason=s.health_reason,
                last_success_at=s.last_success_at,
                consecutive_failures=s.consecutive_failures,
                per_bucket=tuple(source_counts_per_bucket.get(s.id, [0] * len(buckets))),
                coverage_alerts=coverage.get(s.name, 0),
            )
            for s in sources
        ],
        total=len(per_mention),
    )


def _stories(session: Session, story_counts: dict[int, Counter[str]]) -> list[StoryRow]:
    ranked = sorted(story_counts, key=lambda sid: (-sum(story_counts[sid].values()), sid))[:TOP_STORIES]
    if not ranked:
        return []
    stories = {s.id: s for s in session.scalars(select(Story).where(Story.id.in_(ranked)))}
    latest_alert: dict[int, Alert] = {}
    for alert in session.scalars(select(Alert).where(Alert.story_id.in_(ranked)).order_by(Alert.detected_at)):
        assert alert.story_id is not None
        latest_alert[alert.story_id] = alert  # ordered: the last one wins
    all_alert_ids = select(Alert.id).where(Alert.story_id.in_(ranked))
    tickets: dict[int, list[tuple[str, str | None]]] = defaultdict(list)
    for ticket, story_id in session.execute(
        select(Ticket, Alert.story_id)
        .join(Alert, Alert.id == Ticket.alert_id)
        .where(Ticket.alert_id.in_(all_alert_ids))
    ):
        label = f"{ticket.system} #{ticket.ticket_id or ticket.external_id}"
        tickets[story_id].append((label, ticket.url))
    first_seen = dict(
        session.execute(
            select(Mention.story_id, func.min(Mention.created_at))
            .where(Mention.story_id.in_(ranked))
            .group_by(Mention.story_id)
        ).all()
    )
    rows = []
    for sid in ranked:
        story = stories.get(sid)
        alert = latest_alert.get(sid)
        rows.append(
            StoryRow(
                story_id=sid,
                headline=(story.headline if story and story.headline else f"story {sid}"),
                mentions=sum(story_counts[sid].values()),
                negative=story_counts[sid]["negative"],
                first_seen=first_seen[sid],
                alert_state=alert.state if alert else None,
                alert_severity=alert.severity if alert else None,
                tickets=tuple(sorted(tickets.get(sid, []))),
            )
        )
    return rows


def _durations(session: Session, alerts: list[Alert]) -> Durations:
    """Post -> alert uses the earliest post the alert cites (directly or through its story)."""
    ids = [a.id for a in alerts]
    first_post: dict[int, datetime] = {}
    if ids:
        first_post.update(
            session.execute(
                select(AlertMention.alert_id, func.min(Mention.created_at))
                .join(Mention, Mention.id == AlertMention.mention_id)
                .where(AlertMention.alert_id.in_(ids))
                .group_by(AlertMention.alert_id)
            ).all()
        )
        story_ids = {a.story_id for a in alerts if a.story_id is not None}
        story_first = dict(
            session.execute(
                select(Mention.story_id, func.min(Mention.created_at))
                .where(Mention.story_id.in_(story_ids))
                .group_by(Mention.story_id)
            ).all()
        )
        for a in alerts:
            if a.id not in first_post and a.story_id in story_first:
                first_post[a.id] = story_first[a.story_id]
    to_alert = tuple(
        (a.detected_at - first_post[a.id]).total_seconds() / 60
        for a in alerts
        if a.id in first_post and a.detected_at >= first_post[a.id]
    )
    to_ack = tuple(
        (a.acknowledged_at - a.detected_at).total_seconds() / 60 for a in alerts if a.acknowledged_at is not None
    )
    return Durations(
        to_alert=to_alert,
        to_ack=to_ack,
        alerts=len(alerts),
        unacknowledged=sum(1 for a in alerts if a.acknowledged_at is None),
    )
