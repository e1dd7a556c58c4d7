"""A real cluster for tests and the benchmark: a fresh PostgreSQL schema, a file export, `repmon worker`
processes started as separate OS processes, and queries that say when the pipeline is done."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

import psycopg

REPO = Path(__file__).resolve().parents[2]
REPMON = [str(Path(sys.executable).with_name("repmon"))]  # the console script of this environment
PSEUDONYM_KEY = "cluster-test-key-0123456789abcdef0123456789"

COMPLAINTS = [
    "{brand} support has not answered me for {n} days, I need help with my {thing}",
    "Terrible service from {brand}, my {thing} is blocked and nobody helps, please help",
    "{brand} kundtjänst svarar inte, jag behöver hjälp med min {ting}, katastrof",
]
NEUTRAL = [
    "Reading about {brand} and the {thing} news from {place} today",
    "{brand} opens a new office in {place}, {n} new jobs",
    "Great experience with {brand} in {place}, thanks for the quick answer about my {thing}",
    "{brand} har nya öppettider i {place} från den {n} juni",
]
THINGS = ["refund", "card", "invoice", "account", "loan", "app login", "transfer", "mortgage", "pension", "bill"]
TINGS = ["faktura", "återbetalning", "kort", "inloggning", "överföring", "pension"]
PLACES = ["Malmö", "Göteborg", "Oslo", "Aarhus", "Bergen", "Uppsala", "Odense", "Lund", "Tromsø", "Umeå"]
WORDS = ["quick", "slow", "early", "late", "sunny", "rainy", "busy", "quiet", "long", "short", "new", "old"]


def mention_text(i: int, brand: str, complaint: bool) -> str:
    """Varied text (so mentions do not all fold into a handful of stories), deterministic by index."""
    pool = COMPLAINTS if complaint else NEUTRAL
    base = pool[i % len(pool)].format(
        brand=brand,
        n=2 + i % 9,
        thing=THINGS[i % len(THINGS)],
        ting=TINGS[i % len(TINGS)],
        place=PLACES[(i // 3) % len(PLACES)],
    )
    extra = " ".join(WORDS[(i * k) % len(WORDS)] for k in (3, 5, 7))
    return f"{base} ({extra} #{i})"


def libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def reset_database(url: str) -> None:
    """Empty the test database: our tables and procrastinate's, so every run starts from nothing."""
    with psycopg.connect(libpq(url), autocommit=True) as conn:
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")


def write_export(path: Path, count: int, brand: str = "Acme", *, complaint_every: int = 10) -> list[str]:
    """`count` recent mentions as JSON Lines; every `complaint_every`-th one is an unhappy customer."""
    now = datetime.now(UTC)
    ids = []
    with path.open("w", encoding="utf-8") as out:
        for i in range(count):
            text = mention_text(i, brand, complaint=i % complaint_every == 0)
            external_id = f"m{i:06d}"
            ids.append(external_id)
            row = {
                "id": external_id,
                "text": text,
                "url": f"https://example.social/@user{i % 37}/{i}",
                "author": f"user{i % 37}",
                "created_at": (now - timedelta(minutes=30) + timedelta(seconds=i)).isoformat(),
                "likes": i % 5,
            }
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    return ids


def write_config(path: Path, export: Path, *, page_size: int = 64, interval: str = "2s") -> Path:
    path.write_text(
        f"""
[[brands]]
name = "Acme"

[[brands.sources]]
name = "export"
connector = "file"
interval = "{interval}"
settings = {{ path = "{export}", page_size = {page_size} }}

[model]
scorer = "lexicon"
batch_size = 64

[daemon]
pipeline_interval = "5s"

[alerts]
default_console = true
""",
        encoding="utf-8",
    )
    return path


def env(url: str, config: Path) -> dict[str, str]:
    return {
        **os.environ,
        "REPMON_CONFIG": str(config),
        "REPMON_DATABASE_URL": url,
        "REPMON_PSEUDONYM_KEY": PSEUDONYM_KEY,
        "PYTHONUNBUFFERED": "1",
        "OMP_NUM_THREADS": "1",
    }


