"""Throughput of the detectors: series points/s (streaming count detector) and cascades/s (virality).

    .venv/bin/python bench/detect.py [--repeats 5] [--shared ../shared/data]

Uses the realTweets series and auspol cascades when the shared data is present, else synthetic data of
the same shape (so the script runs anywhere). Prints the median of the repeats and the spread.
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from monitor.detect.cascades import Cascade, read_cascades
from monitor.detect.series import score_series
from monitor.detect.virality import predict


def _synthetic_series(n: int) -> tuple[list[str], list[float]]:
    rng = random.Random(0)
    t0 = datetime(2015, 3, 1)
    ts = [(t0 + timedelta(minutes=5 * i)).strftime("%Y-%m-%d %H:%M:%S") for i in range(n)]
    vals = [float(max(0, round(rng.gauss(30 + 15 * math.sin(i / 45.8), 8)))) for i in range(n)]
    return ts, vals


def _synthetic_cascades(n: int) -> list[Cascade]:
    rng = random.Random(0)
    out = []
    for i in range(n):
        k = int(rng.paretovariate(1.2))
        times = sorted([0.0] + [rng.expovariate(1 / 3600) for _ in range(k - 1)])
        out.append(Cascade(str(i), tuple(times), tuple(float(int(rng.lognormvariate(5, 2))) for _ in times)))
    return out


def _median_rate(fn: Callable[[], int], repeats: int) -> tuple[float, float, float]:
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        items = fn()
        rates.append(items / (time.perf_counter() - start))
    return statistics.median(rates), min(rates), max(rates)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    args = ap.parse_args()

    series_dir = args.shared / "nab" / "realTweets"
    if series_dir.is_dir():
        from monitor.detect.nab import read_series_csv

        series = [read_series_csv(p) for p in sorted(series_dir.glob("*.csv"))]
        source = f"{len(series)} realTweets series"
    else:
        series = [_synthetic_series(15_900) for _ in range(2)]
        source = "2 synthetic series"
    points = sum(len(v) for _, v in series)

    def run_series() -> int:
        for ts, vals in series:
            score_series(ts, vals)
        return points

    cascade_file = args.shared / "cascades" / "auspol_train.csv"
    cascades = read_cascades(cascade_file) if cascade_file.is_file() else _synthetic_cascades(1667)

    def run_cascades() -> int:
        for c in cascades:
            predict(c.times, c.followers, 600.0, 20)
        return len(cascades)

    med, lo, hi = _median_rate(run_series, args.repeats)
    print(f"series:   {med:12,.0f} points/s   (median of {args.repeats}; min {lo:,.0f}, max {hi:,.0f}; {source})")
    med, lo, hi = _median_rate(run_cascades, args.repeats)
    print(
        f"cascades: {med:12,.0f} cascades/s (median of {args.repeats}; min {lo:,.0f}, max {hi:,.0f}; "
        f"{len(cascades)} cascades, horizon 600 s)"
    )


if __name__ == "__main__":
    main()
