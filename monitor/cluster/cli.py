"""`repmon worker` (cluster mode) and `repmon db queue-schema`; registered via the repmon.commands entry point."""

from __future__ import annotations

import logging
import os
from datetime import timedelta

import click

from monitor.cluster.app import QUEUES, interval_cron

log = logging.getLogger(__name__)


def _queues(value: str) -> tuple[str, ...]:
    names = tuple(q.strip() for q in value.split(",") if q.strip())
    unknown = sorted(set(names) - set(QUEUES))
    if not names or unknown:
        raise click.BadParameter(
            f"unknown queue(s) {', '.join(unknown) or '(none)'}; choose from {','.join(QUEUES)}"
        )
    return names


def _database_url(ctx: click.Context) -> str:
    from monitor.config import ConfigError, load_config

    try:
        config = load_config(ctx.obj.get("config_path") if ctx.obj else None)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    return config.database_url()


@click.command("worker")
@click.option(
    "--queues",
    default=",".join(QUEUES),
    show_default=True,
    callback=lambda _ctx, _param, value: _queues(value),
    help="Comma-separated queues to serve.",
)
@click.option(
    "--concurrency",
    type=click.IntRange(1, 256),
    default=None,
    help="Worker PROCESSES on this node (default: CPU cores). Each runs one job at a time.",
)
@click.option(
    "--metrics-host", default="127.0.0.1", show_default=True, help="Bind address of /metrics and /healthz."
)
@click.option(
    "--metrics-port", type=click.IntRange(0, 65535), default=None, help="Serve /metrics and /healthz here."
)
@click.option(
    "--heartbeat", type=float, default=10.0, show_default=True, help="Seconds between worker heartbeats."
)
@click.option(
    "--stalled-after",
    type=float,
    default=60.0,
    show_default=True,
    help="Re-run jobs of workers silent this many seconds (must exceed --heartbeat).",
)
@click.option("--grace", type=float, default=60.0, show_default=True, help="Seconds to finish jobs on SIGTERM.")
@click.pass_context
def worker(
    ctx: click.Context,
    queues: tuple[str, ...],
    concurrency: int | None,
    metrics_host: str,
    metrics_port: int | None,
    heartbeat: float,
    stalled_after: float,
    grace: float,
) -> None:
    """Run cluster workers: procrastinate jobs on the PostgreSQL database the data lives in.

    Any number of nodes may run this against one database: periodic fetches are scheduled once for the
    whole cluster, one fetch per source runs at a time, and jobs of crashed workers are re-run.
    """
    from monitor.cluster.schema import queue_schema_present
    from monitor.cluster.supervisor import Supervisor, serve_http
    from monitor.cluster.worker import WorkerOptions
    from monitor.kernel.store.engine import make_engine

    if stalled_after <= heartbeat:
        raise click.BadParameter("--stalled-after must be longer than --heartbeat", param_hint="--stalled-after")
    url = _database_url(ctx)
    try:
        present = queue_schema_present(url)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    if not present:
        raise click.ClickException(
            "the job queue schema is missing: run `repmon db upgrade && repmon db queue-schema`"
        )
    config_path = ctx.obj.get("config_path") if ctx.obj else None
    options = WorkerOptions(
        config_path=config_path,
        queues=queues,
        heartbeat_seconds=heartbeat,
        stalled_after_seconds=stalled_after,
        stalled_sweep_cron=interval_cron(timedelta(seconds=max(1.0, stalled_after / 4))),
        log_level=logging.getLogger().getEffectiveLevel(),
    )
    supervisor = Supervisor(options, processes=concurrency or os.cpu_count() or 1, grace_seconds=grace)
    engine = None
    if metrics_port is not None:
        from monitor.cluster.metrics import DatabaseCollector

        engine = make_engine(url, pool_size=1, max_overflow=1)
        supervisor.registry.register(DatabaseCollector(engine))
        serve_http(supervisor, metrics_host, metrics_port)
    try:
        code = supervisor.run()
    finally:
        if engine is not None:
            engine.dispose()
    ctx.exit(code)


@click.command("queue-schema")
@click.option("--check", is_flag=True, help="Only report whether the schema is present (exit 1 if not).")
@click.pass_context
def queue_schema(ctx: click.Context, check: bool) -> None:
    """Create the procrastinate job tables for cluster mode (idempotent; run after `repmon db upgrade`)."""
    from monitor.cluster.schema import ensure_queue_schema, queue_schema_present

    url = _database_url(ctx)
    try:
        if check:
            present = queue_schema_present(url)
            click.echo("job queue schema: " + ("present" if present else "missing"))
            ctx.exit(0 if present else 1)
        created = ensure_queue_schema(url)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo("job queue schema created" if created else "job queue schema already present")


@click.group("queue")
def queue() -> None:
    """Cluster-mode job queue: status, and re-running failed jobs."""


@queue.command("status")
@click.pass_context
def queue_status(ctx: click.Context) -> None:
    """Jobs by queue and status, live workers, and the oldest waiting job per queue."""
    from monitor.cluster.jobs import queue_report

    try:
        report = queue_report(_database_url(ctx))
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"{'queue':<8} " + " ".join(f"{s:>9}" for s in report.statuses) + "  oldest waiting")
    for name, counts in report.counts.items():
        age = report.oldest_waiting.get(name)
        line = f"{name:<8} " + " ".join(f"{counts.get(s, 0):>9}" for s in report.statuses)
        click.echo(line + (f"  {age:.0f}s" if age is not None else "  -"))
    click.echo(f"live workers: {report.live_workers}")


@queue.command("retry")
@click.argument("ids", nargs=-1, type=int)
@click.option("--all-failed", is_flag=True, help="Every failed job.")
@click.pass_context
def queue_retry(ctx: click.Context, ids: tuple[int, ...], all_failed: bool) -> None:
    """Put failed jobs back in their queue (after fixing what made them fail)."""
    from monitor.cluster.jobs import retry_failed

    if not ids and not all_failed:
        raise click.UsageError("name job ids, or --all-failed")
    retried, skipped = retry_failed(_database_url(ctx), list(ids) or None)
    click.echo(f"{len(retried)} job(s) queued again")
    if skipped:
        click.echo(f"not failed, left alone: {', '.join(map(str, skipped))}", err=True)


def register(cli: click.Group) -> None:
    from monitor.cli import group

    cli.add_command(worker)
    cli.add_command(queue)
    group("db").add_command(queue_schema)
