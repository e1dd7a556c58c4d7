"""`repmon worker`'s process pool: N worker processes, restarted when they die, stopped gracefully.

WHY processes: scoring is CPU-bound Python/torch work; threads in one interpreter would serialise on the
GIL, and procrastinate runs synchronous tasks in threads. So each process runs one procrastinate worker
with concurrency 1 and the pool is sized to the cores (torch gets cores / processes threads each).
WHY restart here: a worker stops itself when it loses the database (e.g. a PostgreSQL restart breaks its
LISTEN connection); the supervisor starts a fresh one with backoff until the database is back, and the
job the dead one held is recovered by the stalled-job sweep (monitor.cluster.tasks.retry_stalled_jobs).
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import signal
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from multiprocessing.process import BaseProcess
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from monitor.cluster.worker import WorkerOptions, child_main

log = logging.getLogger(__name__)

MIN_RESTART_DELAY = 0.5
MAX_RESTART_DELAY = 30.0
HEALTHY_RUN_SECONDS = 60.0  # a process that ran this long resets the restart backoff


@dataclass
class Slot:
    index: int
    process: BaseProcess | None = None
    started_at: float = 0.0
    delay: float = MIN_RESTART_DELAY
    restart_at: float = 0.0
    restarts: int = 0


@dataclass
class Supervisor:
    options: WorkerOptions
    processes: int
    grace_seconds: float = 60.0
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        self._ctx = multiprocessing.get_context("spawn")  # never fork a process that may hold threads
        self._stop = threading.Event()
        self.slots = [Slot(i) for i in range(self.processes)]
        self._alive = Gauge(
            "repmon_worker_processes", "Worker processes alive on this node", registry=self.registry
        )
        self._restarts = Counter(
            "repmon_worker_restarts", "Worker processes restarted after they exited", registry=self.registry
        )

    # ------------------------------------------------------------------ lifecycle

    def stop(self, *_: Any) -> None:
        self._stop.set()

    def run(self) -> int:
        """Supervise until SIGTERM/SIGINT; returns the exit code."""
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)
        threads = max(1, (os.cpu_count() or 1) // self.processes)
        os.environ.setdefault("OMP_NUM_THREADS", str(threads))  # inherited by the spawned children
        os.environ.setdefault("MKL_NUM_THREADS", str(threads))
        log.info("starting %d worker processes on queues %s", self.processes, ",".join(self.options.queues))
        for slot in self.slots:
            self._start(slot)
        while not self._stop.wait(0.2):
            self._reap_and_restart()
        return self._shutdown()

    def alive(self) -> int:
        return sum(1 for s in self.slots if s.process is not None and s.process.is_alive())

    def pids(self) -> list[int]:
        return [s.process.pid for s in self.slots if s.process is not None and s.process.pid is not None]

    def _start(self, slot: Slot) -> None:
        options = self.options.for_process(slot.index)
        slot.process = self._ctx.Process(target=child_main, args=(options,), name=options.name, daemon=False)
        slot.process.start()
        slot.started_at = time.monotonic()
        log.info("worker process %s started (pid %s)", options.name, slot.process.pid)
        self._alive.set(self.alive())

    def _reap_and_restart(self) -> None:
        now = time.monotonic()
        for slot in self.slots:
            process = slot.process
            if process is not None and not process.is_alive():
                process.join(0)
                ran = now - slot.started_at
                slot.delay = (
                    MIN_RESTART_DELAY if ran >= HEALTHY_RUN_SECONDS else min(slot.delay * 2, MAX_RESTART_DELAY)
                )
                slot.restart_at = now + slot.delay
                log.warning(
                    "worker process %s (pid %s) exited with %s after %.1fs; restarting in %.1fs",
                    process.name,
                    process.pid,
                    process.exitcode,
                    ran,
                    slot.delay,
                )
                slot.process = None
            if slot.process is None and now >= slot.restart_at:
                slot.restarts += 1
                self._restarts.inc()
                self._start(slot)
        self._alive.set(self.alive())

    def _shutdown(self) -> int:
        log.info("stopping worker processes (grace %.0fs)", self.grace_seconds)
        running = [s.process for s in self.slots if s.process is not None and s.process.is_alive()]
        for process in running:
            if process.pid:
                os.kill(process.pid, signal.SIGTERM)  # procrastinate finishes the current job, then exits
        deadline = time.monotonic() + self.grace_seconds
        for process in running:
            process.join(max(0.0, deadline - time.monotonic()))
        for process in running:
            if process.is_alive():
                log.error("worker process %s did not stop in time; killing it", process.name)
                process.kill()
                process.join()
        self._alive.set(0)
        return 0


def serve_http(supervisor: Supervisor, host: str, port: int) -> ThreadingHTTPServer:
    """/metrics (node + database collectors) and /healthz (200 while at least one worker lives)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?")[0] == "/metrics":
                body, status, ctype = generate_latest(supervisor.registry), 200, CONTENT_TYPE_LATEST
            elif self.path.split("?")[0] == "/healthz":
                alive = supervisor.alive()
                payload = {
                    "worker_processes": alive,
                    "configured": supervisor.processes,
                    "pids": supervisor.pids(),
                }
                body, status, ctype = json.dumps(payload).encode(), 200 if alive else 503, "application/json"
            else:
                body, status, ctype = b"not found\n", 404, "text/plain"
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # scrapes are not news
            log.debug("http: " + format, *args)

    server = ThreadingHTTPServer((host, port), Handler)
    threading.Thread(target=server.serve_forever, name="repmon-worker-http", daemon=True).start()
    return server
