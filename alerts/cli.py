"""`repmon outbox list|retry|drain`, `repmon feedback export`, `repmon slack-listen`."""

from __future__ import annotations

import contextlib
import json
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from sqlalchemy import func, select

from monitor.kernel.states import CaseState, OutboxStatus

STATUSES = tuple(s.value for s in OutboxStatus)  # click shows an enum choice by its name


def _database(ctx: click.Context) -> tuple[Any, Any]:
    """The validated config and a Database for it (exit code 2 with every problem on a bad config)."""
    from monitor import config as cfg
    from monitor.kernel.store.engine import Database

    path = Path(ctx.find_root().obj["config_path"])
    try:
        config = cfg.load_config(path, missing_ok=True, require_secrets=False)
    except cfg.ConfigError as exc:
        for problem in exc.problems:
            click.echo(f"error: {problem}", err=True)
        sys.exit(2)
    return config, Database(config.database_url())


@click.command("list")
@click.option("--status", type=click.Choice(STATUSES), help="Only this status (default: all but delivered).")
@click.option("--limit", default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.pass_context
def outbox_list(ctx: click.Context, status: str | None, limit: int, as_json: bool) -> None:
    """Show outbox messages: what waits, what failed and why."""
    from monitor.kernel.store.tables import OutboxMessage

    _, db = _database(ctx)
    with db() as session:
        counts = dict(
            session.execute(select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)).all()
        )
        query = select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(limit)
        query = (
            query.where(OutboxMessage.status == status)
            if status
            else query.where(OutboxMessage.status != OutboxStatus.DELIVERED)
        )
        rows = session.scalars(query).all()
        for row in reversed(rows):
            record = {
                "id": row.id,
                "status": row.status,
                "sink": row.sink,
                "action": row.action,
                "alert_id": row.alert_id,
                "attempts": row.attempts,
                "next_attempt_at": row.next_attempt_at.isoformat(),
                "key": row.idempotency_key,
                "error": row.last_error,
            }
            if as_json:
                click.echo(json.dumps(record, ensure_ascii=False))
            else:
                click.echo(
                    f"{row.id:>6} {row.status:<9} {row.sink:<8} {row.action:<13} attempts={row.attempts} "
                    f"next={row.next_attempt_at:%Y-%m-%d %H:%M:%S} {row.last_error or ''}".rstrip()
                )
    if not as_json:
        click.echo("totals: " + (", ".join(f"{k}={counts.get(k, 0)}" for k in STATUSES)), err=True)


@click.command("retry")
@click.argument("ids", nargs=-1, type=int)
@click.option("--all", "all_dead", is_flag=True, help="Every dead-lettered message.")
@click.pass_context
def outbox_retry(ctx: click.Context, ids: tuple[int, ...], all_dead: bool) -> None:
    """Give dead-lettered messages a fresh set of attempts (delivered by the running sender)."""
    from alerts.sender import retry_dead

    if not ids and not all_dead:
        raise click.UsageError("name message ids, or --all")
    _, db = _database(ctx)
    with db.transaction() as session:
        count = retry_dead(session, list(ids) or None, datetime.now(UTC))
    click.echo(f"{count} message(s) queued again")
    if ids and count < len(ids):
        click.echo(f"{len(ids) - count} id(s) were not dead-lettered", err=True)


@click.command("drain")
@click.option("--limit", default=100, show_default=True, help="Messages per pass.")
@click.option("--until-empty", is_flag=True, help="Repeat passes while full batches come back.")
@click.pass_context
def outbox_drain(ctx: click.Context, limit: int, until_empty: bool) -> None:
    """Deliver due messages now with every sink the config and environment allow (for cron or tests)."""
    from alerts.sender import OutboxSender
    from monitor.wiring import build_sinks

    config, db = _database(ctx)
    unavailable: dict[str, str] = {}
    sender = OutboxSender(db, build_sinks(config, unavailable), config.alerts.outbox, unavailable)
    while True:
        stats = sender.drain(limit=limit)
        click.echo(json.dumps(stats.__dict__))
        if not until_empty or stats.claimed < limit:
            return


