"""Store one page of fetched mentions idempotently, together with the cursor that covers it.

The caller owns the transaction: mentions, engagement snapshots and the source cursor are written in
the same one, so a crash before commit leaves the old cursor in place and the next sync re-fetches
the page; the unique key (source_id, external_id) then turns the re-fetch into updates, never
duplicates. Inserts use ON CONFLICT DO NOTHING so two workers racing on the same page cannot fail.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from monitor.kernel.store.pseudonym import Pseudonymiser
from monitor.kernel.store.tables import EngagementSnapshot, Mention, Source
from monitor.kernel.types import FetchedMention, Page

log = logging.getLogger(__name__)

MAX_TEXT_CHARS = 20_000  # far above any platform's post limit: longer text is an import error
MAX_TITLE_CHARS = 1_000
MAX_RAW_BYTES = 16_384  # raw payloads are for debugging and re-parsing, not an archive
MAX_EXTERNAL_ID = 300  # column size
MAX_URL_CHARS = 4_000
TRUNCATION_MARKER = " […truncated by repmon]"
FIRST_REPOLL_AFTER = timedelta(minutes=2)  # the first age of monitor.repoll's schedule
ENGAGEMENT_FIELDS = ("likes", "reposts", "replies", "quotes", "author_followers")
_SELECT_CHUNK = 500
MAX_COUNT = 2**62  # BIGINT with room: a bigger "like count" is a hostile payload, stored as unknown
MAX_FUTURE = timedelta(days=1)  # clock skew allowance; later "creation" times would poison time arithmetic
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
MAX_RAW_DEPTH = 20


@dataclass
class IngestStats:
    """What one `store_page` call did; rejected and truncated mentions are named, never silent."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    snapshots: int = 0
    new_mention_ids: list[int] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (external_id, reason)
    truncated: list[str] = field(default_factory=list)  # external ids whose text was cut
    cursor_advanced: bool = False

    def __iadd__(self, other: IngestStats) -> IngestStats:
        self.inserted += other.inserted
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.snapshots += other.snapshots
        self.new_mention_ids += other.new_mention_ids
        self.rejected += other.rejected
        self.truncated += other.truncated
        self.cursor_advanced |= other.cursor_advanced
        return self


def clean_text(text: str) -> str:
    """Text every database accepts: no NUL (PostgreSQL refuses it) and no lone surrogates (not UTF-8)."""
    if "\x00" in text:
        text = text.replace("\x00", "")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text


def _optional_text(value: Any) -> str | None:
    return clean_text(value) if isinstance(value, str) and value else None


