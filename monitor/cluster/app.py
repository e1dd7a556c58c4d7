"""The procrastinate application: one per process, bound to the database the data lives in.

Tasks are declared on the module-level `app` (monitor.cluster.tasks) so every worker process knows them
by name; `bind()` points the app at a database and registers one periodic fetch per configured source.
Queues: fetch (I/O bound), score (CPU bound), detect, alert (deliveries) — a node may serve any subset.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import timedelta

from procrastinate import App, PsycopgConnector
from sqlalchemy.engine import URL, make_url

log = logging.getLogger(__name__)

QUEUES = ("fetch", "score", "detect", "alert")
MAINTENANCE_QUEUE = "detect"  # cheap housekeeping rides on a queue every deployment runs

app = App(connector=PsycopgConnector(), import_paths=["monitor.cluster.tasks"])


def conninfo(url: str | URL) -> str:
    """A libpq URL for procrastinate from the SQLAlchemy URL (`postgresql+psycopg://` -> `postgresql://`)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        raise ValueError(
            f"cluster mode runs on PostgreSQL; the database is {parsed.get_backend_name()} "
            "(use `repmon run` for the embedded SQLite mode)"
        )
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


def bind(url: str | URL, *, pool_size: int = 4) -> App:
    """Point the app at the PostgreSQL database `url` (before opening it)."""
    connector = PsycopgConnector(conninfo=conninfo(url), min_size=1, max_size=pool_size)
    app.connector = connector
    app.job_manager.connector = connector
    return app


def interval_cron(interval: timedelta, offset: int = 0) -> str:
    """A cron expression firing every `interval` (6th field = seconds, croniter style).

    Cron can only express intervals that divide the next larger unit; others are rounded down to the
    nearest one that does (7 min -> 6 min), which polls slightly more often, never less. `offset`
    (seconds) shifts the phase, so sources with the same interval do not all fire on the same second:
    the cluster-mode counterpart of the embedded scheduler's jitter.
    """
    seconds = max(1, int(interval.total_seconds()))
    offset = abs(int(offset))
    if seconds < 60:
        step = max(d for d in (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30) if d <= seconds)
        return f"* * * * * {offset % step}-59/{step}"
    if seconds < 3600:
        step = max(d for d in (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30) if d <= seconds // 60)
        return f"{(offset // 60) % step}-59/{step} * * * * {offset % 60}"
    if seconds < 86400:
        step = max(d for d in (1, 2, 3, 4, 6, 8, 12) if d <= seconds // 3600)
        return f"{(offset // 60) % 60} {(offset // 3600) % step}-23/{step} * * * 0"
    return f"{(offset // 60) % 60} {(offset // 3600) % 24} * * * 0"


def phase(*parts: str) -> int:
    """A stable pseudo-random offset in seconds (0..86399) for a schedule's name."""
    return int(hashlib.sha256("/".join(parts).encode()).hexdigest()[:12], 16) % 86400
