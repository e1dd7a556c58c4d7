"""The relational schema: one typed SQLAlchemy 2.0 ORM model per table.

Works identically on SQLite and PostgreSQL: JSON columns use the generic `JSON` type, times are
stored timezone-aware in UTC, and every idempotent write has a unique constraint behind it.
Schema changes go through Alembic (`repmon db upgrade`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from monitor.kernel.states import AlertState, CaseState, OutboxStatus

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on both backends (SQLite drops tzinfo on the way back)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: store timezone-aware UTC times only")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


ID = BigInteger().with_variant(Integer, "sqlite")  # SQLite autoincrement needs INTEGER PRIMARY KEY


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON, list[Any]: JSON}


class Brand(Base):
    __tablename__ = "brands"
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Source(Base):
    """A configured connector instance for one brand, with its cursor and health."""

    __tablename__ = "sources"
    __table_args__ = (UniqueConstraint("brand_id", "name"),)
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))  # unique per brand, e.g. "mastodon-social"
    connector: Mapped[str] = mapped_column(String(100))
    cursor: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    health: Mapped[str] = mapped_column(String(20), default="ok")  # ok/degraded/failing/disabled
    health_reason: Mapped[str | None] = mapped_column(Text, default=None)
    health_changed_at: Mapped[datetime | None] = mapped_column(default=None)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    last_success_at: Mapped[datetime | None] = mapped_column(default=None)
    last_attempt_at: Mapped[datetime | None] = mapped_column(default=None)
    next_attempt_at: Mapped[datetime | None] = mapped_column(default=None)  # backoff: not before this
    last_error_kind: Mapped[str | None] = mapped_column(String(20), default=None)  # SourceError.kind
    # Hash of the source's configuration: a source disabled for auth/config errors retries once it changes.
    config_fingerprint: Mapped[str | None] = mapped_column(String(64), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    brand: Mapped[Brand] = relationship()


class Mention(Base):
    """One post, stored once per (source, external_id); engagement columns hold the latest counts."""

    __tablename__ = "mentions"
    __table_args__ = (
        UniqueConstraint("source_id", "external_id"),
        Index("ix_mentions_brand_created", "brand_id", "created_at"),
        Index("ix_mentions_author_key", "author_key"),
    )
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"))
    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id", ondelete="CASCADE"))
    external_id: Mapped[str] = mapped_column(String(300))
    url: Mapped[str | None] = mapped_column(Text, default=None)
    author_key: Mapped[str | None] = mapped_column(String(64), default=None)  # keyed hash (HMAC-SHA256)
    author_handle: Mapped[str | None] = mapped_column(String(300), default=None)  # purged by retention
    author_followers: Mapped[int | None] = mapped_column(BigInteger, default=None)
    text: Mapped[str] = mapped_column(Text)
    title: Mapped[str | None] = mapped_column(Text, default=None)
    language: Mapped[str | None] = mapped_column(String(8), default=None)
    rating: Mapped[int | None] = mapped_column(Integer, default=None)
    parent_external_id: Mapped[str | None] = mapped_column(String(300), default=None)
    links: Mapped[list[Any] | None] = mapped_column(JSON, default=None)
    created_at: Mapped[datetime] = mapped_column()
    fetched_at: Mapped[datetime] = mapped_column(default=utcnow)
    likes: Mapped[int | None] = mapped_column(BigInteger, default=None)
    reposts: Mapped[int | None] = mapped_column(BigInteger, default=None)
    replies: Mapped[int | None] = mapped_column(BigInteger, default=None)
    quotes: Mapped[int | None] = mapped_column(BigInteger, default=None)
    engagement_checked_at: Mapped[datetime | None] = mapped_column(default=None)
    next_repoll_at: Mapped[datetime | None] = mapped_column(default=None, index=True)
    repoll_count: Mapped[int] = mapped_column(Integer, default=0)
    raw: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)  # bounded in size at ingest
    story_id: Mapped[int | None] = mapped_column(
        ForeignKey("stories.id", ondelete="SET NULL"), default=None, index=True
    )
    scored_at: Mapped[datetime | None] = mapped_column(default=None)
    anonymised_at: Mapped[datetime | None] = mapped_column(default=None)


class EngagementSnapshot(Base):
    """Engagement counts observed at one moment: the input of virality prediction."""

    __tablename__ = "engagement_snapshots"
    __table_args__ = (UniqueConstraint("mention_id", "observed_at"),)
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    mention_id: Mapped[int] = mapped_column(ForeignKey("mentions.id", ondelete="CASCADE"), index=True)
    observed_at: Mapped[datetime] = mapped_column()
    likes: Mapped[int | None] = mapped_column(BigInteger, default=None)
    reposts: Mapped[int | None] = mapped_column(BigInteger, default=None)
    replies: Mapped[int | None] = mapped_column(BigInteger, default=None)
    quotes: Mapped[int | None] = mapped_column(BigInteger, default=None)
    author_followers: Mapped[int | None] = mapped_column(BigInteger, default=None)


class Score(Base):
    __tablename__ = "scores"
    __table_args__ = (UniqueConstraint("mention_id", "model_version"),)
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    mention_id: Mapped[int] = mapped_column(ForeignKey("mentions.id", ondelete="CASCADE"), index=True)
    model_version: Mapped[str] = mapped_column(String(100))
    label: Mapped[str] = mapped_column(String(10))
    p_negative: Mapped[float] = mapped_column(Float)
    p_neutral: Mapped[float] = mapped_column(Float)
    p_positive: Mapped[float] = mapped_column(Float)
    language: Mapped[str] = mapped_column(String(8))
    needs_help: Mapped[bool] = mapped_column(Boolean, default=False)
    needs_help_probability: Mapped[float] = mapped_column(Float, default=0.0)
    aspects: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    embedding: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)  # float16 little-endian
    scored_at: Mapped[datetime] = mapped_column(default=utcnow)


class Story(Base):
    """A group of near-duplicate mentions (reposts, quotes, the same complaint retold)."""

    __tablename__ = "stories"
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    key: Mapped[str] = mapped_column(String(100), unique=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id", ondelete="CASCADE"), index=True)
    headline: Mapped[str | None] = mapped_column(Text, default=None)
    first_mention_id: Mapped[int | None] = mapped_column(BigInteger, default=None)
    mention_count: Mapped[int] = mapped_column(Integer, default=0)
    centroid: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Alert(Base):
    """One alert per event (key); state changes come from Slack actions and the helpdesk."""

    __tablename__ = "alerts"
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(40))
    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id", ondelete="CASCADE"), index=True)
    story_id: Mapped[int | None] = mapped_column(ForeignKey("stories.id", ondelete="SET NULL"), default=None)
    severity: Mapped[str] = mapped_column(String(10))
    state: Mapped[str] = mapped_column(String(20), default=AlertState.OPEN.value)  # AlertState
    headline: Mapped[str] = mapped_column(Text)
    evidence: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    route: Mapped[str | None] = mapped_column(String(200), default=None)
    assignee: Mapped[str | None] = mapped_column(String(100), default=None)
    slack_channel: Mapped[str | None] = mapped_column(String(100), default=None)
    slack_ts: Mapped[str | None] = mapped_column(String(50), default=None)
    detected_at: Mapped[datetime] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    acknowledged_at: Mapped[datetime | None] = mapped_column(default=None)
    muted_until: Mapped[datetime | None] = mapped_column(default=None)


class AlertMention(Base):
    __tablename__ = "alert_mentions"
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), primary_key=True)
    mention_id: Mapped[int] = mapped_column(ForeignKey("mentions.id", ondelete="CASCADE"), primary_key=True)


class OutboxMessage(Base):
    """A pending delivery, written in the same transaction as the alert that caused it."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_due", "status", "next_attempt_at"),)
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), default=None)
    sink: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(40))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    status: Mapped[str] = mapped_column(String(20), default=OutboxStatus.PENDING.value)  # OutboxStatus
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    locked_until: Mapped[datetime | None] = mapped_column(default=None)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(default=None)