def bounded_count(value: Any) -> int | None:
    """An engagement count or rating from outside: a plain non-negative int in range, else unknown."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_COUNT:
        return None
    return value


def _json_safe(value: Any, depth: int = 0) -> Any:
    """A copy storable as JSON on both databases: clean strings and keys, finite numbers, bounded depth."""
    if depth > MAX_RAW_DEPTH:
        return "[too deep]"
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return value if abs(value) <= MAX_COUNT else str(value)[:40]
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {clean_text(str(k)): _json_safe(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v, depth + 1) for v in value]
    return clean_text(str(value))[:1000]


def bounded_raw(raw: Mapping[str, Any] | None, limit: int = MAX_RAW_BYTES) -> dict[str, Any] | None:
    """The raw payload if it serialises within `limit` bytes, else a marked, cut-down stand-in."""
    if raw is None:
        return None
    encoded = json.dumps(_json_safe(raw), ensure_ascii=False)
    size = len(encoded.encode())
    if size <= limit:
        return json.loads(encoded)  # JSON-safe copy (datetimes and the like as strings)
    head = encoded.encode()[: limit // 2].decode(errors="ignore")
    return {"_repmon_truncated": True, "original_bytes": size, "head": head}


def _cut(text: str, limit: int) -> str:
    return text[: limit - len(TRUNCATION_MARKER)] + TRUNCATION_MARKER


def _validate(mention: FetchedMention, now: datetime) -> str | None:
    """Why this mention cannot be stored, or None."""
    if not isinstance(mention.external_id, str) or not clean_text(mention.external_id).strip():
        return "empty external_id"
    if len(mention.external_id) > MAX_EXTERNAL_ID:
        return f"external_id longer than {MAX_EXTERNAL_ID} characters"
    if not isinstance(mention.text, str):
        return "text is not a string"
    if not isinstance(mention.created_at, datetime) or mention.created_at.tzinfo is None:
        return "created_at must be a timezone-aware datetime"
    try:
        created = mention.created_at.astimezone(UTC)
    except (OverflowError, ValueError):
        return "created_at out of range"
    if not EARLIEST <= created <= now + MAX_FUTURE:
        return f"created_at {created.isoformat()} is implausible (before 1970 or in the future)"
    return None


def sanitise(mention: FetchedMention) -> FetchedMention:
    """Every field bounded and typed as the store expects, so one odd post cannot fail its page's insert:
    text without NUL or lone surrogates, counts as in-range ints (else unknown), links as strings."""
    links = (
        tuple(clean_text(link) for link in mention.links if isinstance(link, str))[:50]
        if isinstance(mention.links, list | tuple)
        else ()
    )
    return replace(
        mention,
        external_id=clean_text(mention.external_id),
        text=clean_text(mention.text),
        url=_optional_text(mention.url),
        author=_optional_text(mention.author),
        language=_optional_text(mention.language),
        title=_optional_text(mention.title),
        parent_external_id=_optional_text(mention.parent_external_id),
        author_followers=bounded_count(mention.author_followers),
        likes=bounded_count(mention.likes),
        reposts=bounded_count(mention.reposts),
        replies=bounded_count(mention.replies),
        quotes=bounded_count(mention.quotes),
        rating=bounded_count(mention.rating),
        links=links,
        raw=mention.raw if isinstance(mention.raw, Mapping) else None,
    )


def _engagement(mention: FetchedMention) -> dict[str, int]:
    """Known counts only: None means the platform did not say, which must not erase a known count."""
    return {name: value for name in ENGAGEMENT_FIELDS if (value := getattr(mention, name)) is not None}


def _row(
    mention: FetchedMention,
    source_id: int,
    brand_id: int,
    pseudonymiser: Pseudonymiser,
    now: datetime,
    stats: IngestStats,
) -> dict[str, Any]:
    text = mention.text
    raw = dict(mention.raw) if mention.raw is not None else None
    if len(text) > MAX_TEXT_CHARS:
        stats.truncated.append(mention.external_id)
        log.warning(
            "mention %s: text of %d characters truncated to %d", mention.external_id, len(text), MAX_TEXT_CHARS
        )
        raw = {**(raw or {}), "_repmon_text_truncated_from": len(text)}
        text = _cut(text, MAX_TEXT_CHARS)
    title = mention.title
    if title is not None and len(title) > MAX_TITLE_CHARS:
        title = _cut(title, MAX_TITLE_CHARS)
    url = mention.url if mention.url is None or len(mention.url) <= MAX_URL_CHARS else None
    created = mention.created_at.astimezone(UTC)
    return {
        "source_id": source_id,
        "brand_id": brand_id,
        "external_id": mention.external_id,
        "url": url,
        "author_key": pseudonymiser.author_key(mention.author),
        "author_handle": mention.author[:300] if mention.author else None,
        "author_followers": mention.author_followers,
        "text": text,
        "title": title,
        "language": (mention.language or None) and mention.language[:8],
        "rating": mention.rating,
        "parent_external_id": (mention.parent_external_id or None)
        and mention.parent_external_id[:MAX_EXTERNAL_ID],
        "links": list(mention.links) or None,
        "created_at": created,
        "fetched_at": now,
        "likes": mention.likes,
        "reposts": mention.reposts,
        "replies": mention.replies,
        "quotes": mention.quotes,
        "engagement_checked_at": now,
        "next_repoll_at": max(created + FIRST_REPOLL_AFTER, now),
        "repoll_count": 0,
        "raw": bounded_raw(raw),
    }


def _insert_ignoring_duplicates(session: Session, rows: list[dict[str, Any]]) -> dict[str, int]:
    """Insert rows, skipping any that another writer stored meanwhile; external_id -> id of those we added."""
    dialect = session.get_bind().dialect.name
    module: Any = postgresql if dialect == "postgresql" else sqlite
    table = Mention.__table__
    # The Core table, not the ORM entity: an ORM bulk insert leaves out None values of columns with a
    # default, so a page mixing posts with and without (say) a language tag was split into runs of
    # same-shaped rows, often one statement per post.
    stmt = (
        module.insert(table)
        .on_conflict_do_nothing(index_elements=["source_id", "external_id"])
        .returning(table.c.external_id, table.c.id)
    )
    result = session.execute(stmt, rows)
    return {external_id: mention_id for external_id, mention_id in result}


def existing_mentions(session: Session, source_id: int, external_ids: Iterable[str]) -> dict[str, Mention]:
    """Stored mentions of one source by external id (chunked to stay under parameter limits)."""
    ids = list(external_ids)
    found: dict[str, Mention] = {}
    for start in range(0, len(ids), _SELECT_CHUNK):
        chunk = ids[start : start + _SELECT_CHUNK]
        stmt = select(Mention).where(Mention.source_id == source_id, Mention.external_id.in_(chunk))
        found.update({m.external_id: m for m in session.scalars(stmt)})
    return found


def update_engagement(
    session: Session, mention: Mention, counts: Mapping[str, int], observed_at: datetime
) -> dict[str, Any] | None:
    """Update a mention's latest counts; the snapshot row to write if any count changed, else None.
    Counts come from a re-poll answer, so one that is not a plain count in range is left as it was."""
    readable = {k: c for k, v in counts.items() if (c := bounded_count(v)) is not None}
    changed = {k: v for k, v in readable.items() if getattr(mention, k) != v}
    mention.engagement_checked_at = observed_at
    if not changed:
        return None
    for name, value in changed.items():
        setattr(mention, name, value)
    return _snapshot_row(mention.id, {k: getattr(mention, k) for k in ENGAGEMENT_FIELDS}, observed_at)


def record_engagement(
    session: Session, mention: Mention, counts: Mapping[str, int], observed_at: datetime
) -> bool:
    """Update a mention's latest counts and write a snapshot if any changed; True if they did."""
    snapshot = update_engagement(session, mention, counts, observed_at)
    if snapshot is not None:
        session.flush()
        insert_snapshots(session, [snapshot])
    return snapshot is not None


