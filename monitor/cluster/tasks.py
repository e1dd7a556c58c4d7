"""The pipeline as procrastinate tasks: fetch -> score -> detect (+route) -> deliver.

Each task wraps the shared stage functions (monitor.sync, monitor.pipeline, alerts.*) that the embedded
daemon also uses; only the driver differs. The guarantees come from the database:

* a fetch commits each page's mentions, its cursor AND the score jobs for its new mentions in one
  transaction (monitor.cluster.defer), so a mention is never stored without a job that will score it;
* a score job carries a batch of mention ids (at most SCORE_BATCH); it locks those rows and writes only
  the still-unscored ones, then defers detection in the same transaction (coalesced: at most one detect
  run waits), so a re-run (after a SIGKILL,
  a lost connection, a stalled-job retry) scores nothing twice;
* detection + routing run in one transaction under the cluster-wide lock "detect" (detector state is one
  stream per brand), and alerts are idempotent by key; the deliver job is deferred in that transaction;
* deliveries are claimed with SKIP LOCKED and deduplicated by idempotency key (alerts.sender).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from procrastinate import RetryStrategy, exceptions, jobs
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from monitor.cluster import runtime
from monitor.cluster.app import MAINTENANCE_QUEUE, app, interval_cron, phase
from monitor.cluster.defer import build_job, chunks, defer_in_session, defer_once_in_session
from monitor.kernel.states import OutboxStatus
from monitor.kernel.store.tables import OutboxMessage

log = logging.getLogger(__name__)

SCORE_BATCH = 64  # mentions per score job: big enough to batch the model, small enough to retry cheaply
DETECT_LOCK = "detect"
DELIVER_LOCK = "deliver"
# At most one detection and one delivery WAIT at any time: a burst of score batches coalesces into one
# detect run instead of one each. A waiting run that starts just before our transaction commits misses
# our rows; the periodic sweep (daemon.pipeline_interval) picks them up, the embedded daemon's latency.
DETECT_WAITING = "detect-waiting"
DELIVER_WAITING = "deliver-waiting"
MAX_DRAIN_PASSES = 10

# Score jobs retry transient failures (a lost connection, a PostgreSQL restart) with backoff; one that
# keeps failing ends as `failed`, kept for inspection and covered by the straggler sweep. Every other
# task is periodic and does NOT retry: its next run is the retry (a fetch resumes from its committed
# cursor), and a retried job would clash with the queueing lock of the run already waiting.
_RETRY = RetryStrategy(max_attempts=8, exponential_wait=2)


# --------------------------------------------------------------------------- fetch


def fetch_lock(brand: str, source: str) -> str:
    return f"fetch:{brand}:{source}"


@app.task(name="fetch_source", queue="fetch")
def fetch_source(timestamp: int | None = None, *, brand: str, source: str) -> dict[str, Any]:
    """One poll of one source; deferred by the periodic schedule (timestamp) or by hand."""
    state = runtime.current()
    from monitor.sync import HealthPolicy, sync_source

    policy = HealthPolicy(
        failing_after=state.config.daemon.failing_after, max_backoff=state.config.daemon.max_backoff
    )
    result = sync_source(
        state.db,
        state.source(brand, source),
        state.pseudonymiser,
        state.now(),
        policy=policy,
        on_page=lambda session, stats: defer_scoring(session, stats.new_mention_ids),
    )
    return {
        "pages": result.pages,
        "stored": result.stored.inserted,
        "health": result.health,
        "skipped": result.skipped,
        "error": result.error,
    }


@app.task(name="repoll_source", queue="fetch")
def repoll_source(timestamp: int | None = None, *, brand: str, source: str) -> dict[str, Any]:
    """Re-read engagement of this source's due mentions (virality needs the growth curve).

    The same stage function as the daemon's repoll job (`monitor.repoll.repoll_due`).
    """
    from monitor.repoll import repoll_due

    state = runtime.current()
    built = state.source(brand, source)
    result = repoll_due(state.db, built.ref.source_id, built.connector, state.now())
    return {
        "checked": result.checked,
        "changed": result.changed,
        "deleted": result.deleted,
        "errors": result.errors,
    }


def defer_scoring(session: Session, mention_ids: Sequence[int]) -> list[int]:
    """Score jobs for new mentions, in the transaction that stores them."""
    batches = list(chunks(sorted(mention_ids), SCORE_BATCH))
    return defer_in_session(session, [build_job(score_mentions, task_kwargs={"mention_ids": b}) for b in batches])


# --------------------------------------------------------------------------- score

STRAGGLER_AGE = timedelta(minutes=15)
_STRAGGLERS = text(
    "SELECT m.id FROM mentions m WHERE m.scored_at IS NULL AND m.anonymised_at IS NULL AND m.fetched_at < :cutoff "
    "AND NOT EXISTS (SELECT 1 FROM procrastinate_jobs j WHERE j.task_name = 'score_mentions' "
    "AND j.status IN ('todo', 'doing') AND j.args -> 'mention_ids' @> to_jsonb(m.id)) ORDER BY m.id LIMIT :limit"
)


def defer_stragglers(session: Session, now: datetime, older_than: timedelta = STRAGGLER_AGE) -> list[int]:
    """Score jobs for old unscored mentions that no waiting or running job covers.

    WHY: a score job that failed on all its attempts (a broken model, fixed by a redeploy) leaves its
    mentions unscored with no job; this sweep gives them a new one. Re-deferring is safe: a score job
    writes only rows that are still unscored.
    """
    ids = list(session.scalars(_STRAGGLERS, {"cutoff": now - older_than, "limit": SCORE_BATCH * 50}))
    if ids:
        log.warning("re-deferring scoring for %d mention(s) whose score jobs were lost or failed", len(ids))
    return defer_scoring(session, ids)


@app.task(name="rescore_stragglers", queue=MAINTENANCE_QUEUE)
def rescore_stragglers(timestamp: int | None = None) -> int:
    state = runtime.current()
    with state.db.transaction() as session:
        return len(defer_stragglers(session, state.now()))


@app.task(name="score_mentions", queue="score", retry=_RETRY)
def score_mentions(mention_ids: list[int]) -> dict[str, Any]:
    """Score one batch: the embedded daemon's `score_and_store` + `group_scored`, plus a detect run
    deferred in the same transaction (coalesced: at most one waits)."""
    from monitor.pipeline import group_scored, pending_texts, score_and_store

    state = runtime.current()
    with state.db.read() as session:
        batch = pending_texts(session, ids=mention_ids)
    if not batch:
        return {"scored": 0}

    def after(session: Session, ids: list[int], now: datetime) -> None:
        group_scored(session, ids, now, state.config.alerts)
        defer_once_in_session(session, build_job(detect_and_route, lock=DETECT_LOCK, queueing_lock=DETECT_WAITING))

    done = score_and_store(state.db, state.scorer, batch, state.now, on_scored=after)
    return {"scored": done.scored, "unscorable": len(done.unscorable), "model_version": state.scorer.version}


# --------------------------------------------------------------------------- detect + route


@app.task(name="detect_and_route", queue="detect")
def detect_and_route(timestamp: int | None = None) -> dict[str, Any]:
    """Run the detectors and record alerts + outbox rows; defer a delivery when there is mail, in the
    same transaction as the outbox rows it will deliver."""
    from monitor.detect.stage import detect
    from monitor.pipeline import detect_and_route as stage

    state = runtime.current()
    with state.db.transaction() as session:
        routed = stage(session, detect, state.config.detect, state.router, state.now())
        pending = session.scalar(
            select(OutboxMessage.id).where(OutboxMessage.status == OutboxStatus.PENDING).limit(1)
        )
        if pending is not None:
            defer_once_in_session(
                session, build_job(deliver_outbox, lock=DELIVER_LOCK, queueing_lock=DELIVER_WAITING)
            )
    return {"candidates": len(routed.candidates), "alerts": len(routed.alert_ids)}


# --------------------------------------------------------------------------- deliver


@app.task(name="deliver_outbox", queue="alert")
def deliver_outbox(timestamp: int | None = None) -> dict[str, Any]:
    """Drain due outbox rows to the sinks (claims use SKIP LOCKED; sinks dedupe by idempotency key)."""
    state = runtime.current()
    limit = state.config.daemon.drain_limit
    totals = {"claimed": 0, "delivered": 0, "retried": 0, "dead": 0}
    for _ in range(MAX_DRAIN_PASSES):  # a full pass means more may be due; bounded so the job stays short
        stats = state.sender.drain(now=state.now(), limit=limit)
        for key in totals:
            totals[key] += getattr(stats, key)
        if stats.claimed < limit:
            break
    return totals


# --------------------------------------------------------------------------- housekeeping


@app.task(name="refresh_cases", queue=MAINTENANCE_QUEUE)
def refresh_cases(timestamp: int | None = None) -> dict[str, Any]:
    """Close quiet cases and those whose Zendesk ticket was solved (the daemon's alerts.case_status)."""
    from alerts.case_status import refresh_cases as refresh

    state = runtime.current()
    result = refresh(state.db, state.sender.sinks, state.config.alerts, state.now())
    return {"quiet": result.quiet, "solved": result.solved, "error": result.error}


@app.task(name="apply_retention", queue=MAINTENANCE_QUEUE)
def apply_retention(timestamp: int | None = None) -> None:
    """Strip personal data from mentions older than the retention period (same purge as the daemon)."""
    from monitor.privacy.retention import purge

    state = runtime.current()
    with state.db.transaction() as session:
        purge(session, state.now(), state.config.retention.days)


@app.task(name="retry_stalled_jobs", queue=MAINTENANCE_QUEUE, pass_context=True)
async def retry_stalled_jobs(context: Any, timestamp: int | None = None, *, stalled_after: float = 60.0) -> int:
    """Put jobs of dead workers (no heartbeat for `stalled_after` s) back in the queue.

    A fetch whose periodic successor is already waiting is not re-queued (the successor covers it:
    fetches resume from the committed cursor) but marked failed, which the queueing lock requires.
    """
    manager = context.app.job_manager
    retried = 0
    for job in await manager.get_stalled_jobs(seconds_since_heartbeat=stalled_after):
        try:
            await manager.retry_job(job)
            retried += 1
            log.warning("re-queued stalled job %s (%s)", job.id, job.call_string)
        except exceptions.UniqueViolation:
            await manager.finish_job(job, status=jobs.Status.FAILED, delete_job=False)
            log.warning("stalled job %s superseded by a waiting job with lock %s", job.id, job.queueing_lock)
    return retried


@app.task(name="purge_finished_jobs", queue=MAINTENANCE_QUEUE, pass_context=True)
async def purge_finished_jobs(
    context: Any, timestamp: int | None = None, *, succeeded_hours: int = 24, failed_hours: int = 336
) -> None:
    """Delete finished jobs after a look-back window (failed ones are kept longer, for inspection)."""
    manager = context.app.job_manager
    await manager.delete_old_jobs(nb_hours=succeeded_hours, include_cancelled=True)
    await manager.delete_old_jobs(nb_hours=failed_hours, include_failed=True, include_aborted=True)


# --------------------------------------------------------------------------- schedules

_REGISTERED = False


def register_periodic(config: Any, options: Any) -> None:
    """One periodic fetch (and engagement re-poll) per enabled source, plus detection, delivery,
    retention and housekeeping sweeps.

    Every worker registers the same schedule; procrastinate defers each (task, periodic id, tick) once
    for the whole cluster (a unique row in procrastinate_periodic_defers), and the queueing lock per
    (brand, source) keeps at most one fetch of a source waiting, the lock at most one running.
    """
    global _REGISTERED
    if _REGISTERED:
        return
    _REGISTERED = True
    for brand in config.brands:
        for source in brand.sources:
            if not source.enabled:
                continue
            name = source.name or source.connector
            lock = fetch_lock(brand.name, name)
            app.periodic(
                cron=interval_cron(source.interval, phase(brand.name, name)),
                periodic_id=f"{brand.name}/{name}",
                task_kwargs={"brand": brand.name, "source": name},
                queueing_lock=lock,
                lock=lock,
            )(fetch_source)
            if source.repoll:
                app.periodic(
                    cron=interval_cron(config.daemon.repoll_interval, phase("repoll", brand.name, name)),
                    periodic_id=f"repoll:{brand.name}/{name}",
                    task_kwargs={"brand": brand.name, "source": name},
                    queueing_lock=f"repoll:{brand.name}:{name}",
                    lock=lock,  # never alongside a fetch of the same source: one client, one rate limit
                )(repoll_source)
    app.periodic(
        cron=interval_cron(timedelta(minutes=10), phase("stragglers")),
        periodic_id="stragglers",
        queueing_lock="rescore-stragglers",
        lock="rescore-stragglers",
    )(rescore_stragglers)
    app.periodic(
        cron=interval_cron(config.daemon.retention_interval),
        periodic_id="retention",
        queueing_lock="retention",
        lock="retention",
    )(apply_retention)
    app.periodic(
        cron=interval_cron(config.alerts.cases.status_poll, phase("cases")),
        periodic_id="cases",
        queueing_lock="refresh-cases",
        lock="refresh-cases",
    )(refresh_cases)
    sweep = interval_cron(config.daemon.pipeline_interval)
    app.periodic(cron=sweep, periodic_id="sweep", queueing_lock=DETECT_WAITING, lock=DETECT_LOCK)(detect_and_route)
    app.periodic(cron=sweep, periodic_id="sweep", queueing_lock=DELIVER_WAITING, lock=DELIVER_LOCK)(deliver_outbox)
    app.periodic(
        cron=options.stalled_sweep_cron,
        periodic_id="sweep",
        queueing_lock="retry-stalled",
        lock="retry-stalled",  # two overlapping sweeps could re-queue a job the first one already revived
        task_kwargs={"stalled_after": options.stalled_after_seconds},
    )(retry_stalled_jobs)
    app.periodic(
        cron=options.purge_cron,
        periodic_id="purge",
        queueing_lock="purge",
        task_kwargs={"succeeded_hours": options.keep_succeeded_hours, "failed_hours": options.keep_failed_hours},
    )(purge_finished_jobs)
