"""Time to build and render the weekly report, and to apply retention, for N mentions of one brand.

    .venv/bin/python bench/report_render.py [--mentions 20000] [--repeats 3] [--postgres URL]

Seeds one brand with N scored mentions spread over a week (three sources, four languages, stories of
ten, an alert per story with an outbox message quoting it) into a fresh SQLite file (or a fresh schema
on PostgreSQL), then prints the medians over the repeats: build_report (queries and counting), render
(matplotlib SVG + HTML), page size, and purge (retention over every mention: text, copies, outbox).
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, insert, select
from sqlalchemy.orm import Session

from monitor.kernel.store.tables import (
    Alert,
    AlertMention,
    Base,
    Brand,
    Mention,
    OutboxMessage,
    Score,
    Source,
    Story,
)
from monitor.privacy import purge
from monitor.report import build_report, render

SINCE = datetime(2026, 6, 1, tzinfo=UTC)
LABELS = ("negative", "neutral", "positive")
LANGS = ("sv", "da", "no", "en")


def seed(url: str, n: int, rng: random.Random) -> None:
    engine = create_engine(url)
    Base.metadata.drop_all(engine)
    Base.metadata.create_all(engine)
    with Session(engine) as s, s.begin():
        brand = Brand(name="telia")
        s.add(brand)
        s.flush()
        sources = [Source(brand_id=brand.id, name=f"src-{i}", connector="simulated") for i in range(3)]
        s.add_all(sources)
        s.flush()
        stories = [Story(key=f"s{i}", brand_id=brand.id, headline=f"story {i}") for i in range(n // 10)]
        s.add_all(stories)
        s.flush()
        rows = [
            {
                "source_id": sources[i % 3].id,
                "brand_id": brand.id,
                "external_id": str(i),
                "text": f"Post number {i} about Telia kundtjänst, väntat {i % 90} minuter i kön idag",
                "url": f"https://example.social/@user{i % 500}/{i}",
                "author_handle": f"user{i % 500}",
                "author_key": f"{i % 500:064x}",
                "created_at": SINCE + timedelta(seconds=rng.randrange(7 * 86400)),
                "story_id": stories[i // 10].id if i // 10 < len(stories) else None,
            }
            for i in range(n)
        ]
        s.execute(insert(Mention), rows)
        ids = list(s.scalars(select(Mention.id)))
        s.execute(
            insert(Score),
            [
                {
                    "mention_id": mid,
                    "model_version": "v1",
                    "label": rng.choice(LABELS),
                    "p_negative": 0.3,
                    "p_neutral": 0.3,
                    "p_positive": 0.4,
                    "language": rng.choice(LANGS),
                    "aspects": {"availability_wait": rng.random()},
                }
                for mid in ids
            ],
        )
        for story in stories[: max(1, len(stories) // 20)]:
            alert = Alert(
                key=f"a{story.id}",
                kind="complaint",
                brand_id=brand.id,
                story_id=story.id,
                severity="medium",
                headline=f"Complaint: post number {story.id * 10 - 10} about Telia",
                detected_at=SINCE + timedelta(days=3),
            )
            s.add(alert)
            s.flush()
            first = s.scalar(select(Mention).where(Mention.story_id == story.id).limit(1))
            if first is not None:
                s.add(AlertMention(alert_id=alert.id, mention_id=first.id))
                s.add(
                    OutboxMessage(
                        alert_id=alert.id,
                        sink="slack",
                        action="post",
                        payload={"text": first.text},
                        idempotency_key=f"k{alert.id}",
                    )
                )
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mentions", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--postgres", help="PostgreSQL URL (its schema is dropped and recreated)")
    args = parser.parse_args()
    build, draw, purge_s, size = [], [], [], 0
    for repeat in range(args.repeats):
        with tempfile.TemporaryDirectory() as tmp:
            url = args.postgres or f"sqlite:///{Path(tmp) / 'bench.db'}"
            seed(url, args.mentions, random.Random(repeat))
            engine = create_engine(url)
            with Session(engine) as session:
                t0 = time.perf_counter()
                data = build_report(session, "telia", SINCE, SINCE + timedelta(days=7))
                t1 = time.perf_counter()
                page = render(data, SINCE + timedelta(days=7))
                t2 = time.perf_counter()
            with Session(engine) as session, session.begin():
                t3 = time.perf_counter()
                stats = purge(session, SINCE + timedelta(days=100), 30)
                t4 = time.perf_counter()
            assert data.total == args.mentions and stats.mentions == args.mentions
            build.append(t1 - t0)
            draw.append(t2 - t1)
            purge_s.append(t4 - t3)
            size = len(page.encode())
            engine.dispose()
    backend = "postgresql" if args.postgres else "sqlite"
    n = args.mentions
    print(f"backend={backend} mentions={n} repeats={args.repeats}")
    print(
        f"build_report  median {statistics.median(build):.3f} s  ({n / statistics.median(build):,.0f} mentions/s)"
    )
    print(f"render        median {statistics.median(draw):.3f} s  page {size / 1024:.0f} KiB")
    rate = n / statistics.median(purge_s)
    print(f"purge         median {statistics.median(purge_s):.3f} s  ({rate:,.0f} mentions/s)")


if __name__ == "__main__":
    main()
