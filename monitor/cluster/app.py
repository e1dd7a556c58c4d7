"""The procrastinate application: one per process, bound to the database the data lives in.

Tasks are declared on the module-level `app` (monitor.cluster.tasks) so every worker process knows them
by name; `bind()` points the app at a database and registers one periodic fetch per configured source.
Queues: fetch (I/O bound), score (CPU bound), detect, alert (deliveries) — a node may serve any subset.
"""

from __future__ import annotations

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


def interval_cron(interval: timedelta) -> str:
    """A cron expression firing every `interval`, aligned to the clock (6th field = seconds, croniter style).

    Cron can only express intervals that divide the next larger unit; others are rounded down to the
    nearest one that does (7 min -> 6 min), which polls slightly more often, never less.
    """
    seconds = max(1, int(interval.total_seconds()))
    if seconds < 60:
        step = max(d for d in (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30) if d <= seconds)
        return f"* * * * * */{step}"
    if seconds < 3600:
        step = max(d for d in (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30) if d <= seconds // 60)
        return f"*/{step} * * * * 0"
    if seconds < 86400:
        step = max(d for d in (1, 2, 3, 4, 6, 8, 12) if d <= seconds // 3600)
        return f"0 */{step} * * * 0"
    return "0 0 * * * 0"
