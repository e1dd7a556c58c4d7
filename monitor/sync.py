"""Fetch -> match brand -> store, per page, for one source; health and backoff kept on the source row.

Each page is matched and stored in its own transaction together with the cursor that covers it, so an
interrupted sync (crash, SIGTERM) resumes after the last committed page. Connector failures arrive as
`SourceError` and move the source through ok -> degraded -> failing (backed off exponentially) or to
disabled (auth/config/fatal: no retry until its configuration changes). A transition is logged once,
when it happens, not on every failed poll. Engagement re-polls live in `monitor.repoll`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
from pydantic import BaseModel
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from monitor.kernel.net import Scrubber
from monitor.kernel.store.catalog import SourceRef
from monitor.kernel.store.engine import Database
from monitor.kernel.store.ingest import MAX_TEXT_CHARS, IngestStats, clean_text, store_page
from monitor.kernel.store.pseudonym import Pseudonymiser
from monitor.kernel.store.tables import Source
from monitor.kernel.types import BrandQuery, Connector, FetchedMention, Health, Page, SourceError, SourceErrorKind
from monitor.matching import BrandMatcher

log = logging.getLogger(__name__)

DISABLING = frozenset({"auth", "fatal", "config"})
MAX_SERVER_WAIT = timedelta(days=1)  # a platform's Retry-After is honoured up to this, never into overflow
PROBLEM_HEALTH = frozenset({"degraded", "failing", "disabled"})

# Exceptions a connector can raise besides SourceError, and what they mean. Anything else is a bug of
# ours: still recorded (transient, the next poll may pass) but logged with its traceback.
EXCEPTION_KINDS: tuple[tuple[type[BaseException], SourceErrorKind], ...] = (
    (RecursionError, "malformed"),  # nesting deeper than the stack: a hostile answer
    (UnicodeError, "malformed"),
    (ValueError, "malformed"),  # a value of the right type but unreadable (bad number, date, encoding)
    (TypeError, "malformed"),  # type confusion in a payload
    (KeyError, "malformed"),
    (OverflowError, "malformed"),
    (httpx.TransportError, "transient"),
    (OSError, "transient"),  # network and file weather (DNS, reset, a file being rotated)
    (MemoryError, "malformed"),
)
OnPage = Callable[[Session, IngestStats], Any]
# (session, the page's cursor) -> the cursor to store with the page, read inside the page's transaction
MergeCursor = Callable[[Session, Mapping[str, Any] | None], Mapping[str, Any] | None]


@dataclass(frozen=True)
class HealthPolicy:
    failing_after: int = 3  # consecutive failures that turn "degraded" into "failing"
    max_backoff: timedelta = timedelta(hours=1)


@dataclass(frozen=True)
class SourceRuntime:
    """Everything one source's sync needs, built once from the configuration."""

    ref: SourceRef
    connector: Connector
    query: BrandQuery
    matcher: BrandMatcher
    interval: timedelta
    jitter: timedelta = timedelta(0)
    repoll: bool = True
    fingerprint: str = ""


@dataclass
class SyncResult:
    source_id: int
    pages: int = 0
    fetched: int = 0
    matched: int = 0
    stored: IngestStats = field(default_factory=IngestStats)
    health: str = "ok"
    error: str | None = None
    skipped: str | None = None  # why no fetch happened (disabled, backing off)
    notes: list[str] = field(default_factory=list)
    interrupted: bool = False
    # How the failure was classified: "source_error" (the connector raised a SourceError), "exception_table"
    # (a known exception type, `EXCEPTION_KINDS`) or "catch_all" (a bug of ours, logged with its traceback).
    # The fuzzing suite and bench/fuzz.py count these; only "source_error" is a connector handling its input.
    error_via: str | None = None


def config_fingerprint(connector: str, settings: BaseModel, query: str) -> str:
    """Hash of what configures a source (secrets included, hashed): changes when the operator edits it."""
    data = settings.model_dump(mode="python")
    material = json.dumps(
        {"connector": connector, "query": query, "settings": data},
        default=lambda v: v.get_secret_value() if hasattr(v, "get_secret_value") else str(v),
        sort_keys=True,
    )
    return hashlib.sha256(material.encode()).hexdigest()


def refresh_fingerprint(session: Session, source_id: int, fingerprint: str, now: datetime) -> None:
    """Record the current configuration; a source disabled under another configuration gets another try."""
    row = session.get(Source, source_id)
    if row is None or row.config_fingerprint == fingerprint:
        return
    if row.config_fingerprint is not None and row.health == "disabled":
        log.warning("source %s: configuration changed, re-enabled (was disabled: %s)", row.name, row.health_reason)
        _set_health(row, "ok", None, now)
        row.consecutive_failures = 0
        row.next_attempt_at = None
    row.config_fingerprint = fingerprint


