"""Closing cases from the outside: quiet time, and ticket statuses read back from Zendesk.

Runs periodically from the daemon (each pipeline tick, at most every `[alerts.cases] status_poll` for the
Zendesk read-back). A Zendesk that cannot be reached only delays closing: the next poll tries again.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from alerts.cases import close_quiet, close_solved, open_zendesk_tickets
from alerts.config import AlertsConfig
from monitor.kernel.store.engine import Database

log = logging.getLogger(__name__)


@dataclass
class CaseRefresh:
    quiet: int = 0
    solved: int = 0
    error: str | None = None


def refresh_cases(
    db: Database, sinks: Mapping[str, Any], config: AlertsConfig, now: datetime, *, read_helpdesk: bool = True
) -> CaseRefresh:
    """Close quiet cases; with `read_helpdesk`, close the cases whose Zendesk ticket is solved/closed."""
    out = CaseRefresh()
    if not config.cases.enabled:
        return out
    with db.transaction() as session:
        out.quiet = close_quiet(session, now, config)
    zendesk = sinks.get("zendesk")
    reader = getattr(zendesk, "ticket_statuses", None)
    if not read_helpdesk or not callable(reader):
        return out
    with db.read() as session:
        tickets = list(open_zendesk_tickets(session, limit=1000))
    if not tickets:
        return out
    try:
        statuses = reader(tickets)  # network call outside any transaction
    except Exception as exc:  # the helpdesk being down must not stop the pipeline
        out.error = f"{type(exc).__name__}: {exc}"[:300]
        log.warning("could not read Zendesk ticket statuses (retried next poll): %s", out.error)
        return out
    with db.transaction() as session:
        out.solved = close_solved(session, statuses, now)
    return out
