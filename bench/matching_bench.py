"""Brand-matching throughput on a realistic stream (the simulated source), printed as medians.

Every fetched mention goes through the matcher, so its cost is per mention. Run:

    nice -n 10 .venv/bin/python bench/matching_bench.py [--posts 5000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import UTC, datetime, timedelta

from connectors.simulated import SimulatedConnector
from monitor.kernel.types import BrandQuery
from monitor.matching import compile_brand, compile_query

QUERIES = {
    "name only": lambda: compile_brand("Telia"),
    "name+aliases+exclude+langs": lambda: compile_brand(
        "Telia", ["Telia Company", "@telia_sverige"], exclude=["Telia Stadium"], languages=["sv", "da", "no", "en"]
    ),
    "NEAR + phrase + source": lambda: compile_query(
        '("telia kundtjänst" OR telia NEAR/3 (faktura OR kö OR support)) -jobb source:simulated'
    ),
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--posts", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    start = datetime(2026, 3, 2, tzinfo=UTC)
    hours = args.posts / 60.0
    conn = SimulatedConnector(
        {"start": start, "rate_per_hour": 60, "storm_at": None},
        clock=lambda: start + timedelta(hours=hours),
    )
    posts = [m for page in conn.fetch(BrandQuery("Telia", ("Telia",)), None) for m in page.mentions]
    print(f"{len(posts)} simulated posts, {args.repeats} repeats, untagged language (identifier runs for lang:)")
    for name, make in QUERIES.items():
        matcher = make()
        times = []
        for _ in range(args.repeats):
            began = time.perf_counter()
            hits = sum(matcher.matches(p.text, None, "simulated") for p in posts)
            times.append((time.perf_counter() - began) / len(posts))
        median = statistics.median(times)
        print(f"{name:28} median {median * 1e6:7.1f} µs/post  ({1 / median:8.0f} posts/s)  matched {hits}")


if __name__ == "__main__":
    main()
