"""End-to-end cost of the embedded pipeline, stage by stage: file source -> store -> score ->
stories/cases -> detect -> route, on SQLite and/or PostgreSQL.

    nice -n 10 .venv/bin/python bench/pipeline.py [--posts 3000] [--db sqlite|postgres|both]
        [--scorer lexicon|e5] [--repeats 1] [--profile FILE]

The posts are the simulated source's (connectors/simulated.py: praise, questions, news and complaints
in sv/da/no/en, a complaint storm with reposts and retellings), written to a JSON Lines export and
imported by the real file connector. Every stage is the function the daemon calls (monitor.sync,
monitor.pipeline, alerts.stories/cases, monitor.detect.stage, alerts.router), in the daemon's order;
this script only times them. Prints, from the same run:

* the scorer's own rate (posts / seconds spent inside `scorer.score`) and the pipeline's rate;
* per stage: milliseconds per post and SQL statements (per post for the per-post stages);
* "outside the model": all the pipeline's time except `scorer.score`, in ms per post (target <= 1);
* the router's ms per candidate (target <= 5).

--profile FILE writes a cProfile of the pipeline part (not the import) of the last run, for
`python -m pstats FILE` or snakeviz. PostgreSQL: a fresh database per run on the server at
REPMON_TEST_PG_URL (default postgresql+psycopg://postgres@127.0.0.1:5432/postgres), dropped afterwards.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import create_engine, event, select, text

from connectors.simulated import SimulatedConnector
from monitor.kernel.types import BrandQuery, Scorer, ScoreResult, TextToScore

PG_ADMIN_URL = os.environ.get("REPMON_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
BRAND = "Telia"
HOURS = 6  # the posts span the last six hours, so detection has settled bins to judge
NOW = datetime(2026, 11, 2, 13, 0, tzinfo=UTC)  # a fixed clock: every run (and revision) sees the same posts


class FixedClock:
    speed = 1.0

    def now(self) -> datetime:
        return NOW


STAGES = ("import", "score (model)", "score (write)", "stories", "cases", "detect", "route")


# --------------------------------------------------------------------------- input


def write_export(path: Path, posts: int, now: datetime) -> dict[str, int]:
    """`posts` simulated mentions of the last HOURS hours as a JSON Lines export; returns counts by kind."""
    storm = max(posts // 10, 1)
    source = SimulatedConnector(
        {
            "seed": 11,
            "start": now - timedelta(hours=HOURS),
            "rate_per_hour": (posts - storm) / HOURS * 1.15,  # a little extra: the diurnal curve dips
            "storm_at": HOURS * 60 - 90,
            "storm_size": storm,
            "storm_duration_minutes": 45,
            "page_size": 1000,
        },
        clock=lambda: now,
    )
    kinds: dict[str, int] = {}
    written = 0
    with path.open("w", encoding="utf-8") as out:
        for page in source.fetch(BrandQuery(brand=BRAND, terms=(BRAND,)), None):
            for m in page.mentions:
                if written >= posts:
                    break
                row = {
                    "id": m.external_id,
                    "text": m.text,
                    "url": m.url,
                    "author": m.author,
                    "created_at": m.created_at.isoformat(),
                    "language": m.language,
                    "likes": m.likes,
                    "reposts": m.reposts,
                    "replies": m.replies,
                }
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
                kind = (m.raw or {}).get("kind", "?")
                kinds[kind] = kinds.get(kind, 0) + 1
                written += 1
    if written < posts:
        raise SystemExit(f"the simulated source produced only {written} posts")
    return kinds


def write_config(path: Path, export: Path, scorer: str) -> Path:
    """A realistic routing setup: leads in Slack, complaints needing help to Zendesk (so cases open)."""
    path.write_text(
        f"""
[[brands]]
name = "{BRAND}"

[[brands.sources]]
name = "export"
connector = "file"
interval = "1h"
settings = {{ path = "{export}", page_size = 500 }}

[model]
scorer = "{scorer}"
batch_size = 64

[alerts]
default_console = true
zendesk = {{ base_url = "https://bench.zendesk.invalid", email = "bench@example.invalid" }}

[[alerts.routes]]
name = "leads"
slack_channel = "#reputation"

