"""`repmon run`: the embedded daemon. APScheduler 3.x in-process, one job per source, pipeline after.

Every source gets its own interval job (with jitter, coalescing, one instance at a time): a slow or
failing platform never delays another. Storing new mentions wakes the pipeline job (score -> group
stories -> detect + route -> deliver), which otherwise runs on its own interval. SIGTERM/SIGINT set a
stop flag that every job checks between batches: the batch in hand is committed, the scheduler waits for
running jobs, and the process exits 0. Resuming is free because all progress lives in the database.
"""

from __future__ import annotations

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

from monitor.config import Config
from monitor.kernel.clock import Clock, SystemClock
from monitor.kernel.store import migrate
from monitor.kernel.store.engine import Database
from monitor.kernel.types import Sink
from monitor.metrics import DaemonMetrics, MetricsServer
from monitor.pipeline import deliver, detect_and_route, group_scored, score_pending
from monitor.repoll import repoll_due
from monitor.sync import (
    HealthPolicy,
    source_problems,
    sync_source,
)
from monitor.wiring import build_sinks, build_source_runtimes, load_scorer

log = logging.getLogger(__name__)


class SchemaOutOfDate(RuntimeError):
    pass


@dataclass
class IntegrationState:
    """An optional integration (Slack Socket Mode): up, off (not configured) or failing with a reason."""

    status: str = "off"
    reason: str | None = None
    failures: int = 0
    retry_in: timedelta = timedelta(0)
    since: datetime | None = None

    def failed(self, reason: str, max_backoff: timedelta) -> None:
        if self.status != "failing":
            self.since = datetime.now(UTC)
        self.status, self.reason = "failing", reason[:500]
        self.failures += 1
        self.retry_in = min(timedelta(seconds=30 * 2 ** min(self.failures - 1, 16)), max_backoff)

    def ok(self) -> None:
        self.status, self.reason, self.failures, self.retry_in, self.since = "ok", None, 0, timedelta(0), None

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"status": self.status, "reason": self.reason}
        if self.status == "failing":
            out |= {"failures": self.failures, "retry_in_s": self.retry_in.total_seconds()}
            out["since"] = self.since.isoformat() if self.since else None
        return out


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
        self.unavailable_sinks: dict[str, str] = {}
        built = sinks if sinks is not None else build_sinks(config, self.unavailable_sinks)
        self.sender = OutboxSender(self.db, built, config.alerts.outbox, self.unavailable_sinks)
        self.stop = threading.Event()
        self.stats = DaemonStats()
        self.metrics = DaemonMetrics(self.db.engine)
        self._stats_lock = threading.Lock()
        self._dirty = threading.Event()  # new mentions since the pipeline last looked
        self._pipeline_lock = threading.Lock()
        self.scheduler: BackgroundScheduler | None = None
        self.server: MetricsServer | None = None
        self.interactivity: Any = None  # Slack Socket Mode, when its tokens are set
        self.integrations: dict[str, IntegrationState] = {}
        self.job_faults: dict[str, str] = {}  # scheduled job -> why its last run failed (until it works again)
        self._last_status_poll: datetime | None = None  # helpdesk statuses close cases (alerts.case_status)

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
        from alerts.case_status import refresh_cases
        from monitor.detect.stage import detect

        started = time.monotonic()
        alerts_config = self.config.alerts

        def group(session: Any, ids: list[int], now: datetime) -> None:
            group_scored(session, ids, now, alerts_config)

        scored = score_pending(
            self.db,
            self.scorer,
            self.clock.now,
            batch_size=self.config.model.batch_size,
            on_scored=group,
            stop=self.stop,
        )
        with self.db.transaction() as session:
            routed = detect_and_route(session, detect, self.config.detect, self.router, self.clock.now())
        drained = deliver(self.sender, self.clock.now(), self.config.daemon.drain_limit)
        now = self.clock.now()
        poll = self._last_status_poll is None or now - self._last_status_poll >= alerts_config.cases.status_poll
        refresh_cases(self.db, self.sender.sinks, alerts_config, now, read_helpdesk=poll)
        if poll:
            self._last_status_poll = now
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
                self.guarded(f"poll {runtime.ref.brand}/{runtime.ref.source}", self.sync_job),
                IntervalTrigger(seconds=interval, jitter=runtime.jitter.total_seconds() / speed or None),
                args=[index],
                id=f"source:{runtime.ref.brand}/{runtime.ref.source}",
                name=f"poll {runtime.ref.brand}/{runtime.ref.source}",
                next_run_time=now + timedelta(seconds=random.uniform(0, min(interval, 1.0) / 4)),
            )
        pipeline, repoll = self.guarded("pipeline", self.pipeline_job), self.guarded("repoll", self.repoll_job)
        self._add(scheduler, pipeline, "pipeline", daemon_cfg.pipeline_interval, speed, now)
        self._add(scheduler, repoll, "repoll", daemon_cfg.repoll_interval, speed, now)
        retention = self.guarded("retention", self.retention_job)
        self._add(scheduler, retention, "retention", daemon_cfg.retention_interval, speed, now)
        self.scheduler = scheduler
        scheduler.start()
        if daemon_cfg.metrics_port is not None:
            self.server = MetricsServer(self, daemon_cfg.metrics_host, daemon_cfg.metrics_port)
            self.server.start()
            log.info("metrics on http://%s:%d/metrics", *self.server.address)
        self._start_interactivity()
        return scheduler

    def guarded(self, name: str, job: Callable[..., Any]) -> Callable[..., Any]:
        """`job` for the scheduler: an expected fault (database down, read-only or full) is logged as one
        line when it starts and once when it ends, shown in /healthz, and the job simply runs again on
        its next turn; an unexpected one keeps its traceback. Either way the daemon lives on."""
        from monitor.faults import explain

        def run(*args: Any) -> Any:
            try:
                result = job(*args)
            except Exception as exc:
                reason = explain(exc)
                if reason is None:
                    log.exception("%s failed", name)
                    reason = f"unexpected {type(exc).__name__} (traceback logged)"
                elif self.job_faults.get(name) != reason:
                    log.error("%s failed: %s; retrying on its schedule", name, reason)
                self.job_faults[name] = reason
                return None
            if self.job_faults.pop(name, None) is not None:
                log.warning("%s works again", name)
            return result

        return run

    def _start_interactivity(self) -> None:
        """Slack buttons over Socket Mode. Optional: a failure (bad token, Slack unreachable) is reported in
        the log, /healthz, `repmon status` and the metrics, and retried with backoff; the monitor runs on."""
        from alerts.slack_app import start_if_configured

        state = self.integrations.setdefault("slack_socket_mode", IntegrationState())
        if self.stop.is_set():
            return
        try:
            # Buttons in Slack change alert state; waking the pipeline sends the resulting updates now.
            self.interactivity = start_if_configured(
                self.config.alerts, self.db, clock=self.clock.now, on_change=self._wake_pipeline
            )
        except Exception as exc:  # one optional integration must not take the monitor down
            state.failed(f"{type(exc).__name__}: {exc}", self.config.daemon.max_backoff)
            log.error(
                "Slack buttons unavailable (%s); alerts are still posted; retrying in %.0fs",
                state.reason,
                state.retry_in.total_seconds(),
            )
            if self.scheduler is not None and self.scheduler.running:
                self.scheduler.add_job(
                    self._start_interactivity,
                    "date",
                    run_date=datetime.now(UTC) + state.retry_in / self._speed(),
                    id="slack_socket_mode",
                    replace_existing=True,
                )
        else:
            if self.interactivity is None:
                state.status, state.reason = "off", "Slack tokens not set"
            else:
                if state.status == "failing":
                    log.warning("Slack buttons connected again after %d failed attempts", state.failures)
                state.ok()
        self.metrics.observe_integration("slack_socket_mode", state.status)

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
        log.info(
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
