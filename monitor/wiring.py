"""Wiring: the one place that turns the configuration into running parts.

Connectors (one runtime per enabled source), the scorer and the sinks are plugins found through entry
points; which ones run, and with what settings, is the configuration's business. Everything that builds
them lives here so the daemon, the cluster workers and the CLIs build them the same way, and no stage
package has to know about `monitor.config` (the stages only see the plain objects built here).
"""

from __future__ import annotations

import inspect
import logging
from typing import Any

from models.config import ModelConfig
from monitor.config import Config
from monitor.kernel import plugins
from monitor.kernel.clock import Clock, SystemClock
from monitor.kernel.store.catalog import ensure_source
from monitor.kernel.store.engine import Database
from monitor.kernel.types import BrandQuery, Scorer, Sink, SourceError
from monitor.sync import HealthPolicy, SourceRuntime, config_fingerprint, record_failure, refresh_fingerprint

log = logging.getLogger(__name__)


def make_connector(factory: Any, settings: Any, clock: Clock | None) -> Any:
    """Instantiate a connector; one that accepts `clock` (() -> datetime) gets ours (the demo's fast time)."""
    try:
        accepts_clock = "clock" in inspect.signature(factory).parameters
    except (TypeError, ValueError):
        accepts_clock = False
    if accepts_clock and clock is not None:
        return factory(settings, clock=clock.now)
    return factory(settings)


def build_source_runtimes(config: Config, db: Database, clock: Clock | None = None) -> list[SourceRuntime]:
    """One runtime per enabled source, with its database rows created or found by name."""
    from monitor.matching import compile_query

    runtimes: list[SourceRuntime] = []
    now = (clock or SystemClock()).now()
    for brand in config.brands:
        expression = brand.query_expression()
        matcher = compile_query(expression)
        query = BrandQuery(brand=brand.name, terms=brand.terms, query=expression, languages=tuple(brand.languages))
        for source in brand.sources:
            if not source.enabled:
                continue
            fingerprint = config_fingerprint(source.connector, source.connector_settings, expression)
            with db.transaction() as session:
                ref = ensure_source(session, brand.name, source.name, source.connector)
                refresh_fingerprint(session, ref.source_id, fingerprint, now)
            try:
                factory = plugins.load("connectors", source.connector)
                connector = make_connector(factory, source.connector_settings, clock)
            except Exception as exc:  # one unusable source must not keep the others from running
                error = SourceError("config", f"connector could not be started: {type(exc).__name__}: {exc}")
                with db.transaction() as session:
                    record_failure(session, ref.source_id, error, now, source.interval, HealthPolicy())
                continue
            runtimes.append(
                SourceRuntime(
                    ref=ref,
                    connector=connector,
                    query=query,
                    matcher=matcher,
                    interval=source.interval,
                    jitter=source.jitter,
                    repoll=source.repoll,
                    fingerprint=fingerprint,
                )
            )
    return runtimes


def build_sinks(config: Config, unavailable: dict[str, str] | None = None) -> dict[str, Sink]:
    """Every installed sink that can be built from the configuration and environment.

    A sink is built with `from_config(alerts_config)` when it has one, else with no arguments; one that
    cannot be built (e.g. no Slack token set) is left out, and why goes into `unavailable` (sink -> reason):
    the sender prints those sinks' alerts on the console instead and logs that reason.
    """
    sinks: dict[str, Sink] = {}
    for name, factory in plugins.load_all("sinks").items():
        try:
            from_config = getattr(factory, "from_config", None)
            sinks[name] = from_config(config.alerts) if callable(from_config) else factory()
        except Exception as exc:  # a missing token must not stop the other sinks
            log.info("sink %s not available: %s", name, exc)
            if unavailable is not None:
                unavailable[name] = str(exc)
    return sinks


def load_scorer(config: ModelConfig) -> Scorer:
    """The configured scorer plugin: built with `from_config(config)` if it has one, else with no arguments."""
    factory = plugins.load("scorers", config.scorer)
    from_config = getattr(factory, "from_config", None)
    scorer = from_config(config) if callable(from_config) else factory()
    if not isinstance(scorer, Scorer):
        raise plugins.PluginError(f"scorer {config.scorer!r} does not implement score(batch) and version")
    return scorer