def _snapshot_row(mention_id: int, counts: Mapping[str, Any], observed_at: datetime) -> dict[str, Any]:
    return {"mention_id": mention_id, "observed_at": observed_at, **{k: counts.get(k) for k in ENGAGEMENT_FIELDS}}


def insert_snapshots(session: Session, rows: list[dict[str, Any]]) -> None:
    """Insert snapshot rows in one statement; a second observation at the same instant is ignored."""
    if not rows:
        return
    module: Any = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    stmt = module.insert(EngagementSnapshot.__table__).on_conflict_do_nothing(
        index_elements=["mention_id", "observed_at"]
    )
    session.execute(stmt, rows)


def store_page(
    session: Session,
    source_id: int,
    brand_id: int,
    page: Page,
    pseudonymiser: Pseudonymiser,
    *,
    now: datetime | None = None,
) -> IngestStats:
    """Upsert the page's mentions and advance the source cursor, inside the caller's transaction."""
    now = now or datetime.now(UTC)
    stats = IngestStats()
    latest: dict[str, FetchedMention] = {}
    for mention in page.mentions:
        reason = _validate(mention, now)
        if reason:
            shown = clean_text(str(mention.external_id))[:MAX_EXTERNAL_ID]
            stats.rejected.append((shown, reason))
            log.warning("source %s: mention %r rejected: %s", source_id, shown[:80], reason)
            continue
        mention = sanitise(mention)
        latest[mention.external_id] = mention  # the same post twice in one page: the later copy wins

    stored = existing_mentions(session, source_id, latest)
    new_rows = [
        _row(m, source_id, brand_id, pseudonymiser, now, stats) for eid, m in latest.items() if eid not in stored
    ]
    added: dict[str, int] = _insert_ignoring_duplicates(session, new_rows) if new_rows else {}
    snapshots: list[dict[str, Any]] = []
    for row in new_rows:
        if row["external_id"] not in added:
            continue
        mention_id = added[row["external_id"]]
        stats.inserted += 1
        stats.new_mention_ids.append(mention_id)
        counts = {k: row[k] for k in ENGAGEMENT_FIELDS if row[k] is not None}
        if counts:
            snapshots.append(_snapshot_row(mention_id, counts, now))
    raced = [r["external_id"] for r in new_rows if r["external_id"] not in added]
    if raced:  # another writer inserted these between our select and insert: update them instead
        stored.update(existing_mentions(session, source_id, raced))

    for external_id, mention_row in stored.items():
        snapshot = update_engagement(session, mention_row, _engagement(latest[external_id]), now)
        if snapshot is not None:
            stats.updated += 1
            snapshots.append(snapshot)
        else:
            stats.unchanged += 1
    session.flush()  # counts first, so the snapshot insert below cannot be reordered before them
    insert_snapshots(session, snapshots)
    stats.snapshots = len(snapshots)

    if page.cursor is not None:
        session.execute(update(Source).where(Source.id == source_id).values(cursor=dict(page.cursor)))
        stats.cursor_advanced = True
    session.flush()
    return stats
