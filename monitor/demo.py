"""`repmon demo`: the real daemon on a throwaway SQLite file, a simulated stream, simulated time.

Nothing is special-cased for the demo: the configuration goes through the same validation as a file,
the daemon, scheduler, scorer, detectors, router, outbox and console sink are the production ones. Only
the clock is accelerated, and the simulated source starts a few hours in the past (backfill, as a
newly added real source does) so the detectors have a baseline before the complaint storm arrives.
"""

from __future__ import annotations

import logging
import secrets
import signal
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from pydantic import SecretStr
from sqlalchemy import func, select

from monitor.config import Config, Secrets, validate
from monitor.daemon import Daemon
from monitor.kernel.clock import AcceleratedClock
from monitor.kernel.states import CaseState
from monitor.kernel.store.tables import Alert, Case, Mention, Score, Story, Ticket

log = logging.getLogger(__name__)

DEMO_START = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)  # a Monday morning in Scandinavia
BACKFILL = timedelta(hours=6)
STORM_AFTER = timedelta(minutes=15)  # into the live part of the demo
BRAND = "Telia"


def demo_config(db_url: str, seed: int, duration_minutes: float) -> Config:
    """The demo's configuration, as plain data through the same validation as a repmon.toml."""
    storm_minutes = (BACKFILL + min(STORM_AFTER, timedelta(minutes=duration_minutes / 3))).total_seconds() / 60
    data: dict[str, Any] = {
        "database": {"url": db_url},
        "brands": [
            {
                "name": BRAND,
                "aliases": ["@telia_sverige", "#teliafail"],
                "sources": [
                    {
                        "connector": "simulated",
                        "name": "simulated",
                        "interval": "1m",
                        "jitter": "5s",
                        "settings": {
                            "seed": seed,
                            "start": (DEMO_START - BACKFILL).isoformat(),
                            "storm_at": storm_minutes,
                            "rate_per_hour": 40,
                            "storm_size": 150,
                            "storm_duration_minutes": 30,
                        },
                    }
                ],
            }
        ],
        "model": {"batch_size": 64},  # the default scorer: what a new installation runs
        # Detectors warm up on the backfilled hours instead of a day of history.
        "detect": {"volume": {"warmup_bins": 36, "cooldown_bins": 36}, "negative_share": {"warmup_mentions": 60}},
        "alerts": {"daily_cap": 20},
        "daemon": {"pipeline_interval": "2m", "repoll_interval": "5m", "retention_interval": "1d"},
    }
    config = validate(data, require_secrets=False)
    # A throwaway key: the demo database is deleted afterwards, nothing needs to be linkable later.
    # model_construct, not Secrets(): the environment (e.g. REPMON_DATABASE_URL) must not leak into the
    # demo and point it at a real database.
    config._secrets = Secrets.model_construct(pseudonym_key=SecretStr(secrets.token_hex(32)))
    return config


def _counts(daemon: Daemon) -> dict[str, int]:
    with daemon.db.read() as session:
        return {
            "mentions": session.scalar(select(func.count()).select_from(Mention)) or 0,
            "scored": session.scalar(select(func.count(func.distinct(Score.mention_id)))) or 0,
            "alerts": session.scalar(select(func.count()).select_from(Alert)) or 0,
            "stories": session.scalar(select(func.count()).select_from(Story)) or 0,
        }


def _summary(daemon: Daemon, storm_at: datetime | None, out: TextIO) -> dict[str, int]:
    counts = _counts(daemon)
    with daemon.db.read() as session:
        alerts = session.execute(
            select(Alert.kind, Alert.severity, Alert.detected_at, Alert.headline).order_by(Alert.detected_at)
        ).all()
        negative = session.scalar(select(func.count()).select_from(Score).where(Score.label == "negative")) or 0
    out.write("\n=== repmon demo summary ===\n")
    out.write(f"simulated time  {DEMO_START - BACKFILL:%Y-%m-%d %H:%M} .. {daemon.clock.now():%H:%M} UTC ")
    out.write(f"(x{daemon.clock.speed:g}; first {BACKFILL} backfilled)\n")
    out.write(
        f"mentions stored {counts['mentions']}, scored {counts['scored']} ({negative} negative) "
        f"by {daemon.scorer.version}\n"
    )
    out.write(f"stories         {counts['stories']}\n")
    if storm_at is not None:
        out.write(f"storm injected  {storm_at:%H:%M} UTC\n")
    _cases_summary(daemon, out)
    out.write(f"alerts          {counts['alerts']}\n")
    # The storm's own alerts (spikes, viral posts) first: they are what a lead reads first.
    alerts = sorted(alerts, key=lambda a: (a[0] == "complaint", a[2]))
    for kind, severity, detected_at, headline in alerts:
        mark = "*" if storm_at is not None and detected_at >= storm_at and kind != "complaint" else " "
        out.write(f"  {mark} {detected_at:%H:%M} {severity:8} {kind:15} {headline[:90]}\n")
    out.write("  (* = raised after the storm began)\n")
    out.flush()
    return counts


