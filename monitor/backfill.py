"""Backfill: fetch one brand's mentions from one source for a past period, resumably.

The connector keeps the backfill walk in its own part of the source cursor (`streams.*.backfill`),
next to, never over, the live high-water mark. Each page is stored together with that cursor in one
transaction, so Ctrl-C (or a crash) loses at most the page in flight, and rerunning the same command
continues from the last stored page. Stored mentions are unique per (source, external id), so pages
fetched twice are harmless. The closing `Coverage` says what the source's limits left out.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from monitor.kernel.store.engine import Database
from monitor.kernel.store.pseudonym import Pseudonymiser
from monitor.kernel.store.tables import Source
from monitor.kernel.types import BrandQuery, Page, SourceError
from monitor.sync import SourceRuntime, SyncResult, fetch_and_store

Progress = Callable[[Page, int], None]  # (page, stored so far)
MAX_NOTES = 8  # a long Algolia backfill slides its window hundreds of times: show the first few


@dataclass
class Coverage:
    """What one backfill run did and what it could not reach."""

    brand: str
    source: str
    connector: str
    since: datetime
    until: datetime | None
    pages: int = 0
    fetched: int = 0
    matched: int = 0
    inserted: int = 0
    complete: bool = False
    interrupted: bool = False
    error: str | None = None
    resumable: bool = True
    notes: list[str] = field(default_factory=list)
    limits: tuple[str, ...] = ()
    unreachable: str | None = None

    def lines(self) -> list[str]:
        until = self.until.isoformat() if self.until else "start of the first run"
        out = [
            f"{self.brand} / {self.source} ({self.connector}), {self.since.isoformat()} -> {until}",
            f"  pages {self.pages}, fetched {self.fetched}, matched the brand {self.matched}, "
            f"newly stored {self.inserted}",
        ]
        if self.complete:
            out.append("  status: complete")
        elif self.error:
            out.append(f"  status: stopped by an error: {self.error} (rerun the same command to continue)")
        elif self.interrupted:
            out.append("  status: interrupted; rerun the same command to continue where it stopped")
        else:
            out.append("  status: paused at backfill_max_pages; rerun the same command to continue")
        if not self.resumable:
            out.append("  note: this connector keeps no backfill cursor; a rerun starts over (no duplicates)")
        if self.unreachable:
            out.append(f"  not reachable: {self.unreachable}")
        out += [f"  limit: {limit}" for limit in self.limits]
        notes = list(dict.fromkeys(self.notes))
        out += [f"  left out: {note}" for note in notes[:MAX_NOTES]]
        if len(notes) > MAX_NOTES:
            out.append(f"  … and {len(notes) - MAX_NOTES} more notes of the same kinds")
        return out


def merge_backfill_cursor(live: Mapping[str, Any] | None, page: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The stored cursor with only the backfill parts replaced: a live sync's progress is kept."""
    if page is None or "streams" not in page:
        return dict(live) if live is not None else None
    merged = copy.deepcopy(dict(live or {}))
    streams = merged.setdefault("streams", {})
    for name, state in page["streams"].items():
        if "backfill" in state:
            streams.setdefault(name, {})["backfill"] = copy.deepcopy(state["backfill"])
    return merged


def backfill(
    db: Database,
    runtime: SourceRuntime,
    pseudonymiser: Pseudonymiser,
    since: datetime,
    until: datetime | None,
    now: datetime,
    *,
    progress: Progress | None = None,
) -> Coverage:
    """Run (or continue) a backfill of one source; KeyboardInterrupt is turned into `interrupted`."""
    connector = runtime.connector
    coverage = Coverage(
        brand=runtime.ref.brand,
        source=runtime.ref.source,
        connector=runtime.ref.connector,
        since=since,
        until=until,
        limits=tuple(getattr(connector, "limits", ())),
    )
    horizon: timedelta | None = getattr(connector, "max_lookback", None)
    if horizon is not None and since < now - horizon:
        coverage.unreachable = (
            f"the source only searches the last {horizon.days or horizon} days: "
            f"{since.isoformat()} to {(now - horizon).isoformat()} cannot be fetched"
        )
    query = BrandQuery(
        brand=runtime.query.brand,
        terms=runtime.query.terms,
        query=runtime.query.query,
        languages=runtime.query.languages,
        since=since,
        until=until,
    )
    with db.transaction() as session:
        row = session.get(Source, runtime.ref.source_id)
        if row is None:
            raise LookupError(f"source id {runtime.ref.source_id} does not exist")
        cursor = copy.deepcopy(row.cursor) if row.cursor is not None else None
    result = SyncResult(source_id=runtime.ref.source_id)

    def merge(session: Session, page_cursor: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
        row = session.get(Source, runtime.ref.source_id)
        assert row is not None
        coverage.resumable = coverage.resumable and page_cursor is not None and "streams" in page_cursor
        return merge_backfill_cursor(row.cursor, page_cursor)

    def counted(page: Page) -> None:
        coverage.pages, coverage.fetched, coverage.matched = result.pages, result.fetched, result.matched
        coverage.inserted = result.stored.inserted
        coverage.notes += page.notes
        if progress is not None:
            progress(page, coverage.inserted)

    try:  # the sync stage's own loop, in backfill mode
        fetch_and_store(
            db, runtime, query, cursor, pseudonymiser, now, result, merge_cursor=merge, after_page=counted
        )
        coverage.complete = _backfill_done(db, runtime.ref.source_id)
    except KeyboardInterrupt:
        coverage.interrupted = True
    except SourceError as exc:
        coverage.error = f"{exc.kind}: {exc}"
    return coverage


def _backfill_done(db: Database, source_id: int) -> bool:
    """Every stream's backfill walk finished (a walk can also pause at `backfill_max_pages`)."""
    with db.transaction() as session:
        row = session.get(Source, source_id)
        streams = ((row.cursor if row else None) or {}).get("streams")
    if not isinstance(streams, dict):
        return True  # connectors without stream cursors finish when their fetch ends
    jobs = [state.get("backfill") for state in streams.values() if isinstance(state, dict)]
    return all(job and job.get("done") for job in jobs) if jobs else True
