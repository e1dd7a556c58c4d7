"""`repmon run`: the embedded daemon. APScheduler 3.x in-process, one job per source, pipeline after.

Every source gets its own interval job (with jitter, coalescing, one instance at a time): a slow or
failing platform never delays another. Storing new mentions wakes the pipeline job (score -> group
stories -> detect + route -> deliver), which otherwise runs on its own interval. SIGTERM/SIGINT set a
stop flag that every job checks between batches: the batch in hand is committed, the scheduler waits for
running jobs, and the process exits 0. Resuming is free because all progress lives in the database.
"""

from __future__ import annotations

import inspect
import logging
import random
import signal
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from connectors.repoll import repoll_due
from monitor import plugins
from monitor.clock import Clock, SystemClock
from monitor.config import Config
from monitor.metrics import DaemonMetrics, MetricsServer
from monitor.pipeline import deliver, detect_and_route, load_scorer, score_pending
from monitor.store import migrate
from monitor.store.catalog import ensure_source
from monitor.store.engine import Database
from monitor.sync import (
    HealthPolicy,
    SourceRuntime,
    config_fingerprint,
    record_failure,
    refresh_fingerprint,
    source_problems,
    sync_source,
)
from monitor.types import BrandQuery, Sink, SourceError

log = logging.getLogger(__name__)


class SchemaOutOfDate(RuntimeError):
    pass


# --------------------------------------------------------------------------- building blocks


def make_connector(factory: Any, settings: Any, clock: Clock | None) -> Any:
    """Instantiate a connector; one that accepts `clock` (() -> datetime) gets ours (the demo's fast time)."""
    try:
        accepts_clock = "clock" in inspect.signature(factory).parameters
    except (TypeError, ValueError):
        accepts_clock = False
    if accepts_clock and clock is not None:
        return factory(settings, clock=clock.now)
    return factory(settings)


def build_source_runtimes(config: Config, db: Database, clock: Clock | None = None) -> list[SourceRuntime]:
    """One runtime per enabled source, with its database rows created or found by name."""
    from monitor.matching import compile_query

    runtimes: list[SourceRuntime] = []
    now = (clock or SystemClock()).now()
    for brand in config.brands:
        expression = brand.query_expression()
        matcher = compile_query(expression)
        query = BrandQuery(brand=brand.name, terms=brand.terms, query=expression, languages=tuple(brand.languages))
        for source in brand.sources:
            if not source.enabled:
                continue
            fingerprint = config_fingerprint(source.connector, source.connector_settings, expression)
            with db.transaction() as session:
                ref = ensure_source(session, brand.name, source.name, source.connector)
                refresh_fingerprint(session, ref.source_id, fingerprint, now)
            try:
                factory = plugins.load("connectors", source.connector)
                connector = make_connector(factory, source.connector_settings, clock)
            except Exception as exc:  # one unusable source must not keep the others from running
                error = SourceError("config", f"connector could not be started: {type(exc).__name__}: {exc}")
                with db.transaction() as session:
                    record_failure(session, ref.source_id, error, now, source.interval, HealthPolicy())
                continue
            runtimes.append(
                SourceRuntime(
                    ref=ref,
                    connector=connector,
                    query=query,
                    matcher=matcher,
                    interval=source.interval,
                    jitter=source.jitter,
                    repoll=source.repoll,
                    fingerprint=fingerprint,
                )
            )
    return runtimes


def build_sinks(config: Config) -> dict[str, Sink]:
    """Every installed sink that can be built from the configuration and environment.

    A sink is built with `from_config(alerts_config)` when it has one, else with no arguments; one that
    cannot be built (e.g. no Slack token set) is left out and its outbox rows wait, visibly, in the outbox.
    """
    sinks: dict[str, Sink] = {}
    for name, factory in plugins.load_all("sinks").items():
        try:
            from_config = getattr(factory, "from_config", None)
            sinks[name] = from_config(config.alerts) if callable(from_config) else factory()
        except Exception as exc:  # a missing token must not stop the other sinks
            log.info("sink %s not available: %s", name, exc)
    return sinks


@dataclass
class PipelineTick:
    scored: int = 0
    candidates: int = 0
    alerts: int = 0
    delivered: int = 0
    seconds: float = 0.0


@dataclass
class DaemonStats:
    """Totals since start, for the demo summary and /healthz."""

    fetched: int = 0
    stored: int = 0
    scored: int = 0
    alerts: int = 0
    delivered: int = 0
    sync_errors: int = 0
    ticks: int = 0
    last_tick_at: datetime | None = None
    health: dict[str, str] = field(default_factory=dict)