def _cases_summary(daemon: Daemon, out: TextIO) -> None:
    """Customers who needed help, their cases and tickets, and the incidents they belong to."""
    with daemon.db.read() as session:
        needy = (
            session.scalar(
                select(func.count(func.distinct(Mention.author_key)))
                .join(Score, Score.mention_id == Mention.id)
                .where(Score.needs_help.is_(True))
            )
            or 0
        )
        cases = session.scalar(select(func.count()).select_from(Case)) or 0
        closed = session.scalar(select(func.count()).select_from(Case).where(Case.state == CaseState.CLOSED)) or 0
        tickets = session.scalar(select(func.count()).select_from(Ticket).where(Ticket.case_id.is_not(None))) or 0
        incidents = (
            session.scalar(select(func.count()).select_from(Case).where(Case.problem_key.is_not(None))) or 0
        )
        problems = (
            session.scalar(
                select(func.count())
                .select_from(Alert)
                .where(Alert.kind.in_(("negative_spike", "volume_spike", "virality")))
            )
            or 0
        )
    out.write(f"customers       {needy} needed help; cases opened {cases} ({closed} closed)\n")
    helpdesk = "" if daemon.config.alerts.routes else " (no helpdesk route in the demo)"
    out.write(f"tickets         {tickets} case ticket(s){helpdesk}\n")
    out.write(f"incidents       {problems} spike/viral alert(s); {incidents} case(s) linked to one\n")


def run_demo(
    duration_minutes: float = 60.0,
    speed: float = 60.0,
    seed: int = 7,
    keep: str | None = None,
    out: TextIO | None = None,
) -> dict[str, int]:
    """Run the daemon for `duration_minutes` of simulated time; returns the counts of the final JSON line."""
    if duration_minutes <= 0 or speed <= 0:
        raise ValueError("duration and speed must be positive")
    out = out or sys.stdout
    with tempfile.TemporaryDirectory(prefix="repmon-demo-") as tmp:
        path = Path(keep) if keep else Path(tmp) / "demo.db"
        config = demo_config(f"sqlite:///{path}", seed, duration_minutes)
        clock = AcceleratedClock(DEMO_START, speed)
        from alerts.sinks.console import ConsoleSink

        daemon = Daemon(config, clock=clock, migrate_schema=True, sinks={"console": ConsoleSink(out)})
        source = daemon.sources[0].connector
        storm_at = getattr(source, "storm_start", None)
        out.write(
            f"repmon demo: brand {BRAND!r}, {duration_minutes:g} simulated minutes at x{speed:g} "
            f"(~{duration_minutes * 60 / speed:.0f} s), database {path}\n"
        )
        out.flush()
        interrupted = threading.Event()
        previous = _on_interrupt(interrupted)
        # At x60 a one-minute poll is one real second: a poll that overruns it is expected here, not news.
        logging.getLogger("apscheduler").setLevel(logging.ERROR)
        daemon.start()
        try:
            deadline = time.monotonic() + duration_minutes * 60 / speed
            while not interrupted.is_set() and time.monotonic() < deadline:
                interrupted.wait(min(0.5, max(deadline - time.monotonic(), 0)))
        finally:
            daemon.shutdown()
            _restore(previous)
        if not interrupted.is_set():
            daemon.stop.clear()  # one last pass so everything fetched is also scored, detected, delivered
            daemon.pipeline_job()
        counts = _summary(daemon, storm_at, out)
        daemon.db.dispose()
    return counts


def _on_interrupt(flag: threading.Event) -> dict[int, Any]:
    previous: dict[int, Any] = {}
    if threading.current_thread() is not threading.main_thread():
        return previous
    for signum in (signal.SIGINT, signal.SIGTERM):
        previous[signum] = signal.signal(signum, lambda *_: flag.set())
    return previous


def _restore(previous: dict[int, Any]) -> None:
    for signum, handler in previous.items():
        signal.signal(signum, handler)