@click.command("export")
@click.option("-o", "--output", type=click.Path(dir_okay=False, allow_dash=True), default="-", show_default=True)
@click.option("--since", help="ISO date/time: only corrections made since then.")
@click.pass_context
def feedback_export(ctx: click.Context, output: str, since: str | None) -> None:
    """Write "Wrong sentiment" corrections as JSONL {"text","label","lang","source"}."""
    from alerts.feedback import export_feedback

    moment = None
    if since:
        try:
            moment = datetime.fromisoformat(since.replace("Z", "+00:00"))
        except ValueError:
            raise click.BadParameter(f"{since!r} is not an ISO date/time", param_hint="--since") from None
        moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    _, db = _database(ctx)
    with db() as session, click.open_file(output, "w", encoding="utf-8") as out:
        written, skipped = export_feedback(session, out, moment)
    click.echo(f"{written} correction(s) written, {skipped} skipped", err=True)


@click.command("slack-listen")
@click.pass_context
def slack_listen(ctx: click.Context) -> None:
    """Receive Slack button clicks over Socket Mode (needs the app-level token) until interrupted."""
    from alerts.sinks import SinkConfigError
    from alerts.slack_app import SlackInteractivity

    config, db = _database(ctx)
    try:
        app = SlackInteractivity(config.alerts, db)
    except SinkConfigError as exc:
        raise click.ClickException(str(exc)) from None
    stop = threading.Event()
    with app:
        click.echo("listening for Slack actions (Ctrl-C to stop)", err=True)
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()


@click.command("test")
@click.option("--channel", "channels", multiple=True, help="Post here (default: every route's Slack targets).")
@click.pass_context
def slack_test(ctx: click.Context, channels: tuple[str, ...]) -> None:
    """Check the Slack tokens and post a test message to each routed channel; explain any failure."""
    from alerts.connection_tests import slack_checks

    config, _ = _database(ctx)
    targets = list(channels) or sorted({c for r in config.alerts.routes for c in r.targets("slack")})
    _report(slack_checks(config.alerts, targets))


@click.command("test")
@click.option("--group", "groups", multiple=True, help="Look up this group id (default: every route's group).")
@click.pass_context
def zendesk_test(ctx: click.Context, groups: tuple[str, ...]) -> None:
    """Check the Zendesk settings and token and look up each routed group; explain any failure."""
    from alerts.connection_tests import zendesk_checks

    config, _ = _database(ctx)
    targets = list(groups) or sorted({g for r in config.alerts.routes for g in r.targets("zendesk")})
    _report(zendesk_checks(config.alerts, targets))


def _report(checks: Any) -> None:
    failed = 0
    for check in checks:
        click.echo(str(check), err=not check.ok)
        failed += not check.ok
    if failed:
        sys.exit(1)


@click.command("routing")
@click.option(
    "--data",
    "data_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default="../shared/data",
    show_default=True,
    help="The licensed reference data (read in place, never copied).",
)
@click.option("--n", default=160, show_default=True, help="Customers (distinct negative posts) to feed.")
@click.option("--seed", default=12, show_default=True)
@click.option("--scorer", default="e5", show_default=True, help="Scorer plugin (e5 = the shipped model).")
def eval_routing(data_dir: Path, n: int, seed: int, scorer: str) -> None:
    """Share of needs-help customers that reach a webhook helpdesk through exactly one case (real daemon
    path: caps, cooldowns, quiet hours, injected helpdesk faults, a restart half-way). Exit 1 below 95 %."""
    from monitor.cli.routing_eval import run_routing_eval

    if not (data_dir / "sentiment" / "train").is_dir():
        click.echo(f"error: no reference data at {data_dir}/sentiment/train: pass --data DIR", err=True)
        sys.exit(2)
    report = run_routing_eval(data_dir, n=n, seed=seed, scorer=scorer)
    for line in report.lines():
        click.echo(line)
    if report.missing:
        click.echo("never reached the helpdesk: " + ", ".join(report.missing[:20]))
    sys.exit(0 if report.passed else 1)


