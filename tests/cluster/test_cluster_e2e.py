"""Proof of cluster mode on the real PostgreSQL with several worker PROCESSES (separate `repmon worker`
OS processes, each supervising its own worker processes): mentions from a file export go through
fetch -> score -> detect -> alert, each exactly once, through a SIGKILL and a PostgreSQL restart."""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import urllib.request
from collections import Counter
from pathlib import Path

import psycopg
import pytest

from tests.cluster.harness import (
    WorkerNode,
    free_port,
    libpq,
    pipeline_done,
    query,
    repmon,
    reset_database,
    scalar,
    start_worker,
    wait_for,
    write_config,
    write_export,
)

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


@pytest.fixture
def cluster(pg_url: str, tmp_path: Path):
    """A migrated database, an export and a config; yields a function starting worker nodes."""
    reset_database(pg_url)
    export = tmp_path / "export.jsonl"
    config = write_config(tmp_path / "repmon.toml", export)
    nodes: list[WorkerNode] = []

    def migrate_and_export(count: int) -> list[str]:
        ids = write_export(export, count)
        for command in (["db", "upgrade"], ["db", "queue-schema"], ["db", "queue-schema"]):
            done = repmon(command, pg_url, config)
            assert done.returncode == 0, done.stderr
        return ids

    def start(name: str, processes: int, **kwargs) -> WorkerNode:
        node = start_worker(pg_url, config, tmp_path, name, processes=processes, **kwargs)
        nodes.append(node)
        return node

    yield migrate_and_export, start, nodes
    for node in nodes:
        node.stop()


def assert_each_processed_once(url: str, external_ids: list[str], nodes: list[WorkerNode]) -> None:
    # stored once each
    stored = query(url, "SELECT external_id, count(*) FROM mentions GROUP BY 1")
    assert sorted(e for e, _ in stored) == sorted(external_ids)
    assert {n for _, n in stored} == {1}
    # scored once each: one score row per mention, and the succeeded score jobs partition the mentions
    assert scalar(url, "SELECT count(*) FROM scores") == len(external_ids)
    batches = [
        args["mention_ids"]
        for (args,) in query(
            url, "SELECT args FROM procrastinate_jobs WHERE task_name = 'score_mentions' AND status = 'succeeded'"
        )
    ]
    covered = Counter(i for batch in batches for i in batch)
    all_ids = {i for (i,) in query(url, "SELECT id FROM mentions")}
    assert set(covered) == all_ids and set(covered.values()) == {1}, "a mention was in two score jobs"
    assert max(len(b) for b in batches) <= 64 and len(batches) < len(external_ids) / 16  # batches, not singles
    # alerts: one per key (schema), and every delivery claimed once and printed once by the console sink
    posts = query(url, "SELECT id, attempts FROM outbox WHERE action = 'post' AND status = 'delivered'")
    assert posts, "the complaints raised no alert"
    assert {attempts for _, attempts in posts} == {1}, "an alert delivery was attempted twice"
    printed = sum(
        1
        for node in nodes
        for line in node.stdout.read_text().splitlines()
        if line.startswith("[") and "] " in line
    )
    assert printed == len(posts) + scalar(url, "SELECT count(*) FROM outbox WHERE action = 'digest'")
    assert scalar(url, "SELECT count(*) FROM outbox WHERE status = 'dead'") == 0


def fetches_never_overlapped(url: str) -> bool:
    """The lock per (brand, source): no two fetch jobs of the source were running at the same time."""
    spans = query(
        url,
        "SELECT min(e.at) FILTER (WHERE e.type = 'started'), max(e.at) FILTER (WHERE e.type IN "
        "('succeeded', 'failed')) FROM procrastinate_jobs j JOIN procrastinate_events e ON e.job_id = j.id "
        "WHERE j.task_name = 'fetch_source' GROUP BY j.id HAVING min(e.at) FILTER (WHERE e.type = 'started') "
        "IS NOT NULL ORDER BY 1",
    )
    finished = [(start, end) for start, end in spans if end is not None]
    return all(prev_end <= start for (_, prev_end), (start, _) in itertools.pairwise(finished))


def test_mentions_flow_through_several_worker_processes_exactly_once(cluster, pg_url: str) -> None:
    migrate_and_export, start, nodes = cluster
    ids = migrate_and_export(400)
    port = free_port()
    start("node-a", processes=2, metrics_port=port)
    start("node-b", processes=2)
    wait_for(lambda: pipeline_done(pg_url, len(ids)), 240, "the pipeline to drain", nodes)
    health = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10).read())
    assert health["worker_processes"] == 2 and len(health["pids"]) == 2
    metrics = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    assert "repmon_worker_processes 2.0" in metrics
    assert "repmon_mentions_unscored 0.0" in metrics and "repmon_database_up 1.0" in metrics
    assert re.search(r'repmon_queue_jobs\{queue="score",status="succeeded"\} [1-9]', metrics)
    assert float(re.search(r"^repmon_cluster_workers (\S+)$", metrics, re.MULTILINE).group(1)) == 4
    assert_each_processed_once(pg_url, ids, nodes)
    assert fetches_never_overlapped(pg_url)
    # four processes scheduled the periodic fetch; the database deferred each tick once
    ticks = query(
        pg_url,
        "SELECT args->>'timestamp', count(*) FROM procrastinate_jobs WHERE task_name = 'fetch_source' GROUP BY 1",
    )
    assert ticks and {n for _, n in ticks} == {1}
    for node in nodes:  # SIGTERM: graceful, exit code 0
        assert node.stop() == 0


