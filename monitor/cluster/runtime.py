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
from monitor.store.engine import Database

log = logging.getLogger(__name__)


@dataclass
class WorkerState:
    config: Config
    db: Database
    _sources: dict[tuple[str, str], Any] = field(default_factory=dict)

    @cached_property
    def scorer(self) -> Any:
        from monitor.pipeline import load_scorer

        return load_scorer(self.config.model)

    @cached_property
    def router(self) -> Any:
        from alerts.router import Router

        return Router(self.config.alerts)

    @cached_property
    def sender(self) -> Any:
        from alerts.sender import OutboxSender

        return OutboxSender(self.db, build_sinks(self.config), self.config.alerts.outbox)

    @cached_property
    def pseudonymiser(self) -> Any:
        return self.config.pseudonymiser()

    def source(self, brand: str, source: str) -> Any:
        """The SourceRuntime of one configured source (connector built once per process)."""
        key = (brand, source)
        if key not in self._sources:
            self._sources[key] = build_source_runtime(self.config, self.db, brand, source)
        return self._sources[key]

    @staticmethod
    def now() -> datetime:
        return datetime.now(UTC)


def build_source_runtime(config: Config, db: Database, brand_name: str, source_name: str) -> Any:
    """Connector, query, matcher and row ids of one configured source, from the shared building blocks."""
    from monitor import plugins
    from monitor.matching import compile_query
    from monitor.store.catalog import ensure_source
    from monitor.sync import SourceRuntime, config_fingerprint, refresh_fingerprint
    from monitor.types import BrandQuery

    brand = next((b for b in config.brands if b.name == brand_name), None)
    source = next((s for s in brand.sources if (s.name or s.connector) == source_name), None) if brand else None
    if brand is None or source is None or not source.enabled:
        raise LookupError(f"no enabled source {source_name!r} for brand {brand_name!r} in the configuration")
    expression = brand.query_expression()
    settings = source.connector_settings
    fingerprint = config_fingerprint(source.connector, settings, expression)
    with db.transaction() as session:
        ref = ensure_source(session, brand.name, source_name, source.connector)
        refresh_fingerprint(session, ref.source_id, fingerprint, datetime.now(UTC))
    return SourceRuntime(
        ref=ref,
        connector=plugins.load("connectors", source.connector)(settings),
        query=BrandQuery(brand=brand.name, terms=brand.terms, query=expression, languages=tuple(brand.languages)),
        matcher=compile_query(expression),
        interval=source.interval,
        fingerprint=fingerprint,
    )


def build_sinks(config: Config) -> dict[str, Any]:
    """The sinks the routes deliver to. Uses the daemon's builder when it is installed."""
    try:
        from monitor.daemon import build_sinks as daemon_sinks  # type: ignore[attr-defined]
    except ImportError:
        from alerts.sinks.console import ConsoleSink

        log.warning("monitor.daemon.build_sinks not available: delivering to the console sink only")
        return {"console": ConsoleSink()}
    return dict(daemon_sinks(config))


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