def _set_health(row: Source, health: Health, reason: str | None, now: datetime) -> bool:
    changed = row.health != health
    if changed:
        row.health_changed_at = now
    row.health = health
    row.health_reason = reason
    return changed


def _backoff(failures: int, interval: timedelta, policy: HealthPolicy) -> timedelta:
    return min(interval * (2 ** max(failures - 1, 0)), max(policy.max_backoff, interval))


def record_success(session: Session, source_id: int, now: datetime) -> tuple[str, bool]:
    row = session.get(Source, source_id)
    assert row is not None
    previous = row.health
    changed = _set_health(row, "ok", None, now)
    row.consecutive_failures = 0
    row.last_success_at = now
    row.last_attempt_at = now
    row.next_attempt_at = None
    row.last_error_kind = None
    if changed:
        log.warning("source %s: %s -> ok", row.name, previous)
    return row.health, changed


def record_failure(
    session: Session, source_id: int, error: SourceError, now: datetime, interval: timedelta, policy: HealthPolicy
) -> tuple[str, bool]:
    """Classify a failure into the source's health and its next allowed attempt."""
    row = session.get(Source, source_id)
    assert row is not None
    previous = row.health
    row.consecutive_failures += 1
    row.last_attempt_at = now
    row.last_error_kind = error.kind
    reason = clean_text(f"{error.kind}: {error}")  # an error body with a NUL is refused by PostgreSQL
    if error.kind in DISABLING:
        health: Health = "disabled"
        row.next_attempt_at = None
    else:
        health = "failing" if row.consecutive_failures >= policy.failing_after else "degraded"
        wait = _backoff(row.consecutive_failures, interval, policy)
        if error.kind == "rate_limited" and error.retry_after is not None and not math.isnan(error.retry_after):
            wait = max(wait, timedelta(seconds=min(error.retry_after, MAX_SERVER_WAIT.total_seconds())))
        row.next_attempt_at = now + wait
    changed = _set_health(row, health, reason[:2000], now)
    if changed:
        log.warning("source %s: %s -> %s (%s)", row.name, previous, health, reason)
    else:
        log.debug("source %s still %s (%s)", row.name, health, reason)
    return health, changed


def classify_exception(exc: BaseException) -> SourceErrorKind | None:
    """The error kind of a non-SourceError exception (`EXCEPTION_KINDS`), None for an unexpected one."""
    for exc_type, kind in EXCEPTION_KINDS:
        if isinstance(exc, exc_type):
            return kind
    return None


def error_via(exc: BaseException) -> str:
    """How a failure was classified: raised on purpose, by the exception table, or only by the catch-all."""
    if isinstance(exc, SourceError):
        return "source_error"
    return "exception_table" if classify_exception(exc) is not None else "catch_all"


def as_source_error(exc: Exception, connector: Any = None) -> SourceError:
    """Any failure as a SourceError, classified by `EXCEPTION_KINDS`; its message is scrubbed of the
    connector's secrets (a library's error text may quote a URL or header that carries a token)."""
    if isinstance(exc, SourceError):
        return exc
    message = f"{type(exc).__name__}: {str(exc)[:500]}"
    settings = getattr(connector, "settings", None)
    if isinstance(settings, BaseModel):
        message = Scrubber.from_settings(settings).scrub(message)
    return SourceError(classify_exception(exc) or "transient", message)


def source_problems(health: dict[str, str]) -> dict[str, str]:
    """The sources whose health is not ok (label -> health): what makes /healthz and `run --once` fail."""
    return {label: state for label, state in sorted(health.items()) if state in PROBLEM_HEALTH}


def enable_source(session: Session, source_id: int, now: datetime) -> str | None:
    """Re-enable a disabled source now (`repmon sources enable`); returns its previous health reason."""
    row = session.get(Source, source_id)
    if row is None:
        raise LookupError(f"source id {source_id} does not exist")
    previous = row.health_reason if row.health != "ok" else None
    if row.health != "ok":
        log.warning("source %s: %s -> ok (enabled by the operator)", row.name, row.health)
    _set_health(row, "ok", None, now)
    row.consecutive_failures = 0
    row.next_attempt_at = None
    return previous


