"""Connector throughput over real HTTP on loopback: each platform's fake server and recorded payloads.

Measures the whole client path a poll takes (SSRF check, httpx, streamed size-capped read, JSON/XML
decode, normalisation, cursor copies) for every built-in HTTP connector, page_size 2 so that paging
dominates. Prints medians over repeated full walks: ms per page and mentions per second.
The fake server runs in the same process (one GIL) and re-reads its fixture files per request, so
the figures are an upper bound on client overhead, not platform latency.

    .venv/bin/python bench/connectors.py [--repeat 30]
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(HERE / "tests" / "connectors"))
sys.path.insert(0, str(HERE))

PLATFORMS = ["mastodon", "bluesky", "hackernews", "rss", "appstore", "reddit", "youtube", "x", "trustpilot"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    from fake_server import FakeServer

    print(f"{'connector':12s} {'pages':>5s} {'mentions':>8s} {'ms/page (median)':>17s} {'mentions/s':>11s}")
    for name in PLATFORMS:
        module = importlib.import_module(f"platform_{name}")
        case = module.case()
        with FakeServer(case["platform"]()) as server:
            settings_value = case["settings"]
            settings = settings_value(server.url) if callable(settings_value) else dict(settings_value)
            settings = {
                "base_url": server.url,
                "allow_private_network": True,
                "initial_lookback_hours": 48,
                **settings,
            }
            if name != "x":
                settings["page_size"] = min(int(settings.get("page_size", 2)), 2) if name != "appstore" else 50
            durations, pages, mentions = [], 0, 0
            for _ in range(args.repeat):
                connector = case["connector"](settings, clock=lambda case=case: case["now"])
                started = time.perf_counter()
                result = list(connector.fetch(case["query"], None))
                durations.append(time.perf_counter() - started)
                connector.close()
                pages, mentions = len(result), sum(len(p.mentions) for p in result)
        median = statistics.median(durations)
        print(f"{name:12s} {pages:5d} {mentions:8d} {1000 * median / pages:17.2f} {mentions / median:11.0f}")


if __name__ == "__main__":
    main()
