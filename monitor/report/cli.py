"""`repmon report --brand B --since 7d --output report.html`."""

from __future__ import annotations

import re
import sys
from datetime import UTC, datetime
from pathlib import Path

import click

from monitor.kernel.duration import parse_duration

EXIT_CONFIG = 2
_AGO = re.compile(r"^\s*\d+(\.\d+)?\s*(h|d|w)\s*$")


def parse_moment(value: str, now: datetime) -> datetime:
    """'7d', '36h', '2w' back from now (the kernel's one duration parser), or an ISO date/time (UTC if no
    zone is given)."""
    if _AGO.match(value):
        return now - parse_duration(value)
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"{value!r}: give a duration like 7d, 36h, 2w or an ISO date/time") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def register(cli: click.Group) -> None:
    cli.add_command(report_command)


@click.command("report")
@click.option("--brand", required=True, help="Brand name as configured.")
@click.option("--since", default="7d", show_default=True, help="Start: 7d / 36h / 2w back, or an ISO date.")
@click.option("--until", default=None, help="End (default now): same forms as --since.")
@click.option(
    "-o",
    "--output",
    default="report.html",
    show_default=True,
    type=click.Path(dir_okay=False, writable=True),
    help="HTML file to write.",
)
@click.pass_context
def report_command(ctx: click.Context, brand: str, since: str, until: str | None, output: str) -> None:
    """Write a self-contained HTML report (opens offline; charts are inline SVG)."""
    from monitor import config as cfg
    from monitor.kernel.store.engine import Database
    from monitor.report import ReportError, report_html

    now = datetime.now(UTC)
    start, end = parse_moment(since, now), parse_moment(until, now) if until else now
    try:
        config = cfg.load_config(Path(ctx.find_root().obj["config_path"]), missing_ok=True, require_secrets=False)
    except cfg.ConfigError as exc:
        for problem in exc.problems:
            click.echo(f"error: {problem}", err=True)
        sys.exit(EXIT_CONFIG)
    db = Database(config.database_url())
    try:
        with db() as session:
            page = report_html(session, brand, start, end, now)
    except ReportError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        db.dispose()
    path = Path(output)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(path)  # a reader never sees half a report
    click.echo(f"wrote {path} ({len(page.encode()) // 1024} KiB)")
