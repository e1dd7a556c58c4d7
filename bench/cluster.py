"""Cluster throughput: mentions scored per second with 1, 2 and 4 worker processes, and the ratios.

    .venv/bin/python bench/cluster.py [--mentions 3000] [--repeats 3] [--scorer lexicon] [--processes 1,2,4]

For each run: a fresh PostgreSQL database; a fetch-only worker imports the export (the score jobs, 64
mentions each, are deferred in the page transactions) and stops; then `repmon worker --queues score
--concurrency P` drains them (detection and delivery run on a separate one-process node).
Throughput = mentions / (last score job finished - first score job started), from procrastinate's
event timestamps in the database, so process start-up (imports, model load) is not counted. Also
printed: the CPU time the score processes used while scoring, as a share of their cores: near 100 %
means they were busy with work (scoring, grouping, queries' client side); well below means they were
waiting (for a core on a loaded machine, for PostgreSQL, or for locks); and what the database's active
sessions were doing meanwhile (sampled from pg_stat_activity: running, or waiting on locks or I/O). Prints
the median over the repeats. Needs the PostgreSQL server at REPMON_TEST_PG_URL (default postgresql+psycopg://postgres@127.0.0.1:5432/postgres).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.cluster.harness import libpq, query, repmon, scalar, start_worker, wait_for, write_config, write_export

ADMIN_URL = os.environ.get("REPMON_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds of these processes so far (Linux /proc)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / os.sysconf("SC_CLK_TCK")


class WaitSampler(threading.Thread):
    """What this database's active sessions are doing while scoring, sampled every 50 ms from
    pg_stat_activity: running (no wait event), or waiting on a lock, on I/O (e.g. the commit's WAL
    flush), on the client... Row-lock waits are workers queueing on each other, not useful work."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.stop = threading.Event()
        self.seen: Counter[tuple[str, str]] = Counter()

    def run(self) -> None:
        with psycopg.connect(libpq(self.url), autocommit=True) as conn:
            while not self.stop.wait(0.05):
                rows = conn.execute(
                    "SELECT coalesce(wait_event_type, 'running'), coalesce(wait_event, '') FROM pg_stat_activity "
                    "WHERE datname = current_database() AND state = 'active' AND pid <> pg_backend_pid()"
                ).fetchall()
                self.seen.update((kind, event) for kind, event in rows)

    def summary(self) -> str:
        total = sum(self.seen.values()) or 1
        top = ", ".join(
            f"{kind} {event}".strip() + f" {n / total:.0%}" for (kind, event), n in self.seen.most_common(5)
        )
        return f"active database sessions while scoring ({total} sampled): {top}"


