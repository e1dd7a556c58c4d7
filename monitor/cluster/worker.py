"""One worker process: load the configuration, bind the procrastinate app, run jobs until told to stop.

Runs in a process spawned by the supervisor (monitor.cluster.supervisor). procrastinate's own signal
handlers make SIGTERM finish the job in hand and exit; SIGKILL loses nothing either, because every job
commits its rows and its follow-on jobs in one transaction and the stalled-job sweep re-runs it.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WorkerOptions:
    """Everything a worker process needs, picklable for the spawn start method."""

    config_path: str | None
    queues: tuple[str, ...]
    name: str = "repmon-worker"
    heartbeat_seconds: float = 10.0
    stalled_after_seconds: float = 60.0  # a job whose worker's heartbeat is older is re-run
    stalled_sweep_cron: str = "* * * * * */15"  # how often the sweep looks (croniter: 6th field = seconds)
    purge_cron: str = "17 * * * *"
    keep_succeeded_hours: int = 24
    keep_failed_hours: int = 24 * 14
    poll_seconds: float = 5.0  # fallback polling; LISTEN/NOTIFY wakes workers at once
    log_level: int = logging.INFO

    def for_process(self, index: int) -> WorkerOptions:
        base = os.environ.get("REPMON_WORKER_NAME") or socket.gethostname()
        return dataclasses.replace(self, name=f"{base}/{os.getpid()}/{index}")


def child_main(options: WorkerOptions) -> None:
    """Entry point of a spawned worker process."""
    logging.basicConfig(
        level=options.log_level, format="%(asctime)s %(levelname)s %(processName)s %(name)s: %(message)s"
    )
    from monitor.cluster import runtime
    from monitor.cluster.app import app, bind
    from monitor.cluster.tasks import register_periodic

    state = runtime.start(options.config_path)
    bind(state.config.database_url())
    register_periodic(state.config, options)
    app.run_worker(
        queues=list(options.queues),
        name=options.name,
        concurrency=1,
        wait=True,
        update_heartbeat_interval=options.heartbeat_seconds,
        stalled_worker_timeout=options.stalled_after_seconds,
        fetch_job_polling_interval=options.poll_seconds,
        abort_job_polling_interval=options.poll_seconds,
        install_signal_handlers=True,
        delete_jobs="never",  # finished jobs are purged by the periodic purge, after a look-back window
    )
    log.info("worker %s stopped", options.name)
