"""Negative-share storm benchmark: seeded storms on real NAB traffic, judged by the real `detect()`.

    nice -n 10 .venv/bin/python bench/storms.py --scale 5 --scale 50000 [--brands 6] [--skip 0] [--days 8]
        [--seed 1 [--seed 2 ...]] [--nab-dir ../shared/data/nab] [--baseline] [--fast] [--check]
        [--set negative_share_key=json_value ...]

`--fast` runs the same share logic (`ShareWatch`, which `detect()` calls) on the same calendar without the
database: ~100x faster (seconds instead of ~25 minutes for 3 brands x 8 days x 2 scales on the shared
machine). `--check` runs both on the chosen brands and fails unless they raise identical candidates (time,
key, severity). `--skip N` starts at the N-th series: parameters were chosen on series 0-2 (AAPL, AMZN, CRM)
with seeds 1-2; report figures on `--skip 3` (CVS, FB, GOOG) with other seeds.

No public labelled set exists for "the share of complaints surging", so this builds one honestly:

* **traffic** = a real realTweets volume series (one per brand), rescaled to `--scale` posts a day
  (posts per 5-min bin ~ Poisson(rescaled count));
* **negatives**: each brand's usual share is drawn from U(0.08, 0.30); each bin's share wobbles around it
  (Beta with concentration 60), each post is negative with that bin's share;
* **storms** at random times (seeded, >= 18 h apart, after the first day): extra negatives at `rate` x the
  usual negative rate (3, 5 or 10) for 30, 60 or 120 minutes, arriving at once or ramping up linearly;
  never fewer than 10 storm posts (a tiny brand's storm is still ten angry customers);
* **authors**: ordinary posts come from a pool of regulars (about two posts each over the run); one
  ordinary negative post in `REPEAT_SHARE` (1 in 5) is followed 1-30 minutes later by a repeat from its
  author, and one storm post in 5 is a repeat by one of that storm's earlier customers (stored as
  `Mention.author_key`; with `negative_share.authors_once` a repeat counts once, as in `detect()`);
* posts are stored with a perfect, instant scorer (this measures the detector, not the model);
* `detect()` runs on a real SQLite database as the daemon would: every minute from 5 minutes before a
  storm to 30 minutes after its end, every 5 minutes elsewhere. The brand is new at t = 0, so day 1 is
  its warm-up (false alarms there are reported separately).

Reported per scale and detector: storms caught (alert between the storm's start and its end + 60 min),
delay from the storm's start to the `detect()` call that created the alert (median, p90, for all storms
and for the 3x/30-min ones the issue names), false alarms per brand-week after day 1, and on day 1. One
alert = one key: later candidates with the same key are escalations (counted, with the reference storms'
final severity). `ref_floor_*`: when the `min_negative`-th negative after the storm's start arrived, about the
earliest a detector with that floor can page (a calm negative just before the start may also count; at
5 posts a day this, not the detector, bounds delay).
`--baseline` adds the same run with `negative_share.early = false` (settled bins only, the old behaviour).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, insert
from sqlalchemy.orm import Session

from monitor.detect import nab
from monitor.detect.authors import repeat_negatives
from monitor.detect.config import DetectConfig
from monitor.detect.share_watch import ShareWatch
from monitor.detect.stage import _spike_params, detect
from monitor.kernel.store.tables import Base, Brand, Mention, Score, Source

T0 = datetime(2026, 3, 2, tzinfo=UTC)
REPEAT_SHARE = 0.2  # of negative posts, the share followed by (or being) a repeat by the same author
BIN = timedelta(minutes=5)
MINUTE = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class Storm:
    start: datetime
    minutes: int
    rate: float  # negatives at this multiple of the usual negative rate
    ramp: bool
    posts: int

    @property
    def end(self) -> datetime:
        return self.start + self.minutes * MINUTE


def _poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    if lam > 60:
        return max(round(rng.gauss(lam, lam**0.5)), 0)
    # Knuth, fine for small means
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def build_brand(series: nab.Series, scale: float, days: int, rng: random.Random):
    """Posts (created_at, negative) and storms for one brand."""
    n_bins = days * 288
    values = series.values[:n_bins]
    if len(values) < n_bins:
        raise SystemExit(f"{series.name}: only {len(values)} rows, need {n_bins}")
    per_bin = [v * scale / (sum(values) / days) for v in values]
    base_share = rng.uniform(0.08, 0.30)
    posts: list[tuple[datetime, bool, str]] = []
    people = max(round(scale * days / 2), 2)  # regulars: each writes about two posts over the run
    for b, lam in enumerate(per_bin):
        share = rng.betavariate(base_share * 60, (1 - base_share) * 60)
        for _ in range(_poisson(rng, lam)):
            at, negative = T0 + b * BIN + timedelta(seconds=rng.uniform(0, 300)), rng.random() < share
            author = f"u{rng.randrange(people)}"
            posts.append((at, negative, author))
            if negative and rng.random() < REPEAT_SHARE:  # an unhappy customer posts again within minutes
                posts.append((at + timedelta(minutes=rng.uniform(1, 30)), True, author))
    storms: list[Storm] = []
    t = T0 + timedelta(days=1, hours=rng.uniform(2, 12))
    end = T0 + timedelta(days=days) - timedelta(hours=4)
    while t < end:
        minutes = rng.choice([30, 60, 120])
        rate = rng.choice([3.0, 5.0, 10.0])
        if len(storms) % 3 == 0:  # one storm in three is the reference storm: 3x for 30 minutes
            minutes, rate = 30, 3.0
        b0 = int((t - T0) / BIN)
        usual = sum(per_bin[b0 : b0 + minutes // 5]) * base_share  # expected negatives in the window
        extra = max(round((rate - 1) * usual), 10)
        storm = Storm(t, minutes, rate, rng.random() < 0.5, extra)
        angry: list[str] = []
        for n in range(extra):
            u = rng.random()
            frac = u**0.5 if storm.ramp else u  # ramp: density rising linearly over the storm
            if angry and rng.random() < REPEAT_SHARE:
                author = rng.choice(angry)  # one of this storm's customers, again
            else:
                author = f"s{len(storms)}.{n}"
                angry.append(author)
            posts.append((t + frac * minutes * MINUTE, True, author))
        storms.append(storm)
        t += timedelta(hours=rng.uniform(18, 36))
    posts.sort()
    return posts, storms, base_share


def _calls(storms: list[Storm], days: int) -> list[datetime]:
    """The daemon's cadence: every minute from 5 min before a storm to 30 min after it, else every 5 min."""
    dense = [(st.start - 5 * MINUTE, st.end + 30 * MINUTE) for st in storms]
    now, stop, out = T0 + 5 * MINUTE, T0 + timedelta(days=days), []
    while now <= stop:
        out.append(now)
        now += MINUTE if any(a <= now < b for a, b in dense) else 5 * MINUTE
    return out


