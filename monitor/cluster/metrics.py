"""Prometheus metrics read from the database at scrape time.

WHY from the database: in cluster mode many processes on many nodes share one queue and one outbox.
Counters kept in each process would have to be summed and would reset on every restart; the database
already holds the truth (job states, source health, outbox states), so every scrape of any node
reports the same cluster-wide numbers. Works on SQLite too (the embedded daemon can register it):
the queue families are simply absent where the procrastinate schema is.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine, func, inspect, select, text

from monitor.kernel.states import CLAIMABLE
from monitor.kernel.store.tables import Brand, Mention, OutboxMessage, Source

log = logging.getLogger(__name__)

HEALTH_STATES = ("ok", "degraded", "failing", "disabled")
JOB_STATUSES = ("todo", "doing", "succeeded", "failed", "cancelled", "aborted")
LIVE_WORKER_SECONDS = 60  # a worker whose heartbeat is older is not counted as live

QUEUE_JOBS_SQL = "SELECT queue_name, status::text, count(*) FROM procrastinate_jobs GROUP BY 1, 2"
# Waiting since deferral, or since the retry time for a retried job; future scheduled jobs are not late.
QUEUE_AGE_SQL = (
    "SELECT j.queue_name, EXTRACT(EPOCH FROM now() - min(GREATEST(e.at, COALESCE(j.scheduled_at, e.at)))) "
    "FROM procrastinate_jobs j JOIN procrastinate_events e ON e.job_id = j.id AND e.type = 'deferred' "
    "WHERE j.status = 'todo' AND (j.scheduled_at IS NULL OR j.scheduled_at <= now()) GROUP BY 1"
)
_QUEUE_JOBS = text(QUEUE_JOBS_SQL)
_QUEUE_AGE = text(QUEUE_AGE_SQL)
_LIVE_WORKERS = text(
    "SELECT count(*) FROM procrastinate_workers "
    f"WHERE last_heartbeat > now() - interval '{LIVE_WORKER_SECONDS} seconds'"
)


class DatabaseCollector(Collector):
    """Collects queue, source-health, outbox and backlog gauges with a few aggregate queries."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("repmon_database_up", "1 if the last scrape could read the database")
        try:
            families = list(self._families())
        except Exception as exc:  # a scrape must report the outage, not fail
            log.warning("metrics: database not readable: %s", exc)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families

    def _families(self) -> Iterator[Metric]:
        now = datetime.now(UTC)
        with self.engine.connect() as conn:
            if inspect(conn).has_table("procrastinate_jobs"):
                yield from self._queue(conn)
            yield from self._sources(conn)
            yield from self._outbox(conn, now)
            unscored = GaugeMetricFamily("repmon_mentions_unscored", "Stored mentions not scored yet")
            unscored.add_metric([], conn.scalar(select(func.count()).where(Mention.scored_at.is_(None))) or 0)
            yield unscored

    def _queue(self, conn) -> Iterator[Metric]:  # type: ignore[no-untyped-def]
        jobs = GaugeMetricFamily(
            "repmon_queue_jobs", "procrastinate jobs by queue and status", labels=["queue", "status"]
        )
        counts = {(q, s): n for q, s, n in conn.execute(_QUEUE_JOBS)}
        for queue in sorted({q for q, _ in counts} | {"fetch", "score", "detect", "alert"}):
            for status in JOB_STATUSES:
                jobs.add_metric([queue, status], counts.get((queue, status), 0))
        yield jobs
        age = GaugeMetricFamily(
            "repmon_queue_oldest_todo_age_seconds", "Age of the oldest runnable waiting job", labels=["queue"]
        )
        for queue, seconds in conn.execute(_QUEUE_AGE):
            age.add_metric([queue], float(seconds or 0))
        yield age
        workers = GaugeMetricFamily("repmon_cluster_workers", "Worker processes with a recent heartbeat")
        workers.add_metric([], conn.scalar(_LIVE_WORKERS) or 0)
        yield workers

    def _sources(self, conn) -> Iterator[Metric]:  # type: ignore[no-untyped-def]
        health = GaugeMetricFamily(
            "repmon_source_health",
            "1 for the current health state of each source",
            labels=["brand", "source", "health"],
        )
        failures = GaugeMetricFamily(
            "repmon_source_consecutive_failures", "Failed fetches in a row", labels=["brand", "source"]
        )
        last_ok = GaugeMetricFamily(
            "repmon_source_last_success_timestamp_seconds",
            "Unix time of the last good fetch",
            labels=["brand", "source"],
        )
        rows = conn.execute(
            select(Brand.name, Source.name, Source.health, Source.consecutive_failures, Source.last_success_at)
            .join(Brand, Brand.id == Source.brand_id)
            .order_by(Brand.name, Source.name)
        )
        for brand, source, state, failed, last_success in rows:
            for candidate in HEALTH_STATES:
                health.add_metric([brand, source, candidate], 1 if state == candidate else 0)
            failures.add_metric([brand, source], failed or 0)
            if last_success is not None:
                stamp = last_success if last_success.tzinfo else last_success.replace(tzinfo=UTC)
                last_ok.add_metric([brand, source], stamp.timestamp())
        yield health
        yield failures
        yield last_ok

    def _outbox(self, conn, now: datetime) -> Iterator[Metric]:  # type: ignore[no-untyped-def]
        messages = GaugeMetricFamily(
            "repmon_outbox_messages", "Outbox deliveries by sink and status", labels=["sink", "status"]
        )
        for sink, status, count in conn.execute(
            select(OutboxMessage.sink, OutboxMessage.status, func.count()).group_by(
                OutboxMessage.sink, OutboxMessage.status
            )
        ):
            messages.add_metric([sink, status], count)
        yield messages
        lag = GaugeMetricFamily(
            "repmon_outbox_oldest_pending_age_seconds", "Age of the oldest undelivered message", labels=["sink"]
        )
        for sink, oldest in conn.execute(
            select(OutboxMessage.sink, func.min(OutboxMessage.created_at))
            .where(OutboxMessage.status.in_(CLAIMABLE))
            .group_by(OutboxMessage.sink)
        ):
            if oldest is not None:
                stamp = oldest if oldest.tzinfo else oldest.replace(tzinfo=UTC)
                lag.add_metric([sink], max(0.0, (now - stamp).total_seconds()))
        yield lag