class Case(Base):
    """One customer's open matter with one brand: the unit of support work (alerts/cases.py).

    `open_key` ("<brand id>:<author key>") is set while the case is open and cleared when it closes; its
    unique constraint (NULLs never collide, on both backends) makes "one open case per customer" hold even
    when two workers see the same customer's posts at once. `key` is the helpdesk external id.
    """

    __tablename__ = "cases"
    __table_args__ = (Index("ix_cases_brand_state", "brand_id", "state"),)
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    key: Mapped[str] = mapped_column(String(100), unique=True)
    open_key: Mapped[str | None] = mapped_column(String(200), unique=True, default=None)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id", ondelete="CASCADE"))
    author_key: Mapped[str | None] = mapped_column(String(64), default=None)
    state: Mapped[str] = mapped_column(String(20), default=CaseState.OPEN.value)  # CaseState
    close_reason: Mapped[str | None] = mapped_column(String(20), default=None)  # CloseReason
    first_mention_id: Mapped[int | None] = mapped_column(BigInteger, default=None)
    mention_count: Mapped[int] = mapped_column(Integer, default=0)
    destinations: Mapped[list[Any] | None] = mapped_column(JSON, default=None)  # helpdesks chosen at opening
    problem_key: Mapped[str | None] = mapped_column(String(200), default=None)  # incident of this problem
    opened_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_activity_at: Mapped[datetime] = mapped_column(default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(default=None)


class CaseMention(Base):
    """A post belongs to at most one case (primary key on the mention: joining twice is a no-op)."""

    __tablename__ = "case_mentions"
    mention_id: Mapped[int] = mapped_column(ForeignKey("mentions.id", ondelete="CASCADE"), primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    added_at: Mapped[datetime] = mapped_column(default=utcnow)


class Ticket(Base):
    """A helpdesk ticket, created once per case (external_id = case key) or per story (story key)."""

    __tablename__ = "tickets"
    __table_args__ = (UniqueConstraint("system", "external_id"),)
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    system: Mapped[str] = mapped_column(String(50))
    external_id: Mapped[str] = mapped_column(String(200))
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("alerts.id", ondelete="SET NULL"), default=None)
    case_id: Mapped[int | None] = mapped_column(
        ForeignKey("cases.id", ondelete="SET NULL"), default=None, index=True
    )
    ticket_id: Mapped[str | None] = mapped_column(String(100), default=None)
    url: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Feedback(Base):
    """Corrections from support leads (e.g. Wrong sentiment), exported as evaluation data."""

    __tablename__ = "feedback"
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("alerts.id", ondelete="SET NULL"), default=None)
    mention_id: Mapped[int | None] = mapped_column(ForeignKey("mentions.id", ondelete="SET NULL"), default=None)
    kind: Mapped[str] = mapped_column(String(40))  # wrong_sentiment / not_relevant
    corrected_label: Mapped[str | None] = mapped_column(String(10), default=None)
    user: Mapped[str | None] = mapped_column(String(100), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class DetectorState(Base):
    """Persisted streaming-detector state, so a restart neither re-warms nor re-alerts."""

    __tablename__ = "detector_state"
    __table_args__ = (UniqueConstraint("detector", "key"),)
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    detector: Mapped[str] = mapped_column(String(100))
    key: Mapped[str] = mapped_column(String(200))
    state: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