# --------------------------------------------------------------------------- the daemon


class Daemon:
    """The scheduler, the stages and their shared state for one process."""

    def __init__(
        self,
        config: Config,
        *,
        clock: Clock | None = None,
        db: Database | None = None,
        sinks: Mapping[str, Sink] | None = None,
        migrate_schema: bool = False,
    ) -> None:
        from alerts.router import Router
        from alerts.sender import OutboxSender

        self.config = config
        self.clock = clock or SystemClock()
        self.db = db or Database(config.database_url())
        self._check_schema(migrate_schema)
        self.pseudonymiser = config.pseudonymiser()
        self.policy = HealthPolicy(
            failing_after=config.daemon.failing_after, max_backoff=config.daemon.max_backoff
        )
        self.sources = build_source_runtimes(config, self.db, self.clock)
        self.scorer = load_scorer(config.model)
        self.router = Router(config.alerts)
        self.sender = OutboxSender(
            self.db, sinks if sinks is not None else build_sinks(config), config.alerts.outbox
        )
        self.stop = threading.Event()
        self.stats = DaemonStats()
        self.metrics = DaemonMetrics(self.db.engine)
        self._stats_lock = threading.Lock()
        self._dirty = threading.Event()  # new mentions since the pipeline last looked
        self._pipeline_lock = threading.Lock()
        self.scheduler: BackgroundScheduler | None = None
        self.server: MetricsServer | None = None
        self.interactivity: Any = None  # Slack Socket Mode, when its tokens are set

    def _check_schema(self, migrate_schema: bool) -> None:
        url = self.db.url
        if migrate_schema:
            migrate.upgrade(url)
            return
        current, head = migrate.current_revision(self.db.engine), migrate.head_revision()
        if current != head:
            raise SchemaOutOfDate(
                f"database schema is at {current or 'nothing'}, this version needs {head}: run `repmon db upgrade`"
            )

    def _speed(self) -> float:
        return getattr(self.clock, "speed", 1.0) or 1.0

    # ------------------------------------------------------------------ jobs

    def sync_job(self, index: int) -> None:
        runtime = self.sources[index]
        label = f"{runtime.ref.brand}/{runtime.ref.source}"
        if self.stop.is_set():
            return
        result = sync_source(
            self.db, runtime, self.pseudonymiser, self.clock.now(), policy=self.policy, stop=self.stop
        )
        self.metrics.observe_sync(runtime.ref.brand, runtime.ref.source, result)
        with self._stats_lock:
            self.stats.fetched += result.fetched
            self.stats.stored += result.stored.inserted
            self.stats.sync_errors += result.error is not None
            self.stats.health[label] = result.health
        if result.stored.inserted:
            log.info("%s: %d new mentions (%d fetched)", label, result.stored.inserted, result.fetched)
            self._wake_pipeline()

    def repoll_job(self) -> None:
        for runtime in self.sources:
            if self.stop.is_set():
                return
            if runtime.repoll:
                repoll_due(self.db, runtime.ref.source_id, runtime.connector, self.clock.now())

    def pipeline_job(self) -> PipelineTick:
        """Score until caught up, then detect + route, then deliver; again if new mentions arrived meanwhile."""
        total = PipelineTick()
        with self._pipeline_lock:
            while True:
                self._dirty.clear()
                tick = self._tick()
                for name in ("scored", "candidates", "alerts", "delivered"):
                    setattr(total, name, getattr(total, name) + getattr(tick, name))
                total.seconds += tick.seconds
                if self.stop.is_set() or not self._dirty.is_set():
                    break
        if self._dirty.is_set() and not self.stop.is_set():  # mentions stored while we were finishing
            self._wake_pipeline()
        return total

    def _tick(self) -> PipelineTick:
        from alerts.stories import assign_stories
        from monitor.detect.stage import detect

        started = time.monotonic()
        stories_config = self.config.alerts.stories

        def group(session: Any, ids: list[int], now: datetime) -> None:
            assign_stories(session, ids, now, stories_config)

        scored = score_pending(
            self.db,
            self.scorer,
            self.clock.now,
            batch_size=self.config.model.batch_size,
            on_scored=group,
            stop=self.stop,
        )
        routed = detect_and_route(self.db, detect, self.config.detect, self.router, self.clock.now())
        drained = deliver(self.sender, self.clock.now(), self.config.daemon.drain_limit)
        tick = PipelineTick(
            scored=scored.scored,
            candidates=len(routed.candidates),
            alerts=len(routed.alert_ids),
            delivered=getattr(drained, "delivered", 0),
            seconds=time.monotonic() - started,
        )
        self.metrics.observe_tick(tick)
        with self._stats_lock:
            self.stats.scored += tick.scored
            self.stats.alerts += tick.alerts
            self.stats.delivered += tick.delivered
            self.stats.ticks += 1
            self.stats.last_tick_at = self.clock.now()
        return tick

    def retention_job(self) -> None:
        from monitor.privacy.retention import purge

        with self.db.transaction() as session:
            purge(session, self.clock.now(), self.config.retention.days)

    def _wake_pipeline(self) -> None:
        self._dirty.set()
        if self.scheduler is not None and self.scheduler.running and not self._pipeline_lock.locked():
            try:
                self.scheduler.modify_job("pipeline", next_run_time=datetime.now(UTC))
            except Exception:  # the job is gone while shutting down
                log.debug("pipeline not rescheduled", exc_info=True)

    # ------------------------------------------------------------------ running

    def run_once(self) -> PipelineTick:
        """Poll every source once, re-poll engagement, run the pipeline: for cron use and tests."""
        for index in range(len(self.sources)):
            self.sync_job(index)
        self.repoll_job()
        return self.pipeline_job()

    def start(self) -> BackgroundScheduler:
        """Schedule every job on a background scheduler; returns it (running)."""
        speed = self._speed()
        scheduler = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(max(4, len(self.sources) + 3))},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
            timezone=UTC,
        )
        now = datetime.now(UTC)
        daemon_cfg = self.config.daemon
        for index, runtime in enumerate(self.sources):
            interval = runtime.interval.total_seconds() / speed
            scheduler.add_job(
                self.sync_job,
                IntervalTrigger(seconds=interval, jitter=runtime.jitter.total_seconds() / speed or None),
                args=[index],
                id=f"source:{runtime.ref.brand}/{runtime.ref.source}",
                name=f"poll {runtime.ref.brand}/{runtime.ref.source}",
                next_run_time=now + timedelta(seconds=random.uniform(0, min(interval, 1.0) / 4)),
            )
        self._add(scheduler, self.pipeline_job, "pipeline", daemon_cfg.pipeline_interval, speed, now)
        self._add(scheduler, self.repoll_job, "repoll", daemon_cfg.repoll_interval, speed, now)
        self._add(scheduler, self.retention_job, "retention", daemon_cfg.retention_interval, speed, now)
        self.scheduler = scheduler
        scheduler.start()
        if daemon_cfg.metrics_port is not None:
            self.server = MetricsServer(self, daemon_cfg.metrics_host, daemon_cfg.metrics_port)
            self.server.start()
            log.info("metrics on http://%s:%d/metrics", *self.server.address)
        from alerts.slack_app import start_if_configured

        # Buttons in Slack change alert state; waking the pipeline sends the resulting message updates now.
        self.interactivity = start_if_configured(
            self.config.alerts, self.db, clock=self.clock.now, on_change=self._wake_pipeline
        )
        return scheduler

    @staticmethod
    def _add(
        scheduler: BackgroundScheduler,
        func: Callable[[], Any],
        job_id: str,
        every: timedelta,
        speed: float,
        now: datetime,
    ) -> None:
        scheduler.add_job(
            func, IntervalTrigger(seconds=every.total_seconds() / speed), id=job_id, name=job_id, next_run_time=now
        )

    def shutdown(self) -> None:
        """Ask running jobs to finish their batch, wait for them, stop serving metrics."""
        self.stop.set()
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=True)
        if self.server is not None:
            self.server.stop()
        if self.interactivity is not None:
            self.interactivity.close()
        log.info("stopped cleanly")

    def run_forever(self, install_signals: bool = True) -> None:
        """Run until SIGTERM/SIGINT; then finish the current batches, commit and return."""
        if install_signals:
            for signum in (signal.SIGTERM, signal.SIGINT):
                signal.signal(signum, self._on_signal)
        self.start()
        log.warning(
            "repmon running: %d sources, pipeline every %s",
            len(self.sources),
            self.config.daemon.pipeline_interval,
        )
        try:
            while not self.stop.wait(1.0):
                pass
        finally:
            self.shutdown()

    def _on_signal(self, signum: int, _frame: Any) -> None:
        log.warning("%s received: finishing the current batch", signal.Signals(signum).name)
        self.stop.set()

    def source_problems(self) -> str:
        """Sources polled by this process that are degraded, failing or disabled ("" when none)."""
        with self._stats_lock:
            problems = source_problems(dict(self.stats.health))
        return ", ".join(f"{label} {state}" for label, state in problems.items())

    def healthy(self) -> bool:
        return bool(self.scheduler and self.scheduler.running and not self.stop.is_set())