def one_run(processes: int, mentions: int, scorer: str, workdir: Path) -> float:
    name = f"repmon_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(libpq(ADMIN_URL), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    try:
        export = workdir / "export.jsonl"
        write_export(export, mentions)
        config = write_config(workdir / "repmon.toml", export, page_size=500, interval="2s")
        text = config.read_text().replace('scorer = "lexicon"', f'scorer = "{scorer}"')
        config.write_text(text)
        for command in (["db", "upgrade"], ["db", "queue-schema"]):
            done = repmon(command, url, config)
            if done.returncode:
                raise SystemExit(done.stderr)
        fetcher = start_worker(url, config, workdir, f"fetch-{processes}", processes=1, queues="fetch")
        wait_for(lambda: scalar(url, "SELECT count(*) FROM mentions") >= mentions, 600, "the import", [fetcher])
        fetcher.stop()
        # detection and delivery on a node of their own: the measured processes only score
        rest = start_worker(url, config, workdir, f"rest-{processes}", processes=1, queues="detect,alert")
        scorers = start_worker(url, config, workdir, f"score-{processes}", processes=processes, queues="score")
        wait_for(lambda: scalar(url, "SELECT count(*) FROM scores") > 0, 600, "the first score", [scorers, rest])
        backends = [
            int(pid)
            for (pid,) in query(url, "SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
        ]
        cpu_start, wall_start = cpu_seconds(scorers.children()), time.monotonic()  # start-up not counted
        others_start = cpu_seconds(rest.children()), cpu_seconds(backends)
        sampler = WaitSampler(url)
        sampler.start()
        wait_for(
            lambda: scalar(url, "SELECT count(*) FROM mentions WHERE scored_at IS NULL") == 0,
            1200,
            "scoring",
            [scorers, rest],
        )
        sampler.stop.set()
        sampler.join()
        cpu, wall = cpu_seconds(scorers.children()) - cpu_start, time.monotonic() - wall_start
        detect_cpu = cpu_seconds(rest.children()) - others_start[0]
        database_cpu = cpu_seconds(backends) - others_start[1]
        scorers.stop()
        rest.stop()
        span = scalar(
            url,
            "SELECT EXTRACT(EPOCH FROM max(e.at) FILTER (WHERE e.type = 'succeeded') - min(e.at) FILTER "
            "(WHERE e.type = 'started')) FROM procrastinate_events e JOIN procrastinate_jobs j ON j.id = e.job_id "
            "WHERE j.task_name = 'score_mentions'",
        )
        durations = dict(
            (task, float(ms))
            for task, ms in query(
                url,
                "SELECT j.task_name, percentile_cont(0.5) WITHIN GROUP "
                "(ORDER BY EXTRACT(EPOCH FROM f.at - s.at) * 1000) "
                "FROM procrastinate_jobs j JOIN procrastinate_events s ON s.job_id = j.id AND s.type = 'started' "
                "JOIN procrastinate_events f ON f.job_id = j.id AND f.type = 'succeeded' GROUP BY 1",
            )
        )
        print("    median job duration (ms): " + ", ".join(f"{t} {d:.0f}" for t, d in sorted(durations.items())))
        print(
            f"    score processes: {cpu:.1f} CPU s in {wall:.1f} s wall = {cpu / wall / processes:.0%} of "
            f"{processes} core(s) busy; {1000 * cpu / mentions:.2f} CPU ms per mention"
        )
        print(
            f"    meanwhile: detect/deliver node {detect_cpu:.1f} CPU s, this database's PostgreSQL backends "
            f"{database_cpu:.1f} CPU s ({1000 * database_cpu / mentions:.2f} ms per mention; backends opened "
            f"after scoring began are not counted), of {(os.cpu_count() or 1) * wall:.0f} core-seconds here"
        )
        print("    " + sampler.summary())
        return mentions / float(span)
    finally:
        with psycopg.connect(libpq(ADMIN_URL), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mentions", type=int, default=3000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--scorer", default="lexicon")
    parser.add_argument("--processes", default="1,2,4", help="worker process counts to compare (first = base)")
    args = parser.parse_args()
    counts = [int(p) for p in args.processes.split(",")]
    print(
        f"cluster throughput: {args.mentions} mentions, scorer {args.scorer}, {args.repeats} repeats, "
        f"{os.cpu_count()} CPUs visible"
    )
    results: dict[int, list[float]] = {p: [] for p in counts}
    with tempfile.TemporaryDirectory(prefix="repmon-bench-") as tmp:
        for repeat in range(args.repeats):
            for processes in counts:  # interleaved, so drift in machine load hits all alike
                started = time.monotonic()
                rate = one_run(processes, args.mentions, args.scorer, Path(tmp))
                results[processes].append(rate)
                print(
                    f"  run {repeat + 1}: {processes} process(es): {rate:8.1f} mentions/s "
                    f"(run took {time.monotonic() - started:.0f}s)"
                )
    base = statistics.median(results[counts[0]])
    for processes in counts:
        rate = statistics.median(results[processes])
        runs = ", ".join(f"{r:.0f}" for r in results[processes])
        print(
            f"median {processes} worker process(es): {rate:8.1f} mentions/s  "
            f"ratio {processes}/{counts[0]}: {rate / base:.2f}  (runs: {runs})"
        )


if __name__ == "__main__":
    main()