def test_a_worker_killed_mid_batch_loses_nothing_and_duplicates_no_alert(cluster, pg_url: str) -> None:
    migrate_and_export, start, nodes = cluster
    ids = migrate_and_export(300)
    # Hold a row lock on one mention, so the score job of its batch blocks inside its transaction
    # (after it has locked the rows before it): a deterministic "mid-batch" without test hooks.
    # The scorer node starts only once the lock is held: started earlier, it could score that batch
    # before the lock was taken, and no job would ever block (a fresh-clone CI run timed out so).
    blocker = psycopg.connect(libpq(pg_url))
    start("rest", processes=1, queues="fetch,detect,alert")
    wait_for(lambda: scalar(pg_url, "SELECT count(*) FROM mentions") >= 100, 120, "the first pages", nodes)
    victim = scalar(pg_url, "SELECT max(id) FROM mentions WHERE id <= 64")
    blocker.execute("SELECT id FROM mentions WHERE id = %s FOR UPDATE", (victim,))
    scorer_node = start("scorer", processes=2, queues="score")
    wait_for(
        lambda: bool(
            query(
                pg_url,
                "SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query ILIKE "
                "'%%FROM mentions%%FOR UPDATE%%'",
            )
        ),
        120,
        "a score job to block on the held row",
        nodes,
    )
    job_id, worker_id = query(
        pg_url,
        "SELECT id, worker_id FROM procrastinate_jobs WHERE task_name = 'score_mentions' AND status = 'doing' "
        "AND (args->'mention_ids') @> to_jsonb(%s::bigint)",
        victim,
    )[0]
    blocked_pid = scalar(
        pg_url, "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query ILIKE '%%FOR UPDATE%%'"
    )
    children = scorer_node.children()
    # The backend is blocked; find which worker process owns it through its client port.
    port = scalar(pg_url, "SELECT client_port FROM pg_stat_activity WHERE pid = %s", blocked_pid)
    owner = next(pid for pid in children if _owns_local_port(pid, port))
    os.kill(owner, signal.SIGKILL)
    blocker.rollback()
    blocker.close()
    wait_for(lambda: pipeline_done(pg_url, len(ids)), 240, "recovery after the SIGKILL", nodes)
    # the killed job was re-run once by the stalled-job sweep, and succeeded on that second run
    status = scalar(pg_url, "SELECT status FROM procrastinate_jobs WHERE id = %s", job_id)
    events = Counter(
        t for (t,) in query(pg_url, "SELECT type FROM procrastinate_events WHERE job_id = %s", job_id)
    )
    assert status == "succeeded"
    assert (events["started"], events["deferred_for_retry"], events["succeeded"]) == (2, 1, 1), events
    assert worker_id is not None
    assert_each_processed_once(pg_url, ids, nodes)
    assert len(scorer_node.children()) == 2  # the supervisor replaced the killed process


def _owns_local_port(pid: int, port: int) -> bool:
    """Whether process `pid` has a TCP socket bound to local `port` (from /proc, no psutil needed)."""
    inodes = set()
    fd_dir = Path(f"/proc/{pid}/fd")
    try:
        for fd in fd_dir.iterdir():
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    except OSError:
        return False
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[9] in inodes:
                return True
    return False


def _restart_command() -> list[str] | None:
    versions = sorted(os.listdir("/etc/postgresql")) if os.path.isdir("/etc/postgresql") else []
    if not versions or shutil.which("pg_ctlcluster") is None:
        return None
    return ["pg_ctlcluster", "--skip-systemctl-redirect", versions[-1], "main", "restart"]


@pytest.mark.skipif(
    os.environ.get("REPMON_TEST_PG_RESTART") != "1" or _restart_command() is None,
    reason="restarts the shared PostgreSQL server: opt in with REPMON_TEST_PG_RESTART=1 (needs pg_ctlcluster)",
)
def test_a_postgresql_restart_during_the_run_is_survived(cluster, pg_url: str) -> None:
    migrate_and_export, start, nodes = cluster
    ids = migrate_and_export(600)
    start("node-a", processes=2)
    start("node-b", processes=1)
    wait_for(lambda: scalar(pg_url, "SELECT count(*) FROM scores") >= 64, 120, "scoring to be under way", nodes)
    restart = subprocess.run(_restart_command(), capture_output=True, text=True, timeout=60)  # type: ignore[arg-type]
    assert restart.returncode == 0, restart.stderr
    wait_for(lambda: _reachable(pg_url), 60, "PostgreSQL to accept connections again")
    wait_for(lambda: pipeline_done(pg_url, len(ids)), 300, "the pipeline to finish after the restart", nodes)
    assert_each_processed_once(pg_url, ids, nodes)
    assert all(node.process.poll() is None for node in nodes)  # supervisors rode it out


def _reachable(url: str) -> bool:
    try:
        with psycopg.connect(libpq(url), connect_timeout=2):
            return True
    except psycopg.OperationalError:
        return False
