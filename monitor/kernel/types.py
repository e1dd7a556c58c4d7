"""Plain typed data that flows between pipeline stages.

Data flows one way: connector -> store -> scorer -> detectors -> router -> sinks.
Stages exchange only these values (never ORM objects or each other's internals), so each
stage can be tested alone and later run as a separate worker process.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar, Literal, Protocol, runtime_checkable

from pydantic import BaseModel

Sentiment = Literal["negative", "neutral", "positive"]
SENTIMENTS: tuple[Sentiment, ...] = ("negative", "neutral", "positive")
Language = Literal["sv", "da", "no", "en", "other"]
LANGUAGES: tuple[str, ...] = ("sv", "da", "no", "en", "other")
ASPECTS: tuple[str, ...] = (
    "availability_wait",  # availability / wait time
    "not_resolved",  # not resolved / repeat contact
    "staff_attitude",
    "competence_wrong_info",
    "price_billing",
    "product_delivery_fault",
)
Health = Literal["ok", "degraded", "failing", "disabled"]
Severity = Literal["low", "medium", "high", "critical"]
SEVERITIES: tuple[Severity, ...] = ("low", "medium", "high", "critical")


# --------------------------------------------------------------------------- connectors


@dataclass(frozen=True, slots=True)
class BrandQuery:
    """What a connector is asked to find for one brand."""

    brand: str
    terms: tuple[str, ...]  # plain search terms (brand name + aliases) the platform's search understands
    query: str | None = None  # the brand's full query-language expression, for local matching
    languages: tuple[str, ...] = ()
    since: datetime | None = None  # lower bound (backfill); None = connector default
    until: datetime | None = None  # signpost: upper bound frozen at sync start


@dataclass(frozen=True, slots=True)
class FetchedMention:
    """A normalised mention as a connector saw it. Author is the raw handle: the store pseudonymises it."""

    external_id: str
    text: str
    created_at: datetime  # timezone-aware UTC
    url: str | None = None
    author: str | None = None
    author_followers: int | None = None
    language: str | None = None  # the platform's own language tag, if any
    likes: int | None = None
    reposts: int | None = None
    replies: int | None = None
    quotes: int | None = None
    rating: int | None = None  # star rating for review sources (1-5)
    title: str | None = None
    parent_external_id: str | None = None  # reply-to / repost-of / quote-of, for story grouping
    links: tuple[str, ...] = ()
    raw: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Page:
    """One page of results plus the cursor to persist *in the same transaction* as its mentions."""

    mentions: Sequence[FetchedMention]
    cursor: Mapping[str, Any] | None = None
    # What the source could not reach, for coverage reports (e.g. "Algolia 1000-hit cap").
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class EngagementUpdate:
    """A re-poll result for one mention."""

    external_id: str
    observed_at: datetime
    likes: int | None = None
    reposts: int | None = None
    replies: int | None = None
    quotes: int | None = None
    author_followers: int | None = None
    deleted: bool = False  # the source says the post is gone: privacy requires removing it


@runtime_checkable
class Connector(Protocol):
    """A source of mentions. Registered under the `repmon.connectors` entry-point group."""

    name: ClassVar[str]
    Settings: ClassVar[type[BaseModel]]

    def fetch(self, query: BrandQuery, cursor: Mapping[str, Any] | None) -> Iterator[Page]:
        """Yield pages newer than `cursor`; each page carries the cursor that covers it."""
        ...

    def repoll(self, external_ids: Sequence[str]) -> Iterator[EngagementUpdate]:
        """Current engagement for already-stored mentions (empty iterator if unsupported)."""
        ...


# --------------------------------------------------------------------------- scoring


@dataclass(frozen=True, slots=True)
class TextToScore:
    mention_id: int
    text: str
    language_hint: str | None = None


@dataclass(frozen=True, slots=True)
class ScoreResult:
    mention_id: int
    model_version: str
    label: Sentiment
    probabilities: Mapping[str, float]  # keys: negative, neutral, positive; sums to 1
    language: str  # sv/da/no/en/other
    needs_help: bool
    needs_help_probability: float
    aspects: Mapping[str, float] = field(default_factory=dict)  # aspect -> probability, ASPECTS keys
    embedding: Sequence[float] | None = None  # sentence vector, for story grouping


@runtime_checkable
class Scorer(Protocol):
    """Scores batches of texts. Registered under the `repmon.scorers` entry-point group."""

    version: str

    def score(self, batch: Sequence[TextToScore]) -> list[ScoreResult]: ...


# --------------------------------------------------------------------------- detection and alerts


@dataclass(frozen=True, slots=True)
class AlertCandidate:
    """A detector's finding, with the evidence a human needs to judge it."""

    kind: str  # "negative_spike", "volume_spike", "virality", "complaint", "coverage_lost"
    brand: str
    key: str  # idempotency key: the same event always yields the same key
    severity: Severity
    detected_at: datetime
    headline: str
    evidence: Mapping[str, Any] = field(default_factory=dict)
    mention_ids: tuple[int, ...] = ()
    story_id: int | None = None


@dataclass(frozen=True, slots=True)
class Delivery:
    """One message for one sink, read from the outbox."""

    outbox_id: int
    alert_id: int | None
    sink: str
    action: str  # "post", "update", "thread_reply", "create_ticket", "digest"
    payload: Mapping[str, Any]
    idempotency_key: str
    attempts: int


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    ok: bool
    retry_after: float | None = None  # seconds, when the sink was rate limited
    permanent: bool = False  # do not retry (e.g. invalid channel)
    error: str | None = None
    result: Mapping[str, Any] = field(default_factory=dict)  # e.g. {"ts": ...} or {"ticket_id": ...}


class Capability(StrEnum):
    """What a sink can do; routing and follow-ups ask for a capability, never for a sink by name.

    A sink class declares `capabilities: ClassVar[frozenset[Capability]]`; one that declares nothing
    (a minimal third-party sink) is taken to accept posts only.
    """

    POSTS = "posts"  # takes an alert as a message (action "post"): a chat, a pager, an event receiver
    THREADS = "threads"  # follow-ups go under the posted message (action "thread_reply")
    EDITS = "edits"  # a posted message is updated in place as the alert grows (action "update")
    TICKETS = "tickets"  # a helpdesk: customers' cases and problem tickets go here


@runtime_checkable
class Sink(Protocol):
    """Delivers outbox messages. Registered under the `repmon.sinks` entry-point group; routes name it as
    `to = [{sink = "<entry point name>", target = "..."}]` and it receives `payload["target"]`."""

    name: ClassVar[str]

    def deliver(self, delivery: Delivery) -> DeliveryResult: ...


# --------------------------------------------------------------------------- errors as data

SourceErrorKind = Literal["auth", "rate_limited", "transient", "malformed", "fatal", "config"]


class SourceError(Exception):
    """A connector failure, classified so the sync loop can decide: retry, back off, or disable.

    auth: credentials rejected or expired -> disable the source and report.
    rate_limited: honour `retry_after` seconds. transient: retry later with backoff (network, DNS, 5xx).
    malformed: the platform answered with something we cannot read (bad JSON, wrong shape, bad encoding):
    retried with backoff and counted toward degraded health, never disabling (the next answer may be fine).
    fatal / config: do not retry until the configuration changes.
    Messages must never contain secrets.
    """

    def __init__(self, kind: SourceErrorKind, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.kind: SourceErrorKind = kind
        self.retry_after = retry_after
