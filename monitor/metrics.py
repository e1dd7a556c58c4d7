"""Daemon observability: Prometheus `/metrics` and a `/healthz` probe on a localhost port.

Gauges that describe stored state (source health, outbox, backlog) are read from the database at scrape
time by the same collector the cluster workers use, so the embedded daemon and a cluster report the same
series; this process adds its own counters (fetched, stored, scored, alerts, pipeline duration).
"""

from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from sqlalchemy import Engine

from monitor.sync import source_problems

if TYPE_CHECKING:
    from monitor.daemon import Daemon, PipelineTick
    from monitor.sync import SyncResult

log = logging.getLogger(__name__)


class DaemonMetrics:
    """One registry per daemon (tests run several daemons in one process)."""

    def __init__(self, engine: Engine | None = None) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        labels = ["brand", "source"]
        self.fetched = Counter("repmon_mentions_fetched", "Mentions returned by connectors", labels, registry=r)
        self.stored = Counter(
            "repmon_mentions_stored", "New mentions stored (matched the brand)", labels, registry=r
        )
        self.sync_errors = Counter(
            "repmon_sync_errors", "Failed polls by error kind", [*labels, "kind"], registry=r
        )
        self.scored = Counter("repmon_mentions_scored", "Mentions scored", registry=r)
        self.alerts = Counter("repmon_alerts_recorded", "Alerts recorded by the router", registry=r)
        self.delivered = Counter("repmon_deliveries", "Outbox messages delivered", registry=r)
        self.pipeline_seconds = Histogram(
            "repmon_pipeline_seconds",
            "Duration of one pipeline pass (score, detect, route, deliver)",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
            registry=r,
        )
        self.integration_up = Gauge(
            "repmon_integration_up",
            "Optional integrations (Slack Socket Mode): 1 up, 0 failing; absent when not configured",
            ["integration"],
            registry=r,
        )
        if engine is not None:
            try:
                from monitor.cluster.metrics import DatabaseCollector
            except ImportError:  # the cluster extra's module is part of the package; guard anyway
                log.debug("database collector not available", exc_info=True)
            else:
                r.register(DatabaseCollector(engine))

    def observe_sync(self, brand: str, source: str, result: SyncResult) -> None:
        self.fetched.labels(brand, source).inc(result.fetched)
        self.stored.labels(brand, source).inc(result.stored.inserted)
        if result.error is not None:
            self.sync_errors.labels(brand, source, result.error.split(":", 1)[0]).inc()

    def observe_integration(self, name: str, status: str) -> None:
        if status == "off":
            return
        self.integration_up.labels(name).set(1 if status == "ok" else 0)

    def observe_tick(self, tick: PipelineTick) -> None:
        self.scored.inc(tick.scored)
        self.alerts.inc(tick.alerts)
        self.delivered.inc(tick.delivered)
        self.pipeline_seconds.observe(tick.seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class MetricsServer:
    """A tiny HTTP server for /metrics and /healthz; binds to localhost unless configured otherwise."""

    def __init__(self, daemon: Daemon, host: str = "127.0.0.1", port: int = 0) -> None:
        self.daemon = daemon
        self.httpd = ThreadingHTTPServer((host, port), self._handler())
        self.httpd.daemon_threads = True
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="repmon-metrics", daemon=True)

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.httpd.server_address[:2]
        return str(host), int(port)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        daemon = self.daemon

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    self._send(200, daemon.metrics.render(), CONTENT_TYPE_LATEST)
                elif path == "/healthz":
                    ok = daemon.healthy()
                    stats = daemon.stats
                    integrations = {n: st.as_json() for n, st in daemon.integrations.items()}
                    failing = any(st["status"] == "failing" for st in integrations.values())
                    failing = failing or bool(daemon.job_faults)
                    problems = source_problems(dict(stats.health))  # failing or disabled sources: not "ok"
                    body: dict[str, Any] = {
                        "status": ("degraded" if failing or problems else "ok") if ok else "stopping",
                        "integrations": integrations,
                        "jobs_failing": dict(daemon.job_faults),
                        "sinks_unavailable": dict(daemon.unavailable_sinks),
                        "sources": dict(stats.health),
                        "source_problems": problems,
                        "pipeline_runs": stats.ticks,
                        "last_pipeline_at": stats.last_tick_at.isoformat() if stats.last_tick_at else None,
                    }
                    self._send(200 if ok else 503, json.dumps(body).encode(), "application/json")
                else:
                    self._send(404, b"not found\n", "text/plain")

            def _send(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # scrapes are not news
                log.debug("metrics http: " + format, *args)

        return Handler
