"""Core commands: init, config check, db upgrade, mentions list/export, run, demo."""

from __future__ import annotations

import difflib
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import click

from monitor import config as cfg
from monitor import queries, starter
from monitor.cli.status import status_command
from monitor.kernel.duration import parse_duration
from monitor.kernel.types import SENTIMENTS

EXIT_CONFIG = 2


def _config_path(ctx: click.Context) -> Path:
    return Path(ctx.find_root().obj["config_path"])


def _load(ctx: click.Context, *, missing_ok: bool = False, require_secrets: bool = True) -> cfg.Config:
    """The validated config, or every problem on stderr and exit code 2."""
    try:
        return cfg.load_config(_config_path(ctx), missing_ok=missing_ok, require_secrets=require_secrets)
    except cfg.ConfigError as exc:
        for problem in exc.problems:
            click.echo(f"error: {problem}", err=True)
        sys.exit(EXIT_CONFIG)


def _since(value: str | None) -> datetime | None:
    """An ISO date/time, or a duration back from now ("24h", "7d")."""
    if value is None:
        return None
    try:
        return datetime.now(UTC) - parse_duration(value)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"{value!r}: give an ISO date/time or a duration like 24h or 7d") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def register(cli: click.Group) -> None:
    from monitor.cli import group

    cli.add_command(init_command)
    cli.add_command(run_command)
    cli.add_command(demo_command)
    cli.add_command(status_command)
    group("config").add_command(config_check)
    group("config").add_command(config_show)
    group("db").add_command(db_upgrade)
    group("db").add_command(db_revision)
    group("mentions").add_command(mentions_list)
    group("mentions").add_command(mentions_export)


@click.command("init")
@click.option("--brand", required=True, help="The brand to monitor (more can be added in the file).")
@click.option("--force", is_flag=True, help="Overwrite an existing configuration file.")
@click.pass_context
def init_command(ctx: click.Context, brand: str, force: bool) -> None:
    """Write a commented starter configuration and a pseudonymisation key."""
    path = _config_path(ctx)
    if path.exists() and not force:
        raise click.ClickException(f"{path} exists; use --force to overwrite it")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(starter.render(brand, cfg.data_dir()), encoding="utf-8")
    click.echo(f"wrote {path}")
    secrets = cfg.read_secrets()
    if secrets.pseudonym_key is None and secrets.pseudonym_key_file is None:
        key_file = cfg.default_key_file()
        if starter.write_key_file(key_file):
            click.echo(f"created pseudonymisation key {key_file} (mode 600; back it up, keep it secret)")
    click.echo(f"next: edit {path}, then `repmon config check`, `repmon db upgrade`, `repmon run`")


@click.command("check")
@click.pass_context
def config_check(ctx: click.Context) -> None:
    """Validate the configuration; print every problem with its location (exit 2 on any)."""
    config = _load(ctx)
    sources = sum(len(b.sources) for b in config.brands)
    click.echo(f"{config.path}: OK ({len(config.brands)} brands, {sources} sources)")
    for note in _notes(config):
        click.echo(f"note: {note}")


def _notes(config: cfg.Config) -> list[str]:
    """Not errors, but what an operator would otherwise only find out from a missing alert or button."""
    alerts = config.alerts
    notes = []
    if not alerts.routes:
        notes.append("no [[alerts.routes]]: every alert is printed on the console (docs/setup-slack-zendesk.md)")
    if any(r.targets("slack") for r in alerts.routes) and alerts.slack.app_token() is None:
        notes.append(
            f"Slack buttons (Acknowledge, Assign, Create ticket) do nothing until {alerts.slack.app_token_env} "
            "is set (Socket Mode; docs/setup-slack-zendesk.md)"
        )
    if not config.brands:
        notes.append("no [[brands]]: nothing will be monitored")
    return notes


@click.command("show")
@click.pass_context
def config_show(ctx: click.Context) -> None:
    """Print the effective configuration as JSON (secrets masked)."""
    config = _load(ctx, require_secrets=False)
    data = config.model_dump(mode="json")
    for i, brand in enumerate(config.brands):
        for j, source in enumerate(brand.sources):
            if source._parsed is not None:  # unparsed: a secret is missing, and only the file's settings show
                data["brands"][i]["sources"][j]["settings"] = source.connector_settings.model_dump(mode="json")
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


@click.command("upgrade")
@click.option("--revision", default="head", show_default=True)
@click.pass_context
def db_upgrade(ctx: click.Context, revision: str) -> None:
    """Create or migrate the database schema."""
    from monitor.kernel.store import migrate

    config = _load(ctx, missing_ok=True, require_secrets=False)
    url = config.database_url()
    migrate.upgrade(url, revision)
    click.echo(f"database at revision {migrate.head_revision() if revision == 'head' else revision}")


@click.command("revision")
@click.option("-m", "--message", required=True)
@click.pass_context
def db_revision(ctx: click.Context, message: str) -> None:
    """(Developers) autogenerate a migration for changes made to monitor/kernel/store/tables.py."""
    from monitor.kernel.store import migrate

    config = _load(ctx, missing_ok=True, require_secrets=False)
    migrate.revision(config.database_url(), message)


def _mention_filters(func: click.decorators.FC) -> click.decorators.FC:
    for option in reversed(
        [
            click.option("--brand", help="Only this brand."),
            click.option("--source", help="Only this source name."),
            click.option("--since", help="ISO date/time, or a duration back from now (24h, 7d)."),
            click.option("--sentiment", type=click.Choice(SENTIMENTS), help="Latest score's label."),
        ]
    ):
        func = option(func)
    return func