def sync_source(
    db: Database,
    runtime: SourceRuntime,
    pseudonymiser: Pseudonymiser,
    now: datetime,
    *,
    policy: HealthPolicy | None = None,
    stop: threading.Event | None = None,
    on_page: OnPage | None = None,
) -> SyncResult:
    """One poll of one source: every fetched page is matched and committed with its cursor.

    `on_page(session, stats)` runs inside each page's transaction (cluster mode defers scoring jobs
    there, so a job exists exactly for the mentions that were committed).
    """
    policy = policy or HealthPolicy()
    source_id = runtime.ref.source_id
    result = SyncResult(source_id=source_id)
    with db.transaction() as session:
        row = session.get(Source, source_id)
        if row is None:
            raise LookupError(f"source id {source_id} does not exist")
        result.health = row.health
        if row.health == "disabled":
            result.skipped = f"disabled: {row.health_reason}"
            return result
        if row.next_attempt_at is not None and now < row.next_attempt_at:
            result.skipped = f"backing off until {row.next_attempt_at.isoformat()}"
            return result
        cursor = dict(row.cursor) if row.cursor is not None else None
    query = BrandQuery(
        brand=runtime.query.brand,
        terms=runtime.query.terms,
        query=runtime.query.query,
        languages=runtime.query.languages,
        since=runtime.query.since,
        until=now,
    )
    try:
        fetch_and_store(db, runtime, query, cursor, pseudonymiser, now, result, on_page=on_page, stop=stop)
    except DBAPIError:
        # The store failed (disk full, database down or read-only): the database's fault, not the source's.
        # It goes up to the job or command, which names it in one sentence (monitor.cli.faults).
        raise
    except Exception as exc:
        error = as_source_error(exc, runtime.connector)
        result.error_via = error_via(exc)
        if result.error_via == "catch_all":
            log.error(
                "source %s: unexpected %s in connector", runtime.ref.source, type(exc).__name__, exc_info=True
            )
        result.error = f"{error.kind}: {error}"
        with db.transaction() as session:
            result.health, _ = record_failure(session, source_id, error, now, runtime.interval, policy)
        return result
    with db.transaction() as session:
        result.health, _ = record_success(session, source_id, now)
    return result


def fetch_and_store(
    db: Database,
    runtime: SourceRuntime,
    query: BrandQuery,
    cursor: Mapping[str, Any] | None,
    pseudonymiser: Pseudonymiser,
    now: datetime,
    result: SyncResult,
    *,
    on_page: OnPage | None = None,
    stop: threading.Event | None = None,
    merge_cursor: MergeCursor | None = None,
    after_page: Callable[[Page], Any] | None = None,
) -> None:
    """The sync loop, for a poll and for a backfill alike: every fetched page is matched against the brand
    and committed with its cursor in one transaction, counted into `result`; `stop` ends it after the page
    in hand. A backfill passes `merge_cursor` (its walk is stored next to the live cursor, never over it)
    and `after_page` (progress); a poll passes `on_page`. Errors go to the caller, which decides what they
    mean (source health for a poll, the coverage report for a backfill)."""
    for page in runtime.connector.fetch(query, cursor):
        _store(db, runtime, page, pseudonymiser, now, result, on_page, merge_cursor)
        if after_page is not None:
            after_page(page)
        if stop is not None and stop.is_set():  # finish the batch in hand, then stop
            result.interrupted = True
            break


def _matches(matcher: BrandMatcher, mention: FetchedMention, source_name: str) -> bool:
    """Brand matching on at most the text the store keeps: matching tokenises its whole input, and a
    60-million-character post must not be tokenised whole. A mention whose text is not a string goes on
    to the store, which rejects it by name (a bad post is reported, not silently dropped)."""
    if not isinstance(mention.text, str):
        return True
    language = mention.language if isinstance(mention.language, str) else None
    return matcher.matches(mention.text[:MAX_TEXT_CHARS], language, source_name)


def _store(
    db: Database,
    runtime: SourceRuntime,
    page: Page,
    pseudonymiser: Pseudonymiser,
    now: datetime,
    result: SyncResult,
    on_page: OnPage | None = None,
    merge_cursor: MergeCursor | None = None,
) -> None:
    source_name = runtime.ref.connector
    matched = [m for m in page.mentions if _matches(runtime.matcher, m, source_name)]
    with db.transaction() as session:
        cursor = page.cursor if merge_cursor is None else merge_cursor(session, page.cursor)
        stats = store_page(
            session,
            runtime.ref.source_id,
            runtime.ref.brand_id,
            Page(matched, cursor, page.notes),
            pseudonymiser,
            now=now,
        )
        if on_page is not None:
            on_page(session, stats)
    result.pages += 1
    result.fetched += len(page.mentions)
    result.matched += len(matched)
    result.stored += stats
    result.notes.extend(page.notes)
