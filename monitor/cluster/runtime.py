"""Per-process state of a worker: configuration, database, scorer, router, sender, sources.

Built once when the worker process starts (loading a model per job would dominate the job), then read
by every task the process runs. Nothing here is shared between processes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

from monitor.config import Config, load_config
from monitor.kernel.store.engine import Database

log = logging.getLogger(__name__)


@dataclass
class WorkerState:
    config: Config
    db: Database
    _sources: dict[tuple[str, str], Any] = field(default_factory=dict)

    @cached_property
    def scorer(self) -> Any:
        from monitor.wiring import load_scorer

        return load_scorer(self.config.model)

    @cached_property
    def router(self) -> Any:
        from alerts.router import Router

        return Router(self.config.alerts)

    @cached_property
    def sender(self) -> Any:
        from alerts.sender import OutboxSender
        from monitor.wiring import build_sinks

        unavailable: dict[str, str] = {}  # why a sink is missing, for the console fallback's log line
        return OutboxSender(self.db, build_sinks(self.config, unavailable), self.config.alerts.outbox, unavailable)

    @cached_property
    def pseudonymiser(self) -> Any:
        return self.config.pseudonymiser()

    def source(self, brand: str, source: str) -> Any:
        """The SourceRuntime of one configured source (connectors built once per process, as the daemon does)."""
        if not self._sources:
            from monitor.wiring import build_source_runtimes

            for built in build_source_runtimes(self.config, self.db):
                self._sources[(built.ref.brand, built.ref.source)] = built
        try:
            return self._sources[(brand, source)]
        except KeyError:
            raise LookupError(f"no enabled source {source!r} for brand {brand!r} in the configuration") from None

    @staticmethod
    def now() -> datetime:
        return datetime.now(UTC)


_STATE: WorkerState | None = None


def start(config_path: str | None, *, config: Config | None = None) -> WorkerState:
    """Load the configuration and open the database for this process."""
    global _STATE
    config = config or load_config(config_path)
    _STATE = WorkerState(config=config, db=Database(config.database_url()))
    return _STATE


def current() -> WorkerState:
    if _STATE is None:
        raise RuntimeError("worker state not initialised: run tasks through `repmon worker`")
    return _STATE