@click.command("list")
@click.option(
    "--state", type=click.Choice([*(s.value for s in CaseState), "all"]), default="open", show_default=True
)
@click.option("--brand", help="Only this brand.")
@click.option("--limit", default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.pass_context
def cases_list(ctx: click.Context, state: str, brand: str | None, limit: int, as_json: bool) -> None:
    """Customer cases, most recently active first: posts, ticket, problem link, state."""
    from monitor.kernel.store.tables import Brand, Case, Ticket

    _, db = _database(ctx)
    with db() as session:
        query = select(Case, Brand.name).join(Brand, Brand.id == Case.brand_id)
        if state != "all":
            query = query.where(Case.state == state)
        if brand:
            query = query.where(Brand.name == brand)
        rows = session.execute(query.order_by(Case.last_activity_at.desc(), Case.id.desc()).limit(limit)).all()
        tickets: dict[int, list[str]] = {}
        for case_id, system, ticket_id in session.execute(
            select(Ticket.case_id, Ticket.system, Ticket.ticket_id).where(
                Ticket.case_id.in_([case.id for case, _ in rows])
            )
        ):
            tickets.setdefault(case_id, []).append(f"{system}#{ticket_id}" if ticket_id else system)
    if not rows:
        click.echo(f"no {'' if state == 'all' else state + ' '}cases")
    for case, brand_name in rows:
        item = {
            "id": case.id,
            "key": case.key,
            "brand": brand_name,
            "customer": (case.author_key or "anonymous")[:12],
            "state": case.state,
            "close_reason": case.close_reason,
            "posts": case.mention_count,
            "tickets": tickets.get(case.id, []),
            "problem": case.problem_key,
            "opened_at": case.opened_at.isoformat(),
            "last_activity_at": case.last_activity_at.isoformat(),
        }
        if as_json:
            click.echo(json.dumps(item))
            continue
        closed = f" ({case.close_reason})" if case.close_reason else ""
        click.echo(
            f"{case.id:>6}  {case.state}{closed:<11} {brand_name[:16]:<16} {item['customer']}  "
            f"{case.mention_count:>3} post(s)  {', '.join(item['tickets']) or 'no ticket yet'}"
            + (f"  incident of {case.problem_key}" if case.problem_key else "")
            + f"  last {case.last_activity_at:%Y-%m-%d %H:%M}"
        )


@click.command("show")
@click.argument("case")
@click.pass_context
def cases_show(ctx: click.Context, case: str) -> None:
    """One case (by id or key): its posts, scores, tickets and deliveries."""
    from alerts.cases import case_view
    from monitor.kernel.store.tables import Case, OutboxMessage, Ticket

    _, db = _database(ctx)
    with db() as session:
        query = (
            select(Case).where(Case.id == int(case)) if case.isdigit() else select(Case).where(Case.key == case)
        )
        found = session.scalars(query).first()
        if found is None:
            click.echo(f"error: no case {case!r} (see `repmon cases list --state all`)", err=True)
            sys.exit(1)
        view = case_view(session, found)
        tickets = session.scalars(select(Ticket).where(Ticket.case_id == found.id)).all()
        deliveries = session.execute(
            select(OutboxMessage.sink, OutboxMessage.action, OutboxMessage.status, OutboxMessage.last_error)
            .where(OutboxMessage.idempotency_key.like(f"case:%:{found.key}%"))
            .order_by(OutboxMessage.id)
        ).all()
    click.echo(
        f"case {found.id} {found.key}: {found.state}" + (f" ({found.close_reason})" if found.close_reason else "")
    )
    click.echo(f"brand {view['brand']} · customer {view['customer']} · opened {view['opened_at']}")
    click.echo(
        f"languages {', '.join(view['languages']) or '?'} · aspects {', '.join(view['aspects']) or 'none'} · "
        f"needs help {float(view['needs_help_probability']):.0%}"
        + (f" · stories {', '.join(view['story_keys'])}" if view["story_keys"] else "")
        + (f" · incident of {view['problem']}" if view["problem"] else "")
    )
    for ticket in tickets:
        click.echo(f"ticket {ticket.system} #{ticket.ticket_id or '?'} {ticket.url or ''}".rstrip())
    for sink, action, status, error in deliveries:
        click.echo(f"delivery {sink} {action}: {status}" + (f" ({error[:120]})" if error else ""))
    for p in view["posts"]:
        click.echo(f"- {p['created_at']} {p.get('source') or '?'} [{p.get('language') or '?'}] {p['text']}")


def register(cli: click.Group) -> None:
    from monitor.cli import group

    group("cases").add_command(cases_list)
    group("cases").add_command(cases_show)
    group("eval").add_command(eval_routing)
    group("outbox").add_command(outbox_list)
    group("outbox").add_command(outbox_retry)
    group("outbox").add_command(outbox_drain)
    group("feedback").add_command(feedback_export)
    cli.add_command(slack_listen)
    slack = click.Group("slack", help="Slack set-up checks.")
    slack.add_command(slack_test)
    cli.add_command(slack)
    zendesk = click.Group("zendesk", help="Zendesk set-up checks.")
    zendesk.add_command(zendesk_test)
    cli.add_command(zendesk)