SHARE_OVERRIDES: dict[str, object] = {}  # `--set key=value`: negative_share settings to try (development)


def _config(early: bool) -> DetectConfig:
    return DetectConfig.model_validate(
        {
            "virality": {"enabled": False},
            "complaint": {"enabled": False},
            "volume": {"enabled": False},
            "negative_share": {"early": early, **SHARE_OVERRIDES},
        }
    )


def alerts_via_detect(posts: list[tuple[datetime, bool, str]], calls: list[datetime], early: bool) -> list[tuple]:
    """(call time, key, severity) of every `negative_spike` candidate the real `detect()` returns (SQLite)."""
    with tempfile.TemporaryDirectory() as tmp:
        engine = create_engine(f"sqlite:///{Path(tmp) / 'bench.db'}")
        Base.metadata.create_all(engine)
        with Session(engine) as s:
            brand = Brand(name="Bench")
            s.add(brand)
            s.flush()
            source = Source(brand_id=brand.id, name="bench", connector="file")
            s.add(source)
            s.flush()
            brand_id, source_id = brand.id, source.id
            s.execute(
                insert(Mention),
                [
                    {
                        "id": i + 1,
                        "source_id": source_id,
                        "brand_id": brand_id,
                        "external_id": str(i),
                        "text": "x",
                        "created_at": at,
                        "scored_at": at,
                        "author_key": author,
                    }
                    for i, (at, _, author) in enumerate(posts)
                ],
            )
            s.execute(
                insert(Score),
                [
                    {
                        "mention_id": i + 1,
                        "model_version": "bench",
                        "label": "negative" if neg else "positive",
                        "p_negative": 0.9 if neg else 0.05,
                        "p_neutral": 0.05,
                        "p_positive": 0.05 if neg else 0.9,
                        "language": "en",
                        "scored_at": at,
                    }
                    for i, (at, neg, _) in enumerate(posts)
                ],
            )
            s.commit()
        config = _config(early)
        alerts: list[tuple] = []
        for now in calls:
            with Session(engine) as s:
                found = detect(s, config, now)
                s.commit()
            alerts += [(now, c.key, c.severity) for c in found if c.kind == "negative_spike"]
        engine.dispose()
    return [(now, key.split(":", 2)[2], sev) for now, key, sev in alerts]


