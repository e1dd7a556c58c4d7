"""`repmon purge` and `repmon privacy export|erase --author HANDLE`."""

from __future__ import annotations

import json
import sys
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
from sqlalchemy.orm import Session

EXIT_CONFIG = 2


def _config(ctx: click.Context, *, require_key: bool):  # type: ignore[no-untyped-def]
    """The validated configuration; configuration problems go to stderr with exit code 2."""
    from monitor import config as cfg

    path = Path(ctx.find_root().obj["config_path"])
    try:
        config = cfg.load_config(path, missing_ok=True, require_secrets=False)
        if require_key:
            config.pseudonymiser()  # fail before touching the database
        return config
    except cfg.ConfigError as exc:
        for problem in exc.problems:
            click.echo(f"error: {problem}", err=True)
        sys.exit(EXIT_CONFIG)


def _transaction(url: str) -> AbstractContextManager[Session]:
    from monitor.kernel.store.engine import Database

    return Database(url).transaction()


def _require_handle(handle: str) -> None:
    if not handle.strip().lstrip("@").strip():
        raise click.BadParameter("give the author's handle, e.g. @anna@mastodon.social", param_hint="--author")


def register(cli: click.Group) -> None:
    from monitor.cli import group

    cli.add_command(purge_command)
    group("privacy").add_command(export_command)
    group("privacy").add_command(erase_command)


@click.command("purge")
@click.option("--retention-days", type=click.IntRange(min=1), help="Override [retention] days.")
@click.pass_context
def purge_command(ctx: click.Context, retention_days: int | None) -> None:
    """Apply retention: anonymise mentions older than the limit (text, URLs, handles, copies).

    Counts, sentiment labels and aspect scores stay, so reports over old periods keep their numbers.
    Safe to run any number of times.
    """
    from monitor.privacy import purge

    config = _config(ctx, require_key=False)
    days = retention_days or config.retention.days
    with _transaction(config.database_url()) as session:
        stats = purge(session, datetime.now(UTC), timedelta(days=days))
    click.echo(
        f"retention {days} days: anonymised {stats.mentions} mentions; redacted copies in "
        f"{stats.copies.alerts} alerts, {stats.copies.stories} stories, {stats.copies.outbox} outbox messages; "
        f"dropped {stats.outbox_payloads_dropped} finished outbox payloads"
    )


@click.command("export")
@click.option(
    "--author", "handle", required=True, help="The handle as the person gives it (any case, with or without @)."
)
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, writable=True), help="File to write (default stdout)."
)
@click.pass_context
def export_command(ctx: click.Context, handle: str, output: str | None) -> None:
    """Answer an access request: everything held about an author, as JSON."""
    from monitor.privacy import export_author

    _require_handle(handle)
    config = _config(ctx, require_key=True)
    with _transaction(config.database_url()) as session:
        document = export_author(session, handle, config.pseudonymiser())
    text = json.dumps(document, indent=2, ensure_ascii=False)
    if output:
        Path(output).write_text(text + "\n", encoding="utf-8")
        click.echo(
            f"wrote {len(document['mentions'])} mentions, {len(document['outbox'])} outbox messages to {output}",
            err=True,
        )
    else:
        click.echo(text)


@click.command("erase")
@click.option("--author", "handle", required=True, help="The handle as the person gives it.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
def erase_command(ctx: click.Context, handle: str, yes: bool) -> None:
    """Answer an erasure request: remove an author's posts and every copy of them and their handle."""
    from monitor.privacy import erase_author, export_author
    from monitor.privacy.erasure import author_mention_ids

    _require_handle(handle)
    config = _config(ctx, require_key=True)
    pseudonymiser = config.pseudonymiser()
    url = config.database_url()
    if not yes:
        with _transaction(url) as session:
            count = len(author_mention_ids(session, handle, pseudonymiser))
        click.confirm(
            f"erase {count} mentions by this author and every copy of them? This cannot be undone", abort=True
        )
    with _transaction(url) as session:
        # The links to copies outside the database disappear with the erasure: collect them first.
        external = export_author(session, handle, pseudonymiser)["external_copies"]
        stats = erase_author(session, handle, pseudonymiser)
    click.echo(
        f"erased {stats.mentions} mentions and {stats.feedback} feedback rows; redacted copies in "
        f"{stats.copies.alerts} alerts, {stats.copies.stories} stories, {stats.copies.outbox} outbox messages"
    )
    for message in external["slack_messages"]:
        click.echo(f"delete by hand: Slack message channel={message['channel']} ts={message['ts']}")
    for ticket in external["tickets"]:
        click.echo(
            f"delete by hand: {ticket['system']} ticket {ticket['ticket_id']} {ticket['url'] or ''}".rstrip()
        )