def repmon(args: list[str], url: str, config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*REPMON, *args], env=env(url, config), capture_output=True, text=True, timeout=120)


@dataclass
class WorkerNode:
    """One `repmon worker` (a supervisor and its worker processes) running as its own OS process."""

    process: subprocess.Popen[bytes]
    stdout: Path
    stderr: Path
    _files: list[IO[bytes]] = field(default_factory=list)

    def children(self) -> list[int]:
        """PIDs of the worker processes (children of the supervisor)."""
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    stat = (entry / "stat").read_text()
                    ppid = int(stat.rsplit(")", 1)[1].split()[1])
                    cmdline = (entry / "cmdline").read_bytes() if ppid == self.process.pid else b""
                except OSError:
                    continue
                if b"spawn_main" in cmdline:  # not multiprocessing's resource tracker
                    found.append(int(entry.name))
        return found

    def stop(self, timeout: float = 60) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for handle in self._files:
            handle.close()
        return self.process.returncode


def start_worker(
    url: str,
    config: Path,
    logdir: Path,
    name: str,
    *,
    processes: int,
    queues: str = "fetch,score,detect,alert",
    metrics_port: int | None = None,
) -> WorkerNode:
    stdout, stderr = logdir / f"{name}.out", logdir / f"{name}.err"
    out, err = stdout.open("wb"), stderr.open("wb")
    args = [*REPMON, "worker", "--queues", queues, "--concurrency", str(processes)]
    args += ["--heartbeat", "1", "--stalled-after", "4", "--grace", "20"]
    if metrics_port is not None:
        args += ["--metrics-port", str(metrics_port)]
    process = subprocess.Popen(args, env=env(url, config), stdout=out, stderr=err, start_new_session=True)
    return WorkerNode(process, stdout, stderr, [out, err])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def query(url: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(libpq(url), autocommit=True) as conn:
        return conn.execute(sql, params).fetchall()  # type: ignore[arg-type]


def scalar(url: str, sql: str, *params: Any) -> Any:
    return query(url, sql, *params)[0][0]


def wait_for(condition: Callable[[], bool], timeout: float, what: str, nodes: list[WorkerNode] = ()) -> float:  # type: ignore[assignment]
    """Poll `condition` until true; the failure message carries the workers' logs."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if condition():
            return time.monotonic() - start
        for node in nodes:
            if node.process.poll() is not None:
                raise AssertionError(
                    f"worker exited with {node.process.returncode}:\n{node.stderr.read_text()[-4000:]}"
                )
        time.sleep(0.2)
    logs = "\n".join(node.stderr.read_text()[-3000:] for node in nodes)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}\n{logs}")


def pipeline_done(url: str, expected_mentions: int) -> bool:
    """All mentions stored and scored, no job waiting or running except future periodic ticks, an alert
    posted and the outbox drained."""
    mentions, unscored = query(url, "SELECT count(*), count(*) FILTER (WHERE scored_at IS NULL) FROM mentions")[0]
    if mentions < expected_mentions or unscored:
        return False
    busy = scalar(
        url,
        "SELECT count(*) FROM procrastinate_jobs WHERE queue_name IN ('score', 'detect', 'alert') "
        "AND (status = 'doing' OR (status = 'todo' AND (scheduled_at IS NULL OR scheduled_at <= now())))"
        " AND task_name IN ('score_mentions', 'deliver_outbox')",
    )
    undelivered = scalar(url, "SELECT count(*) FROM outbox WHERE status IN ('pending', 'in_flight')")
    # A delivered post, not merely an alert row: an unrouted informational alert (a low spike) can exist
    # before the detect run that reads the last committed complaint scores, and "done" then came too early.
    posted = scalar(url, "SELECT count(*) FROM outbox WHERE action = 'post' AND status = 'delivered'")
    return busy == 0 and undelivered == 0 and posted > 0