def alerts_fast(posts: list[tuple[datetime, bool, str]], calls: list[datetime], early: bool) -> list[tuple]:
    """The same as `alerts_via_detect` without the database: `ShareWatch` (the stage's share logic) fed the
    counts `detect()` would read, on the same calendar (settled bins 10 min after they end, the open bins
    on the posts created so far). `--check` compares the two on a short run."""
    config = _config(early)
    _, params = _spike_params(config)
    width = timedelta(minutes=config.bin_minutes)
    watch = ShareWatch.from_state(None, params, params.cooldown * width)
    times = [at for at, _, _ in posts]
    n_bins = int((calls[-1] - T0) / BIN) + 2
    repeats = (
        repeat_negatives((i + 1, at, author, neg) for i, (at, neg, author) in enumerate(posts))
        if config.negative_share.authors_once
        else set()
    )
    per_bin: list[list[tuple[datetime, bool]]] = [[] for _ in range(n_bins)]
    for i, (at, neg, _) in enumerate(posts):
        b = int((at - T0) / BIN)
        if 0 <= b < n_bins and i + 1 not in repeats:  # a repeat complaint counts neither way (as detect())
            per_bin[b].append((at, neg))
    if not times:
        return []
    next_bin = int((times[0] - T0) / BIN)  # the stage starts at the first stored mention's bin
    alerts: list[tuple] = []
    for now in calls:
        settled_end = int((now - timedelta(minutes=config.settle_minutes) - T0) / BIN)
        while next_bin < settled_end:
            bin_posts = per_bin[next_bin]
            d = watch.settled(T0 + next_bin * BIN, sum(n for _, n in bin_posts), len(bin_posts))
            if d is not None:
                alerts.append((now, d.key_bin.isoformat(), d.severity))
            next_bin += 1
        if early:
            last = int((now - T0) / BIN)
            bins = []
            for i in range(next_bin, last + 1):
                seen = [n for at, n in per_bin[i] if at <= now]
                bins.append((T0 + i * BIN, sum(seen), len(seen)))
            if any(tot for _, _, tot in bins):
                d = watch.early(bins)
                if d is not None:
                    alerts.append((now, d.key_bin.isoformat(), d.severity))
    return alerts


def run_brand(
    series: nab.Series, scale: float, days: int, seed: int, early: bool, fast: bool
) -> dict[str, object]:
    rng = random.Random(f"{seed}:{series.name}:{scale}")
    posts, storms, base_share = build_brand(series, scale, days, rng)
    calls = _calls(storms, days)
    alerts = (alerts_fast if fast else alerts_via_detect)(posts, calls, early)
    first: dict[str, datetime] = {}  # one alert per key; later candidates with its key are escalations
    final: dict[str, str] = {}
    for now, key, severity in alerts:
        first.setdefault(key, now)
        final[key] = severity
    raised = sorted((at, key) for key, at in first.items())
    delays: list[tuple[Storm, float | None, str | None]] = []
    matched: set[str] = set()
    for st in storms:
        hit = [(a, key) for a, key in raised if st.start <= a <= st.end + 60 * MINUTE]
        matched.update(key for _, key in hit)
        delay = (hit[0][0] - st.start).total_seconds() / 60 if hit else None
        delays.append((st, delay, final[hit[0][1]] if hit else None))
    false = [a for a, key in raised if key not in matched]
    floor = []  # about the earliest a page can come: the n-th distinct author's negative since the start
    config = _config(early).negative_share
    need = min(config.min_negative, config.rate_min_negative)
    for st in storms:
        negatives, authors = [], set()
        for at, neg, author in posts:
            if neg and at >= st.start and author not in authors and len(negatives) < need:
                negatives.append(at)
                authors.add(author)
        floor.append((negatives[-1] - st.start).total_seconds() / 60 if len(negatives) == need else None)
    return {
        "brand": series.name.rsplit("/", 1)[-1],
        "base_share": base_share,
        "posts": len(posts),
        "storms": [
            (st.minutes, st.rate, st.ramp, st.posts, d, sev, f)
            for (st, d, sev), f in zip(delays, floor, strict=True)
        ],
        "false_day1": sum(a < T0 + timedelta(days=1) for a in false),
        "false_after": sum(a >= T0 + timedelta(days=1) for a in false),
        "weeks_after": (days - 1) / 7,
        "alerts": len(raised),
        "escalations": len(alerts) - len(raised),
    }


