"""Alerts throughput: Router.record per candidate, and outbox delivery to a loopback Slack server.

Prints medians over repeated runs (no assertions; figures for docs and regressions):
  .venv/bin/python bench/alerts_outbox.py [--alerts 200] [--runs 5] [--db sqlite|postgres]
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.orm import sessionmaker

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from alerts.config import AlertsConfig, Route, SlackConfig, Target
from alerts.router import Router
from alerts.sender import OutboxSender
from alerts.sinks.console import ConsoleSink
from alerts.sinks.slack import SlackSink
from monitor.kernel.store.tables import Base, Brand, Mention, Source
from monitor.kernel.types import AlertCandidate
from tests.alerts.slack_server import BOT_TOKEN, SlackServer

SPECS = Path(os.environ.get("REPMON_SHARED_SPECS", Path(__file__).resolve().parents[2] / "shared" / "specs"))
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def database(kind: str, tmp: Path) -> tuple[str, callable]:
    if kind == "sqlite":
        return f"sqlite:///{tmp / f'{uuid.uuid4().hex}.db'}", lambda: None
    admin = create_engine("postgresql+psycopg://postgres@127.0.0.1:5432/postgres", isolation_level="AUTOCOMMIT")
    name = f"repmon_bench_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}", drop


def drain_rate(sender: OutboxSender, expected: int) -> float:
    started = time.perf_counter()
    delivered = 0
    while delivered < expected:
        stats = sender.drain(now=NOW, limit=100)
        if not stats.claimed:
            break
        delivered += stats.delivered
    return delivered / (time.perf_counter() - started)


def one_run(kind: str, n_alerts: int, slack: SlackServer, tmp: Path) -> tuple[float, float, float]:
    url, drop = database(kind, tmp)
    engine = create_engine(url)
    Base.metadata.create_all(engine)
    factory = sessionmaker(engine, expire_on_commit=False)
    try:
        with factory() as s, s.begin():
            brand = Brand(name="Acme")
            s.add(brand)
            s.flush()
            source = Source(brand_id=brand.id, name="bench", connector="file")
            s.add(source)
            s.flush()
            ids = []
            for i in range(n_alerts * 5):
                m = Mention(
                    source_id=source.id,
                    brand_id=brand.id,
                    external_id=f"p{i}",
                    text=f"post {i}",
                    created_at=NOW,
                    url=f"https://x.example/{i}",
                )
                s.add(m)
                s.flush()
                ids.append(m.id)
        config = AlertsConfig(
            routes=[Route(name="cs", to=[Target(sink="slack", target="C-CS")])],
            cooldowns={},
            daily_cap=None,
            slack=SlackConfig(base_url=slack.base + "/api/"),
        )
        router = Router(config)
        started = time.perf_counter()
        for i in range(n_alerts):
            cand = AlertCandidate(
                kind=f"k{i}",
                brand="Acme",
                key=f"bench-{i}",
                severity="high",
                detected_at=NOW,
                headline=f"Alert {i}",
                mention_ids=tuple(ids[i * 5 : i * 5 + 5]),
            )
            with factory() as s, s.begin():
                router.record(s, [cand], NOW)
        record_ms = (time.perf_counter() - started) * 1000 / n_alerts
        slack_rate = drain_rate(OutboxSender(factory, {"slack": SlackSink(config.slack)}), n_alerts)
        with factory() as s, s.begin():  # the same messages again, to an in-memory console
            s.execute(text("UPDATE outbox SET status = 'pending', sink = 'console', attempts = 0"))
        console_rate = drain_rate(OutboxSender(factory, {"console": ConsoleSink(io.StringIO())}), n_alerts)
        return record_ms, slack_rate, console_rate
    finally:
        engine.dispose()
        drop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--alerts", type=int, default=200)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    args = parser.parse_args()
    os.environ["REPMON_SLACK_BOT_TOKEN"] = BOT_TOKEN
    records, rates, console = [], [], []
    with tempfile.TemporaryDirectory() as tmp, SlackServer(SPECS) as slack:
        for _ in range(args.runs):
            record_ms, per_s, console_per_s = one_run(args.db, args.alerts, slack, Path(tmp))
            records.append(record_ms)
            rates.append(per_s)
            console.append(console_per_s)
    print(f"db={args.db} alerts/run={args.alerts} runs={args.runs}")
    print(f"Router.record: median {statistics.median(records):.2f} ms per candidate (one transaction each)")
    print(f"Slack delivery (loopback, spec-validating server): median {statistics.median(rates):.0f} messages/s")
    print(f"Console delivery (sender overhead only): median {statistics.median(console):.0f} messages/s")
    print(f"ratio console/slack: {statistics.median(console) / statistics.median(rates):.1f}x")


if __name__ == "__main__":
    main()