def _rows(ctx: click.Context, brand, source, since, sentiment, limit):  # type: ignore[no-untyped-def]
    from monitor.kernel.store.engine import Database

    config = _load(ctx, missing_ok=True, require_secrets=False)
    db = Database(config.database_url())
    try:
        with db.read() as session:
            _known_names(session, brand, source)
            yield from queries.mentions(
                session, brand=brand, source=source, since=_since(since), sentiment=sentiment, limit=limit
            )
    finally:
        db.dispose()


def _known_names(session, brand: str | None, source: str | None) -> None:  # type: ignore[no-untyped-def]
    """A mistyped --brand / --source is an error naming the known ones, not an empty (and misleading) result."""
    from sqlalchemy import select

    from monitor.kernel.store.tables import Brand, Source

    for option, value, column in (("--brand", brand, Brand.name), ("--source", source, Source.name)):
        if value is None:
            continue
        known = sorted(set(session.scalars(select(column)).all()))
        if value not in known:
            close = difflib.get_close_matches(value, known, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise click.BadParameter(
                f"no {option[2:]} named {value!r} has any stored data; {hint}known: {', '.join(known) or 'none'}",
                param_hint=option,
            )


@click.command("list")
@_mention_filters
@click.option("--limit", default=50, show_default=True, help="At most this many (newest first).")
@click.option("--format", "fmt", type=click.Choice(["table", "jsonl"]), default="table", show_default=True)
@click.pass_context
def mentions_list(ctx, brand, source, since, sentiment, limit, fmt) -> None:  # type: ignore[no-untyped-def]
    """Show stored mentions with their latest score."""
    rows = list(_rows(ctx, brand, source, since, sentiment, limit))  # faults surface before any output
    if fmt == "jsonl":
        for row in rows:
            click.echo(json.dumps(row.as_json(), ensure_ascii=False))
        return
    click.echo(f"{'id':>6}  {'created (UTC)':16}  {'brand':12}  {'source':14}  {'sent.':8}  text")
    for row in rows:
        text = " ".join(row.text.split())
        text = text if len(text) <= 70 else text[:69] + "…"
        click.echo(
            f"{row.id:>6}  {row.created_at:%Y-%m-%d %H:%M}  {row.brand[:12]:12}  {row.source[:14]:14}  "
            f"{(row.sentiment or '-'):8}  {text}"
        )


@click.command("export")
@_mention_filters
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), help="File (default stdout).")
@click.pass_context
def mentions_export(ctx, brand, source, since, sentiment, output) -> None:  # type: ignore[no-untyped-def]
    """Export every matching mention as JSON Lines (oldest first; authors as pseudonymous keys)."""
    from monitor.kernel.store.engine import Database

    config = _load(ctx, missing_ok=True, require_secrets=False)
    db = Database(config.database_url())
    out = open(output, "w", encoding="utf-8") if output else sys.stdout  # noqa: SIM115
    count = 0
    try:
        with db.read() as session:
            _known_names(session, brand, source)
            for row in queries.mentions(
                session, brand=brand, source=source, since=_since(since), sentiment=sentiment, newest_first=False
            ):
                out.write(json.dumps(row.as_json(), ensure_ascii=False) + "\n")
                count += 1
    finally:
        if output:
            out.close()
        db.dispose()
    if output:
        click.echo(f"exported {count} mentions to {output}", err=True)


@click.command("run")
@click.option("--once", is_flag=True, help="Poll every source and run the pipeline once, then exit.")
@click.pass_context
def run_command(ctx: click.Context, once: bool) -> None:
    """Run the daemon: poll sources on their schedules, score, detect, alert (SIGTERM stops cleanly)."""
    from monitor.daemon import Daemon, SchemaOutOfDate

    config = _load(ctx)
    try:
        daemon = Daemon(config)
    except SchemaOutOfDate as exc:
        raise click.ClickException(str(exc)) from None
    if once:
        tick = daemon.run_once()
        stats = daemon.stats
        failing = sorted(label for label, health in stats.health.items() if health != "ok")
        click.echo(
            f"one pass: {stats.fetched} fetched, {stats.stored} new, {tick.scored} scored, {tick.alerts} alerts, "
            f"{tick.delivered} delivered" + (f"; not ok: {', '.join(failing)}" if failing else ""),
            err=True,
        )
        if problems := daemon.source_problems():  # cron must see it: exit 1 while any source is not ok
            click.echo(f"error: sources not ok: {problems}; see `repmon sources check`", err=True)
            sys.exit(1)
    else:
        click.echo(f"repmon running: {len(daemon.sources)} sources (SIGTERM or Ctrl-C stops it)", err=True)
        daemon.run_forever()


@click.command("demo")
@click.option("--duration", default=60.0, show_default=True, help="Simulated minutes of stream.")
@click.option("--speed", default=60.0, show_default=True, help="Simulated seconds per real second.")
@click.option("--seed", default=7, show_default=True)
@click.option("--keep", type=click.Path(dir_okay=False), help="Keep the demo database at this path.")
def demo_command(duration: float, speed: float, seed: int, keep: str | None) -> None:
    """The real daemon on a throwaway database with a simulated stream and a complaint storm."""
    from monitor.demo import run_demo

    summary = run_demo(duration_minutes=duration, speed=speed, seed=seed, keep=keep)
    click.echo(json.dumps(summary, separators=(", ", ": ")))
