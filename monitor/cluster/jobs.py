"""Operator views of the job queue: counts for `repmon queue status`, re-queueing failed jobs.

Plain SQL over procrastinate's tables (stable across its 3.x releases) through its own procedure
for the state change, so its triggers record the retry like any other.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import psycopg

from monitor.cluster.app import QUEUES, conninfo
from monitor.cluster.metrics import JOB_STATUSES, LIVE_WORKER_SECONDS, QUEUE_AGE_SQL, QUEUE_JOBS_SQL


@dataclass
class QueueReport:
    statuses: tuple[str, ...] = JOB_STATUSES
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    oldest_waiting: dict[str, float] = field(default_factory=dict)  # seconds
    live_workers: int = 0


def queue_report(url: str) -> QueueReport:
    report = QueueReport()
    with psycopg.connect(conninfo(url)) as conn:
        report.counts = {name: {} for name in QUEUES}
        for name, status, count in conn.execute(QUEUE_JOBS_SQL):
            report.counts.setdefault(name, {})[status] = count
        for name, seconds in conn.execute(QUEUE_AGE_SQL):
            report.oldest_waiting[name] = float(seconds)
        row = conn.execute(
            "SELECT count(*) FROM procrastinate_workers WHERE last_heartbeat > now() - make_interval(secs => %s)",
            (LIVE_WORKER_SECONDS,),
        ).fetchone()
        report.live_workers = int(row[0]) if row else 0
    return report


def retry_failed(url: str, ids: list[int] | None) -> tuple[list[int], list[int]]:
    """Re-queue failed jobs (all when `ids` is None); returns (retried ids, ids that were not failed)."""
    with psycopg.connect(conninfo(url)) as conn, conn.transaction():
        if ids is None:
            rows = conn.execute("SELECT id FROM procrastinate_jobs WHERE status = 'failed' ORDER BY id FOR UPDATE")
        else:
            rows = conn.execute(
                "SELECT id FROM procrastinate_jobs WHERE status = 'failed' AND id = ANY(%s) "
                "ORDER BY id FOR UPDATE",
                (ids,),
            )
        failed = [job_id for (job_id,) in rows]
        for job_id in failed:
            conn.execute("SELECT procrastinate_retry_job_v2(%s, now(), NULL, NULL, NULL)", (job_id,))
    skipped = sorted(set(ids or []) - set(failed))
    return failed, skipped
