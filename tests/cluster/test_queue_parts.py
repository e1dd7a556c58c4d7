"""The cluster's building blocks on the real PostgreSQL: job schema, deferring inside the data's
transaction, queueing locks, metrics read from the database, cron schedules."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import croniter
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from sqlalchemy import insert, select

from monitor.cluster.app import bind, conninfo, interval_cron, phase
from monitor.cluster.defer import build_job, chunks, defer_in_session, defer_once_in_session
from monitor.cluster.metrics import DatabaseCollector
from monitor.cluster.schema import ensure_queue_schema, queue_schema_present
from monitor.cluster.tasks import SCORE_BATCH, defer_scoring, score_mentions
from monitor.kernel.store.engine import Database
from monitor.kernel.store.migrate import upgrade
from monitor.kernel.store.tables import Brand, OutboxMessage, Source
from tests.cluster.harness import query, reset_database

pytestmark = pytest.mark.postgres


@pytest.fixture
def db(pg_url: str):
    reset_database(pg_url)
    upgrade(pg_url)
    assert ensure_queue_schema(pg_url) is True
    bind(pg_url)
    database = Database(pg_url)
    yield database
    database.dispose()


def jobs(url: str, task: str) -> list[tuple]:
    return query(
        url, "SELECT args, status, queueing_lock FROM procrastinate_jobs WHERE task_name = %s ORDER BY id", task
    )


def test_queue_schema_is_idempotent(db: Database, pg_url: str) -> None:
    assert queue_schema_present(pg_url)
    assert ensure_queue_schema(pg_url) is False  # second run: nothing to do, no error
    with pytest.raises(ValueError, match="PostgreSQL"):
        conninfo("sqlite:///x.db")


def test_jobs_commit_and_roll_back_with_the_rows_they_refer_to(db: Database, pg_url: str) -> None:
    with db.transaction() as session:
        session.execute(insert(Brand).values(name="Acme", created_at=datetime.now(UTC)))
        defer_scoring(session, list(range(1, 151)))
    committed = jobs(pg_url, "score_mentions")
    # 150 ids -> batches of 64, 64, 22: batched, never one job per mention.
    assert [len(args["mention_ids"]) for args, _, _ in committed] == [64, 64, 22]
    assert sorted(i for args, _, _ in committed for i in args["mention_ids"]) == list(range(1, 151))

    with pytest.raises(RuntimeError, match="boom"), db.transaction() as session:
        session.execute(insert(Brand).values(name="Rolled back", created_at=datetime.now(UTC)))
        defer_scoring(session, [999])
        raise RuntimeError("boom")
    assert len(jobs(pg_url, "score_mentions")) == 3  # the job vanished with its rows
    with db() as session:
        assert session.scalar(select(Brand.id).where(Brand.name == "Rolled back")) is None


def test_queueing_lock_clash_keeps_the_callers_transaction_alive(db: Database, pg_url: str) -> None:
    job = build_job(score_mentions, task_kwargs={"mention_ids": [1]}, queueing_lock="only-one")
    with db.transaction() as session:
        assert defer_once_in_session(session, job) is not None
        assert defer_once_in_session(session, job) is None  # waiting already: skipped, not an error
        session.execute(insert(Brand).values(name="Still committed", created_at=datetime.now(UTC)))
    with db() as session:
        assert session.scalar(select(Brand.id).where(Brand.name == "Still committed")) is not None
    assert len(jobs(pg_url, "score_mentions")) == 1


def test_metrics_report_queue_sources_and_outbox_from_the_database(db: Database, pg_url: str) -> None:
    now = datetime.now(UTC)
    with db.transaction() as session:
        brand = Brand(name="Acme")
        session.add(brand)
        session.flush()
        session.add(
            Source(brand_id=brand.id, name="export", connector="file", health="failing", last_success_at=now)
        )
        session.add(OutboxMessage(sink="slack", action="post", payload={}, idempotency_key="k1", status="dead"))
        session.add(OutboxMessage(sink="slack", action="post", payload={}, idempotency_key="k2"))
        defer_in_session(session, [build_job(score_mentions, task_kwargs={"mention_ids": [1, 2]})])
    registry = CollectorRegistry()
    registry.register(DatabaseCollector(db.engine))
    text = generate_latest(registry).decode()
    assert 'repmon_queue_jobs{queue="score",status="todo"} 1.0' in text
    assert 'repmon_source_health{brand="Acme",health="failing",source="export"} 1.0' in text
    assert 'repmon_source_health{brand="Acme",health="ok",source="export"} 0.0' in text
    assert 'repmon_outbox_messages{sink="slack",status="dead"} 1.0' in text
    assert re.search(r'repmon_outbox_oldest_pending_age_seconds\{sink="slack"\} [0-9.]+', text)
    assert "repmon_database_up 1.0" in text


def test_every_metric_the_alert_rules_use_is_exported(db: Database) -> None:
    from tests.cluster.test_deploy import DEPLOY, load_all, metric_names

    registry = CollectorRegistry()
    registry.register(DatabaseCollector(db.engine))
    exported = set(re.findall(r"^# TYPE (repmon_[a-z_]+) ", generate_latest(registry).decode(), re.MULTILINE))
    rules = load_all(DEPLOY / "prometheus" / "alerts.yaml")[0]
    used = set().union(*(metric_names(rule["expr"]) for group in rules["groups"] for rule in group["rules"]))
    assert used <= exported, f"alert rules use metrics nobody exports: {sorted(used - exported)}"


def test_metrics_survive_an_unreachable_database() -> None:
    registry = CollectorRegistry()
    registry.register(DatabaseCollector(Database("postgresql+psycopg://nobody@127.0.0.1:1/none").engine))
    assert "repmon_database_up 0.0" in generate_latest(registry).decode()


@pytest.mark.parametrize(
    ("interval", "step"),
    [
        (timedelta(seconds=2), 2),
        (timedelta(seconds=45), 30),
        (timedelta(minutes=5), 300),
        (timedelta(minutes=7), 360),
        (timedelta(hours=2), 7200),
    ],
)
def test_poll_interval_becomes_a_cron_that_never_polls_less_often(interval: timedelta, step: int) -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    firsts = set()
    for offset in (0, phase("Acme", "export"), phase("Acme", "mastodon"), 86399):
        cron = croniter.croniter(interval_cron(interval, offset), start)
        first, second, third = cron.get_next(float), cron.get_next(float), cron.get_next(float)
        assert second - first == third - second == step <= interval.total_seconds()
        firsts.add(first)
    if step > 1:
        assert len(firsts) > 1  # sources with the same interval are spread, not fired together


def test_chunks() -> None:
    assert [len(c) for c in chunks(range(130), SCORE_BATCH)] == [64, 64, 2]
    assert list(chunks([], 64)) == []


def test_purge_removes_finished_jobs_after_their_window_and_keeps_failed_ones_longer(
    db: Database, pg_url: str
) -> None:
    import asyncio
    from types import SimpleNamespace

    from monitor.cluster.app import app
    from monitor.cluster.tasks import purge_finished_jobs

    with db.transaction() as session:
        ok, failed, waiting = defer_scoring(session, list(range(1, 3 * SCORE_BATCH + 1)))
    with psycopg_connection(pg_url) as conn:
        for job_id, status in ((ok, "succeeded"), (failed, "failed")):
            conn.execute("UPDATE procrastinate_jobs SET status = 'doing' WHERE id = %s", (job_id,))
            conn.execute("SELECT procrastinate_finish_job_v1(%s, %s, false)", (job_id, status))
        conn.execute("UPDATE procrastinate_events SET at = now() - interval '30 hours'")

    async def purge() -> None:
        async with app.open_async():
            await purge_finished_jobs.func(SimpleNamespace(app=app), succeeded_hours=24, failed_hours=336)

    asyncio.run(purge())
    remaining = {job_id for (job_id,) in query(pg_url, "SELECT id FROM procrastinate_jobs")}
    assert remaining == {failed, waiting}  # succeeded > 24 h: gone; failed kept for inspection; todo untouched
    with psycopg_connection(pg_url) as conn:
        conn.execute("UPDATE procrastinate_events SET at = now() - interval '15 days'")
    asyncio.run(purge())
    assert {job_id for (job_id,) in query(pg_url, "SELECT id FROM procrastinate_jobs")} == {waiting}


def psycopg_connection(url: str):
    import psycopg

    from tests.cluster.harness import libpq

    return psycopg.connect(libpq(url), autocommit=True)


def test_worker_refuses_sqlite_and_a_database_without_the_job_schema(pg_url: str, tmp_path) -> None:
    from tests.cluster.harness import repmon, write_config

    config = write_config(tmp_path / "repmon.toml", tmp_path / "export.jsonl")
    (tmp_path / "export.jsonl").write_text("")
    done = repmon(["worker", "--concurrency", "1"], f"sqlite:///{tmp_path / 'x.db'}", config)
    assert done.returncode == 1 and "cluster mode runs on PostgreSQL" in done.stderr
    reset_database(pg_url)
    done = repmon(["worker", "--concurrency", "1"], pg_url, config)
    assert done.returncode == 1 and "repmon db queue-schema" in done.stderr
    done = repmon(["worker", "--queues", "fetch,nope"], pg_url, config)
    assert done.returncode == 2 and "unknown queue(s) nope" in done.stderr


def test_straggler_sweep_rescues_unscored_mentions_that_no_live_job_covers(db: Database, pg_url: str) -> None:
    from monitor.cluster.tasks import defer_stragglers
    from monitor.kernel.store.tables import Mention

    now = datetime.now(UTC)
    with db.transaction() as session:
        brand = Brand(name="Acme")
        session.add(brand)
        session.flush()
        source = Source(brand_id=brand.id, name="export", connector="file")
        session.add(source)
        session.flush()
        ages = {"old-lost": 60, "old-lost-2": 30, "old-covered": 60, "fresh": 1, "old-scored": 60}
        rows = {}
        for external_id, minutes in ages.items():
            rows[external_id] = Mention(
                source_id=source.id,
                brand_id=brand.id,
                external_id=external_id,
                text="Acme help",
                created_at=now,
                fetched_at=now - timedelta(minutes=minutes),
                scored_at=now if external_id == "old-scored" else None,
            )
            session.add(rows[external_id])
        session.flush()
        defer_scoring(session, [rows["old-covered"].id])  # its job is still waiting
    with db.transaction() as session:
        defer_stragglers(session, now)
    batches = [args["mention_ids"] for args, _, _ in jobs(pg_url, "score_mentions")]
    assert batches == [[rows["old-covered"].id], sorted([rows["old-lost"].id, rows["old-lost-2"].id])]
    with db.transaction() as session:
        assert defer_stragglers(session, now) == []  # now covered: nothing deferred twice


def test_queue_status_and_retry_of_failed_jobs_from_the_command_line(db: Database, pg_url: str, tmp_path) -> None:
    from tests.cluster.harness import repmon, write_config

    config = write_config(tmp_path / "repmon.toml", tmp_path / "export.jsonl")
    with db.transaction() as session:
        failed, kept = defer_scoring(session, list(range(1, SCORE_BATCH + 3)))
    with psycopg_connection(pg_url) as conn:
        conn.execute("UPDATE procrastinate_jobs SET status = 'doing' WHERE id = %s", (failed,))
        conn.execute("SELECT procrastinate_finish_job_v1(%s, 'failed', false)", (failed,))
    status = repmon(["queue", "status"], pg_url, config)
    assert status.returncode == 0, status.stderr
    score_row = next(line.split() for line in status.stdout.splitlines() if line.startswith("score "))
    assert score_row[1:5] == ["1", "0", "0", "1"]  # todo, doing, succeeded, failed
    usage = repmon(["queue", "retry"], pg_url, config)
    assert usage.returncode == 2 and "--all-failed" in usage.stderr
    retried = repmon(["queue", "retry", str(failed), str(kept)], pg_url, config)
    assert retried.returncode == 0 and "1 job(s) queued again" in retried.stdout
    assert f"left alone: {kept}" in retried.stderr
    statuses = dict(query(pg_url, "SELECT id, status::text FROM procrastinate_jobs"))
    assert statuses == {failed: "todo", kept: "todo"}


def test_repoll_task_runs_the_daemons_repoll_stage(db: Database, pg_url: str, tmp_path, monkeypatch) -> None:
    """The worker's periodic re-poll reschedules due mentions exactly as the daemon's repoll job does."""
    from monitor.cluster import runtime
    from monitor.cluster.tasks import fetch_source, repoll_source
    from monitor.kernel.store.tables import Mention
    from tests.cluster.harness import PSEUDONYM_KEY, write_config, write_export

    export = tmp_path / "export.jsonl"
    write_export(export, 3)
    monkeypatch.setenv("REPMON_DATABASE_URL", pg_url)
    monkeypatch.setenv("REPMON_PSEUDONYM_KEY", PSEUDONYM_KEY)
    monkeypatch.setattr(runtime, "_STATE", None)  # restored afterwards: no worker state leaks into other tests
    state = runtime.start(str(write_config(tmp_path / "repmon.toml", export)))
    fetch_source(brand="Acme", source="export")
    now = datetime.now(UTC)
    with db.transaction() as s:
        for mention in s.scalars(select(Mention)):
            mention.next_repoll_at = now - timedelta(minutes=1)

    result = repoll_source(brand="Acme", source="export")

    assert result["errors"] == []  # an export has no engagement to re-read: nothing checked, all rescheduled
    with db.transaction() as s:
        due = [m.next_repoll_at for m in s.scalars(select(Mention))]
    assert len(due) == 3 and all(d is None or d > now for d in due)
    state.db.dispose()
