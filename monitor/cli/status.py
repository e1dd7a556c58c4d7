"""`repmon status`: what works and what does not, in one screen, for an operator without Grafana.

Sources and the outbox live in the database, so they are read from there (and agree with any running
daemon or cluster). Which sinks this configuration can build is checked here, the same way the daemon
does it. The live state of the running daemon's optional integrations (Slack Socket Mode) exists only in
that process: it is fetched from its `/healthz` when `[daemon] metrics_port` is set.
"""

from __future__ import annotations

import json
import sys
import urllib.request
from typing import Any

import click
from sqlalchemy import func, select

from monitor.cli.faults import EXIT_FAULT
from monitor.kernel.states import OutboxStatus

PROBLEM_HEALTH = ("failing", "disabled")


@click.command("status")
@click.option("--json", "as_json", is_flag=True, help="One JSON object instead of text.")
@click.pass_context
def status_command(ctx: click.Context, as_json: bool) -> None:
    """Sources, outbox, sinks and the running daemon's integrations; exit 1 when something is broken."""
    from monitor.cli.core import _load
    from monitor.kernel.store.engine import Database
    from monitor.kernel.store.tables import Brand, OutboxMessage, Source
    from monitor.wiring import build_sinks

    config = _load(ctx, missing_ok=True, require_secrets=False)
    db = Database(config.database_url())
    try:
        with db.read() as session:
            sources = [
                {"brand": brand, "source": s.name, "health": s.health, "reason": s.health_reason}
                for s, brand in session.execute(
                    select(Source, Brand.name)
                    .join(Brand, Brand.id == Source.brand_id)
                    .order_by(Brand.name, Source.name)
                )
            ]
            outbox = {
                f"{sink}/{status}": n
                for sink, status, n in session.execute(
                    select(OutboxMessage.sink, OutboxMessage.status, func.count()).group_by(
                        OutboxMessage.sink, OutboxMessage.status
                    )
                )
                if status != OutboxStatus.DELIVERED
            }
            errors: dict[str, str] = {}  # the newest error per sink among undelivered rows: what to fix
            for sink, error in session.execute(
                select(OutboxMessage.sink, OutboxMessage.last_error)
                .where(OutboxMessage.status != OutboxStatus.DELIVERED, OutboxMessage.last_error.is_not(None))
                .order_by(OutboxMessage.id.desc())
                .limit(200)
            ):
                errors.setdefault(sink, error)
    finally:
        db.dispose()
    unavailable: dict[str, str] = {}
    build_sinks(config, unavailable)
    routed = _routed_sinks(config)
    report: dict[str, Any] = {
        "sources": sources,
        "outbox": outbox,
        "outbox_errors": errors,
        "sinks_unavailable": {k: v for k, v in unavailable.items() if k in routed},
        "daemon": _daemon_health(config),
    }
    broken = (
        any(s["health"] in PROBLEM_HEALTH for s in sources)
        or any(k.endswith("/dead") for k in outbox)
        or bool(report["sinks_unavailable"])
        or any(i.get("status") == "failing" for i in (report["daemon"] or {}).get("integrations", {}).values())
        or bool((report["daemon"] or {}).get("jobs_failing"))
    )
    if as_json:
        click.echo(json.dumps(report, ensure_ascii=False))
    else:
        _print(report)
    if broken:
        sys.exit(EXIT_FAULT)


def _routed_sinks(config: Any) -> set[str]:
    return {"console"} | {to.sink for route in config.alerts.routes for to in route.to}


def _daemon_health(config: Any) -> dict[str, Any] | None:
    port = config.daemon.metrics_port
    if not port:
        return None
    host = config.daemon.metrics_host
    host = "127.0.0.1" if host in ("0.0.0.0", "") else host
    try:
        with urllib.request.urlopen(f"http://{host}:{port}/healthz", timeout=3) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return json.loads(exc.read() or b"{}") or {"status": f"HTTP {exc.code}"}
    except (OSError, ValueError) as exc:
        return {"status": "not reachable", "reason": f"no daemon answering on {host}:{port} ({exc})"}


def _print(report: dict[str, Any]) -> None:
    click.echo("sources:")
    for s in report["sources"] or []:
        reason = f"  ({s['reason']})" if s["reason"] and s["health"] != "ok" else ""
        click.echo(f"  {s['brand']}/{s['source']}: {s['health']}{reason}")
    if not report["sources"]:
        click.echo("  none polled yet (run `repmon run`)")
    waiting = ", ".join(f"{k}={v}" for k, v in sorted(report["outbox"].items())) or "empty"
    click.echo(f"outbox (not delivered): {waiting}")
    for sink, error in sorted(report["outbox_errors"].items()):
        click.echo(f"  {sink}: last error: {error}")
    for sink, reason in report["sinks_unavailable"].items():
        click.echo(f"sink {sink}: not configured ({reason}); its alerts go to the console")
    daemon = report["daemon"]
    if daemon is None:
        click.echo("daemon: set [daemon] metrics_port to see the running daemon's integrations here")
        return
    click.echo(f"daemon: {daemon.get('status')}" + (f" ({daemon['reason']})" if daemon.get("reason") else ""))
    for name, reason in (daemon.get("jobs_failing") or {}).items():
        click.echo(f"  {name}: failing ({reason})")
    for name, state in (daemon.get("integrations") or {}).items():
        reason = f" ({state['reason']})" if state.get("reason") else ""
        click.echo(f"  {name}: {state.get('status')}{reason}")
