"""Cost of story grouping per batch: milliseconds and SQL statements for a batch of 32 new mentions,
against a brand with N recent posts already grouped (each a distinct complaint: the worst case, one
story per post).

    .venv/bin/python bench/stories.py [--recent 500,2000] [--repeats 5] [--database sqlite|URL]

Synthetic texts (Zipf-distributed words from a vocabulary of ~780) and random 384-d vectors (thresholds
are set in the config, so the vector path runs). Prints the median of the repeats and the spread;
compare revisions by running it on each.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from sqlalchemy import create_engine, event
from sqlalchemy.orm import Session

from alerts.config import StoriesConfig
from alerts.stories import assign_stories
from monitor.kernel.store.tables import Base, Brand, Mention, Score, Source

T0 = datetime(2026, 11, 2, 6, 0, tzinfo=UTC)
_SYLLABLES = ("fak", "tu", "ra", "pa", "ket", "le", "ve", "rans", "app", "kra", "schar", "kund", "vän", "tat")
WORDS = tuple(dict.fromkeys(a + b + c for a in _SYLLABLES for b in _SYLLABLES for c in ("", "en", "na", "ar")))
ZIPF = [1 / (rank + 1) for rank in range(len(WORDS))]  # word frequencies of real text: a few common, many rare
CONFIG = StoriesConfig(similarity=0.97, topic_similarity=0.5, topic_overlap=0.15)


def _text(rng: random.Random, n: int) -> str:
    body = " ".join(rng.choices(WORDS, weights=ZIPF, k=14))
    return f"@acme ärende {n}: {body} order {rng.randrange(10**6)}"


def _add(session: Session, brand: int, source: int, start: int, count: int, rng: random.Random) -> list[int]:
    mentions = [
        Mention(
            source_id=source,
            brand_id=brand,
            external_id=f"m{start + i}",
            url=f"https://social.example/@u{start + i}/{start + i}",
            author_key=f"{start + i:064x}",
            text=_text(rng, start + i),
            created_at=T0 + timedelta(seconds=start + i),
        )
        for i in range(count)
    ]
    session.add_all(mentions)
    session.flush()
    for m in mentions:
        vec = np.asarray([rng.gauss(0, 1) for _ in range(384)], dtype=np.float32)
        vec /= np.linalg.norm(vec)
        session.add(
            Score(
                mention_id=m.id,
                model_version="bench",
                label="negative",
                p_negative=0.9,
                p_neutral=0.05,
                p_positive=0.05,
                language="sv",
                embedding=vec.astype("<f2").tobytes(),
                scored_at=m.created_at,
            )
        )
    session.flush()
    return [m.id for m in mentions]


def measure(url: str, recent: int, repeats: int) -> tuple[list[float], list[int]]:
    engine = create_engine(url)
    Base.metadata.drop_all(engine)
    Base.metadata.create_all(engine)
    rng = random.Random(0)
    statements: list[int] = []
    event.listen(engine, "before_cursor_execute", lambda *a: statements.append(1))
    with Session(engine) as s, s.begin():
        brand = Brand(name="Acme")
        s.add(brand)
        s.flush()
        source = Source(brand_id=brand.id, name="bench", connector="file")
        s.add(source)
        s.flush()
        brand_id, source_id = brand.id, source.id
    for start in range(0, recent, 256):  # grouped in pipeline-sized batches
        with Session(engine) as s, s.begin():
            ids = _add(s, brand_id, source_id, start, min(256, recent - start), rng)
            assign_stories(s, ids, T0 + timedelta(seconds=start + 256), CONFIG)
    times, counts = [], []
    for r in range(repeats):
        with Session(engine) as s, s.begin():
            ids = _add(s, brand_id, source_id, recent + 32 * r, 32, rng)
            statements.clear()
            started = time.perf_counter()
            assign_stories(s, ids, T0 + timedelta(seconds=recent + 32 * (r + 1)), CONFIG)
            times.append(1000 * (time.perf_counter() - started))
            counts.append(len(statements))
    engine.dispose()
    return times, counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recent", default="500,2000")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--database", default="sqlite")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}" if args.database == "sqlite" else args.database
        for recent in (int(x) for x in args.recent.split(",")):
            times, counts = measure(url, recent, args.repeats)
            print(
                f"recent posts {recent:6d}: batch of 32 in {statistics.median(times):7.1f} ms median "
                f"(min {min(times):.1f}, max {max(times):.1f}), statements per batch {sorted(set(counts))}"
            )


if __name__ == "__main__":
    main()
