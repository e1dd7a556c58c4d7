"""Throughput of the storage path: store_page (new mentions, then the same pages again) and scoring.

    .venv/bin/python bench/ingest.py [--mentions 5000] [--page 200] [--repeats 3] [--postgres URL]

Each repeat uses a fresh database (a SQLite file in a temp dir; on PostgreSQL a fresh schema in the
given database). Prints mentions/s as the median of the repeats, and the ratio re-ingest/insert: the
idempotent path must not be much slower than the insert path, since every poll re-reads overlap.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, text

from models.config import ModelConfig
from monitor.kernel.store import migrate
from monitor.kernel.store.catalog import ensure_source
from monitor.kernel.store.engine import Database
from monitor.kernel.store.ingest import store_page
from monitor.kernel.store.pseudonym import Pseudonymiser
from monitor.kernel.types import FetchedMention, Page
from monitor.pipeline import score_pending
from monitor.wiring import load_scorer

T0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
TEXTS = [
    "Telia kundtjänst svarar inte, 45 minuter i kö 😡",
    "Tak til Telia for hurtig hjælp i dag!",
    "Telia har nytt abonnement, noen som har prøvd?",
    "@Telia_Sverige mobilnätet ligger nere i hela Göteborg",
]


def pages(n: int, size: int, likes: int) -> list[Page]:
    mentions = [
        FetchedMention(
            external_id=f"b{i}",
            text=f"{TEXTS[i % len(TEXTS)]} #{i}",
            created_at=T0 + timedelta(seconds=i),
            url=f"https://bench.invalid/{i}",
            author=f"user{i % 997}",
            likes=likes + i % 7,
            reposts=i % 3,
            raw={"id": f"b{i}", "n": i},
        )
        for i in range(n)
    ]
    return [Page(mentions[i : i + size], cursor={"after": i + size}) for i in range(0, n, size)]


def one_run(url: str, n: int, size: int) -> tuple[float, float, float]:
    migrate.upgrade(url)
    db = Database(url)
    pseudo = Pseudonymiser("bench-key-0123456789abcdef")
    with db.transaction() as s:
        ref = ensure_source(s, "Telia", "bench", "file")
    timings = []
    for likes in (0, 1):  # first: all new; second: the same posts with grown engagement
        started = time.perf_counter()
        for page in pages(n, size, likes):
            with db.transaction() as s:
                store_page(s, ref.source_id, ref.brand_id, page, pseudo)
        timings.append(n / (time.perf_counter() - started))
    scorer = load_scorer(ModelConfig(scorer="lexicon", batch_size=128))
    started = time.perf_counter()
    stats = score_pending(db, scorer, lambda: datetime.now(UTC), batch_size=128)
    timings.append(stats.scored / (time.perf_counter() - started))
    db.dispose()
    return timings[0], timings[1], timings[2]


def fresh_pg(url: str) -> str:
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    return url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mentions", type=int, default=5000)
    parser.add_argument("--page", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--postgres", help="a scratch PostgreSQL database URL (its public schema is dropped!)")
    args = parser.parse_args()
    backends = {"sqlite": None}
    if args.postgres:
        backends["postgres"] = args.postgres
    for name, pg_url in backends.items():
        runs = []
        for _ in range(args.repeats):
            with tempfile.TemporaryDirectory() as tmp:
                url = fresh_pg(pg_url) if pg_url else f"sqlite:///{Path(tmp) / 'bench.db'}"
                runs.append(one_run(url, args.mentions, args.page))
        insert, reingest, score = (statistics.median(col) for col in zip(*runs, strict=True))
        print(
            f"{name:8} n={args.mentions} page={args.page}: insert {insert:8.0f} mentions/s, "
            f"re-ingest {reingest:8.0f} mentions/s (ratio {reingest / insert:.2f}), "
            f"score+write (lexicon) {score:8.0f} mentions/s  [median of {args.repeats}]"
        )


if __name__ == "__main__":
    main()
