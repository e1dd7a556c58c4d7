"""The procrastinate job tables, applied once next to our own schema (`repmon db queue-schema`).

procrastinate's `schema --apply` fails on a database that already has the tables, and two migration
jobs started together (compose + a manual run, two Kubernetes Jobs) would race. Here the check and the
apply run in one transaction under an advisory lock, so the command is idempotent and safe to repeat.
"""

from __future__ import annotations

import psycopg
from procrastinate.schema import SchemaManager
from sqlalchemy.engine import URL

from monitor.cluster.app import conninfo

_LOCK_ID = 0x7265706D6F6E  # "repmon": serialises concurrent schema applications


def queue_schema_present(url: str | URL) -> bool:
    with psycopg.connect(conninfo(url)) as conn:
        return conn.execute("SELECT to_regclass('procrastinate_jobs') IS NOT NULL").fetchone()[0]  # type: ignore[index]


def ensure_queue_schema(url: str | URL) -> bool:
    """Create procrastinate's tables if absent; True when they were created now."""
    with psycopg.connect(conninfo(url)) as conn, conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_ID,))
        present = conn.execute("SELECT to_regclass('procrastinate_jobs') IS NOT NULL").fetchone()
        if present and present[0]:
            return False
        conn.execute(SchemaManager.get_schema())  # type: ignore[arg-type]
        return True