def _pct(xs: list[float], q: float) -> float | None:
    if not xs:
        return None
    xs = sorted(xs)
    return xs[min(int(q * len(xs)), len(xs) - 1)] if q < 1 else xs[-1]


def summarise(results: list[dict[str, object]]) -> dict[str, object]:
    storms = [s for r in results for s in r["storms"]]  # type: ignore[attr-defined]
    ref = [s for s in storms if s[0] == 30 and s[1] == 3.0]
    caught = [s[4] for s in storms if s[4] is not None]
    ref_caught = [s[4] for s in ref if s[4] is not None]
    weeks = sum(r["weeks_after"] for r in results)  # type: ignore[misc]
    return {
        "brands": len(results),
        "storms": len(storms),
        "caught": len(caught),
        "delay_median_min": statistics.median(caught) if caught else None,
        "delay_p90_min": _pct(caught, 0.9),
        "ref_3x_30min": len(ref),
        "ref_caught": len(ref_caught),
        "ref_delay_median_min": statistics.median(ref_caught) if ref_caught else None,
        "ref_delay_p90_min": _pct(ref_caught, 0.9),
        "ref_floor_median_min": statistics.median(x[6] for x in ref) if ref else None,
        "ref_floor_p90_min": _pct([x[6] for x in ref], 0.9),
        "false_per_brand_week": sum(r["false_after"] for r in results) / weeks if weeks else None,  # type: ignore[misc]
        "false_day1_total": sum(r["false_day1"] for r in results),  # type: ignore[misc]
        "brand_weeks": round(weeks, 2),
        "ref_final_severity": {
            sev: sum(1 for s in ref if s[5] == sev) for sev in ("low", "medium", "high", "critical")
        },
        "escalations": sum(r["escalations"] for r in results),  # type: ignore[misc]
    }


def check(corpus: list[nab.Series], scale: float, days: int, seed: int) -> None:
    """Fail unless the fast path raises exactly what `detect()` raises (same times, keys, severities)."""
    for series in corpus:
        rng = random.Random(f"{seed}:{series.name}:{scale}")
        posts, storms, _ = build_brand(series, scale, days, rng)
        calls = _calls(storms, days)
        slow, fast = alerts_via_detect(posts, calls, True), alerts_fast(posts, calls, True)
        print(f"check {series.name} {scale:g}/day: detect() {len(slow)} candidates, fast {len(fast)}", flush=True)
        if slow != fast:
            raise SystemExit(f"fast path differs from detect():\n{slow}\n{fast}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nab-dir", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared/data/nab")
    ap.add_argument("--scale", type=float, action="append", help="posts per day (repeatable)")
    ap.add_argument("--brands", type=int, default=6)
    ap.add_argument("--skip", type=int, default=0, help="skip the first N series (held-out brands)")
    ap.add_argument("--days", type=int, default=8)
    ap.add_argument("--seed", type=int, action="append", help="repeatable; default 1")
    ap.add_argument("--baseline", action="store_true", help="also run with settled bins only (early = false)")
    ap.add_argument("--fast", action="store_true", help="share logic without the database (see --check)")
    ap.add_argument("--check", action="store_true", help="compare --fast with detect() on these brands, then stop")
    ap.add_argument("--set", action="append", default=[], help="negative_share setting to try, key=value")
    args = ap.parse_args()
    for item in args.set:
        key, _, value = item.partition("=")
        SHARE_OVERRIDES[key] = json.loads(value)
    try:
        corpus = nab.load_corpus(args.nab_dir)[args.skip : args.skip + args.brands]
    except FileNotFoundError as exc:
        raise SystemExit(f"{exc}; pass --nab-dir") from None
    seeds = args.seed or [1]
    if args.check:
        for scale in args.scale or [5.0, 50000.0]:
            check(corpus, scale, args.days, seeds[0])
        print("fast path == detect()")
        return
    out = {}
    for scale in args.scale or [5.0, 50000.0]:
        for early in [True, False] if args.baseline else [True]:
            t = time.perf_counter()
            results = [run_brand(s, scale, args.days, seed, early, args.fast) for seed in seeds for s in corpus]
            name = f"{scale:g}/day {'early+settled (shipped)' if early else 'settled only (old)'}"
            out[name] = summarise(results) | {"seconds": round(time.perf_counter() - t, 1)}
            out[name + " per brand"] = results
            print(name, json.dumps(out[name]), flush=True)
    print(json.dumps(out, default=str, indent=1))


if __name__ == "__main__":
    main()
