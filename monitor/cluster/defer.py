"""Defer follow-on jobs inside the caller's SQLAlchemy transaction.

WHY: a job that refers to rows (score these mentions, detect for this brand) must exist if and only
if those rows exist. Deferring through procrastinate's own pool would commit the job on a different
connection: a crash between the two commits would either lose work (rows without a job) or run a job
on rows that never committed. Here the job insert runs on the very connection of the session, so it
commits or rolls back together with the rows.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, TypeVar

from procrastinate import exceptions, jobs, manager, tasks
from procrastinate.sync_psycopg_connector import SyncPsycopgConnector
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

T = TypeVar("T")

# Only used with an external connection (the session's), so its own pool is never opened.
_JOB_MANAGER = manager.JobManager(SyncPsycopgConnector())


def driver_connection(session: Session) -> Any:
    """The psycopg connection under `session`, in the session's current transaction."""
    connection = session.connection().connection.driver_connection
    if connection is None or type(connection).__module__.split(".")[0] != "psycopg":
        raise RuntimeError("cluster mode needs PostgreSQL through psycopg 3 (postgresql+psycopg://...)")
    return connection


def build_job(task: tasks.Task[Any, Any, Any], **options: Any) -> jobs.Job:
    """The job `task.configure(**options).defer(...)` would insert, without inserting it."""
    return task.configure(**options).job


def defer_in_session(session: Session, jobs_to_defer: Sequence[jobs.Job]) -> list[int]:
    """Insert jobs in the session's transaction; returns their ids (committed with the session)."""
    if not jobs_to_defer:
        return []
    deferred = _JOB_MANAGER.batch_defer_jobs(list(jobs_to_defer), connection=driver_connection(session))
    return [job.id for job in deferred if job.id is not None]


def defer_once_in_session(session: Session, job: jobs.Job) -> int | None:
    """Defer a job that carries a queueing lock; None when an equal job is already waiting.

    A queueing-lock clash is a unique violation, which would abort the whole PostgreSQL transaction;
    the savepoint confines it so the caller's rows still commit.
    """
    savepoint = session.begin_nested()
    try:
        job_id = defer_in_session(session, [job])[0]
    except exceptions.AlreadyEnqueued:
        savepoint.rollback()
        log.debug("job %s already waiting (queueing lock %s)", job.task_name, job.queueing_lock)
        return None
    except BaseException:
        savepoint.rollback()
        raise
    savepoint.commit()
    return job_id


def chunks(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Consecutive lists of at most `size` items."""
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