[[alerts.routes]]
name = "support"
needs_help = true
helpdesk_group = "360001"
""",
        encoding="utf-8",
    )
    return path


# --------------------------------------------------------------------------- measuring


@dataclass
class Figures:
    posts: int = 0
    seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STAGES, 0.0))
    cpu: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STAGES, 0.0))  # this process's
    statements: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STAGES, 0))
    candidates: int = 0
    alerts: int = 0
    stories: int = 0
    cases: int = 0
    outbox: int = 0
    fingerprint: str = ""  # of what the run decided (alerts, cases, outbox rows): compare revisions

    def pipeline_seconds(self) -> float:
        return sum(self.seconds.values())

    def outside_model_ms_per_post(self) -> float:
        return 1000 * (self.pipeline_seconds() - self.seconds["score (model)"]) / self.posts

    def outside_model_cpu_ms_per_post(self) -> float:
        return 1000 * (sum(self.cpu.values()) - self.cpu["score (model)"]) / self.posts


class Meter:
    """Wall time and SQL statements per stage; the current stage is whichever `stage()` block is open."""

    def __init__(self, engine: Any, figures: Figures) -> None:
        self.figures = figures
        self.current: str | None = None
        event.listen(engine, "before_cursor_execute", self._count)

    def _count(self, *_: Any) -> None:
        if self.current is not None:
            self.figures.statements[self.current] += 1

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        outer, self.current = self.current, name
        started, cpu_started = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
            self.figures.seconds[name] += elapsed
            self.figures.cpu[name] += cpu
            self.current = outer
            if outer is not None:  # a nested stage's time is not also its parent's
                self.figures.seconds[outer] -= elapsed
                self.figures.cpu[outer] -= cpu


class TimedScorer:
    """The configured scorer, with the time spent inside `score` booked to the model stage."""

    def __init__(self, scorer: Scorer, meter: Meter) -> None:
        self.scorer = scorer
        self.meter = meter
        self.version = scorer.version

    def score(self, batch: Sequence[TextToScore]) -> list[ScoreResult]:
        with self.meter.stage("score (model)"):
            return self.scorer.score(batch)


# --------------------------------------------------------------------------- one run


def one_run(url: str, config_path: Path, posts: int, profile: cProfile.Profile | None) -> Figures:
    from monitor.config import load_config
    from monitor.daemon import Daemon
    from monitor.kernel.store.engine import Database
    from monitor.kernel.store.tables import Case, OutboxMessage, Story
    from monitor.pipeline import detect_and_route, group_scored, score_pending

    config = load_config(config_path, require_secrets=False)  # nothing is delivered
    db = Database(url)
    daemon = Daemon(config, clock=FixedClock(), db=db, sinks={}, migrate_schema=True)
    figures = Figures(posts=posts)
    meter = Meter(db.engine, figures)
    scorer = TimedScorer(daemon.scorer, meter)
    daemon.scorer.score([TextToScore(mention_id=0, text="warm-up", language_hint="en")])  # lazy loads

    with meter.stage("import"):
        for index in range(len(daemon.sources)):
            daemon.sync_job(index)

    def group(session: Any, ids: list[int], now: datetime) -> None:
        group_scored(session, ids, now, config.alerts, timer=meter.stage)

    detect = _timed(meter, "detect", _detect())  # imported (scipy) before the clock starts, like the daemon
    if profile is not None:
        profile.enable()
    with meter.stage("score (write)"):
        scored = score_pending(db, scorer, daemon.clock.now, batch_size=config.model.batch_size, on_scored=group)
    now = daemon.clock.now()
    with db.transaction() as session:
        routed = detect_and_route(session, detect, config.detect, _TimedRouter(daemon.router, meter), now)
    if profile is not None:
        profile.disable()
    figures.posts = scored.scored + len(scored.unscorable)
    figures.candidates = len(routed.candidates)
    figures.alerts = len(routed.alert_ids)
    with db.read() as session:
        figures.stories = session.query(Story).count()
        figures.cases = session.query(Case).count()
        figures.outbox = session.query(OutboxMessage).count()
        figures.fingerprint = fingerprint(session)
    db.dispose()
    return figures


def fingerprint(session: Any) -> str:
    """A digest of every decision the run wrote: alerts (key, state, route, story), cases (key, count,
    destinations), outbox rows (key, sink, action, payload), story membership. Equal digests on two
    revisions mean the same behaviour on this input."""
    from monitor.kernel.store.tables import Alert, Case, Mention, OutboxMessage, Story

    digest = hashlib.sha256()
    queries = (
        select(Alert.key, Alert.state, Alert.route, Alert.severity, Story.key)
        .outerjoin(Story, Story.id == Alert.story_id)
        .order_by(Alert.key),
        select(Case.key, Case.state, Case.mention_count, Case.destinations).order_by(Case.key),
        select(
            OutboxMessage.idempotency_key, OutboxMessage.sink, OutboxMessage.action, OutboxMessage.payload
        ).order_by(OutboxMessage.idempotency_key),
        select(Mention.external_id, Story.key)
        .join(Story, Story.id == Mention.story_id)
        .order_by(Mention.external_id),
    )
    for query in queries:
        for row in session.execute(query):
            digest.update(json.dumps(list(row), sort_keys=True, default=str).encode())
    return digest.hexdigest()[:16]


def _detect() -> Callable[..., Any]:
    from monitor.detect.stage import detect

    return detect


def _timed(meter: Meter, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    def run(*args: Any, **kwargs: Any) -> Any:
        with meter.stage(name):
            return fn(*args, **kwargs)

    return run


class _TimedRouter:
    def __init__(self, router: Any, meter: Meter) -> None:
        self.router = router
        self.meter = meter

    def coverage_candidates(self, *args: Any) -> Any:
        with self.meter.stage("route"):
            return self.router.coverage_candidates(*args)

    def record(self, *args: Any, **kwargs: Any) -> Any:
        with self.meter.stage("route"):
            return self.router.record(*args, **kwargs)


@contextmanager
def database(kind: str, workdir: Path) -> Iterator[str]:
    if kind == "sqlite":
        path = workdir / f"bench-{uuid.uuid4().hex[:8]}.db"
        yield f"sqlite:///{path}"
        path.unlink(missing_ok=True)
        return
    name = f"repmon_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


# --------------------------------------------------------------------------- report


def report(kind: str, runs: list[Figures]) -> None:
    def med(get: Callable[[Figures], float]) -> float:
        return statistics.median(get(f) for f in runs)

    posts = runs[-1].posts
    model = med(lambda f: f.seconds["score (model)"])
    total = med(Figures.pipeline_seconds)
    print(f"\n== {kind}: {posts} posts, median of {len(runs)} run(s)")
    print(f"  scorer alone : {posts / model:9.1f} posts/s  ({model:.2f} s inside scorer.score)")
    print(f"  pipeline     : {posts / total:9.1f} posts/s  ({total:.2f} s, import to routed alerts)")
    print(f"  outside model: {med(Figures.outside_model_ms_per_post):9.3f} ms/post  (target <= 1)")
    print(
        f"  outside model: {med(Figures.outside_model_cpu_ms_per_post):9.3f} ms/post CPU of this process "
        "(steadier on a shared machine; PostgreSQL's own work is not in it)"
    )
    print(f"  decisions fingerprint: {runs[-1].fingerprint} (equal on two revisions = same behaviour)")
    print("  stage           ms/post  CPU ms/post  statements  (statements per 100 posts)")
    for stage in STAGES:
        ms = med(lambda f, s=stage: 1000 * f.seconds[s] / f.posts)  # type: ignore[misc]
        cpu = med(lambda f, s=stage: 1000 * f.cpu[s] / f.posts)  # type: ignore[misc]
        statements = med(lambda f, s=stage: f.statements[s])  # type: ignore[misc]
        print(f"  {stage:15s} {ms:7.3f}  {cpu:11.3f}  {statements:10.0f}  ({100 * statements / posts:.1f})")
    last = runs[-1]
    per_candidate = med(lambda f: 1000 * f.seconds["route"] / max(f.candidates, 1))
    print(
        f"  router: {last.candidates} candidates -> {last.alerts} alerts, {per_candidate:.2f} ms per candidate "
        f"(target <= 5); {last.stories} stories, {last.cases} cases, {last.outbox} outbox rows"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--posts", type=int, default=3000)
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--scorer", default="lexicon", help="scorer plugin: lexicon (default) or e5 (shipped)")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--profile", type=Path, help="write a cProfile of the last run's pipeline here")
    args = parser.parse_args()
    os.environ.setdefault("REPMON_PSEUDONYM_KEY", "bench-pseudonym-key-0123456789abcdef0123")
    kinds = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    with tempfile.TemporaryDirectory(prefix="repmon-bench-") as tmp:
        workdir = Path(tmp)
        now = NOW
        export = workdir / "export.jsonl"
        mix = write_export(export, args.posts, now)
        config = write_config(workdir / "repmon.toml", export, args.scorer)
        shares = ", ".join(f"{k} {v}" for k, v in sorted(mix.items()))
        print(f"pipeline bench: {args.posts} simulated posts ({shares})")
        print(f"scorer {args.scorer}, {os.cpu_count()} CPUs visible")
        for kind in kinds:
            runs = []
            for repeat in range(args.repeats):
                profile = cProfile.Profile() if args.profile and repeat == args.repeats - 1 else None
                with database(kind, workdir) as url:
                    runs.append(one_run(url, config, args.posts, profile))
                if profile is not None:
                    target = args.profile.with_suffix(f".{kind}{args.profile.suffix or '.prof'}")
                    profile.dump_stats(target)
                    print(f"  profile written to {target}")
            report(kind, runs)


if __name__ == "__main__":
    main()
