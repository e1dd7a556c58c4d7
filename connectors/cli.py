"""CLI: `repmon sources list | check | enable | repoll`, `repmon backfill`."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Any

import click
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from monitor.kernel import plugins
from monitor.kernel.types import Page, SourceError

EXIT_CONFIG = 2
EXIT_INTERRUPTED = 130
ADVICE = {
    "auth": "credentials were rejected: check the secret (environment / *_file), then run "
    "`repmon sources enable BRAND SOURCE` (or change the settings)",
    "config": "the settings cannot work as written: fix them in the configuration file, "
    "or run `repmon sources enable` once the cause is gone",
    "malformed": "the platform answered with something unreadable: retried with backoff, nothing to change",
    "fatal": "the source answered in a way retrying cannot fix: see the reason, then change the settings",
    "rate_limited": "rate limited by the platform: polling resumes by itself after the wait",
    "transient": "network or server trouble: retried with backoff",
}


def register(cli: click.Group) -> None:
    from monitor.cli import group

    group("sources").add_command(list_command)
    group("sources").add_command(check_command)
    group("sources").add_command(repoll_command)
    group("sources").add_command(enable_command)
    cli.add_command(backfill_command)


def _load_config(ctx: click.Context) -> Any:
    from monitor import config as cfg

    try:
        return cfg.load_config(ctx.find_root().obj["config_path"])
    except cfg.ConfigError as exc:
        for problem in exc.problems:
            click.echo(f"error: {problem}", err=True)
        sys.exit(EXIT_CONFIG)
    except FileNotFoundError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_CONFIG)


def build_runtime(config: Any, db: Any, brand: str, source: str) -> Any:
    """The sync runtime (connector, query, matcher, row ids) of one configured source, built the same
    way the daemon builds them."""
    from monitor.wiring import build_source_runtimes

    for runtime in build_source_runtimes(config, db):
        if runtime.ref.brand == brand and runtime.ref.source == source:
            return runtime
    raise LookupError(f"no enabled source {source!r} for brand {brand!r} in the configuration")


def _parse_moment(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(
            f"{value!r}: give an ISO date (2026-11-01) or date-time", param_hint=name
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


# --------------------------------------------------------------------------- sources list


@click.command("list")
def list_command() -> None:
    """Installed connectors (built-in and third-party, from the `repmon.connectors` entry points)."""
    for name in plugins.names("connectors"):
        try:
            factory = plugins.load("connectors", name)
        except plugins.PluginError as exc:
            click.echo(f"{name:12s} BROKEN: {exc}")
            continue
        description = getattr(factory, "description", "") or (factory.__doc__ or "").strip().split("\n")[0]
        click.echo(f"{name:12s} {description}")
        settings = getattr(factory, "Settings", None)
        if settings is not None:
            secret = [n for n, f in settings.model_fields.items() if "SecretStr" in str(f.annotation)]
            required = [n for n, f in settings.model_fields.items() if f.is_required()]
            if required:
                click.echo(f"{'':12s} required settings: {', '.join(required)}")
            if secret:
                click.echo(f"{'':12s} secrets (environment or *_file): {', '.join(secret)}")
        for limit in getattr(factory, "limits", ()):
            click.echo(f"{'':12s} limit: {limit}")


# --------------------------------------------------------------------------- sources check


def _probe(connector: Any, query: Any) -> tuple[str, str]:
    """Fetch one page without storing anything: ("ok", detail) or (error kind, reason)."""
    try:
        page: Page | None = next(iter(connector.fetch(query, None)), None)
    except SourceError as exc:
        return exc.kind, str(exc)
    except Exception as exc:  # a broken third-party connector must still get a readable line
        return "fatal", f"{type(exc).__name__}: {exc}"
    return "ok", f"answered; first page had {len(page.mentions) if page else 0} posts"


@click.command("check")
@click.option(
    "--probe/--no-probe",
    default=False,
    help="Also call each source once now (stores nothing; on X the posts read are billed).",
)
@click.pass_context
def check_command(ctx: click.Context, probe: bool) -> None:
    """Health of every configured source, with a readable reason; exit 1 if any is failing or disabled."""
    from monitor.kernel.store.engine import Database
    from monitor.kernel.store.tables import Brand, Source
    from monitor.kernel.types import BrandQuery

    config = _load_config(ctx)
    db = Database(config.database_url())
    bad = False
    try:
        with db.transaction() as session:
            rows = {
                (brand, row.name): row
                for row, brand in session.execute(
                    select(Source, Brand.name).join(Brand, Brand.id == Source.brand_id)
                )
            }
    except SQLAlchemyError as exc:
        click.echo(f"error: cannot read the database ({type(exc).__name__}); run `repmon db upgrade`", err=True)
        sys.exit(EXIT_CONFIG)
    finally:
        db.dispose()
    for brand in config.brands:
        for source in brand.sources:
            name = source.name or source.connector
            row = rows.get((brand.name, name))
            label = f"{brand.name} / {name} ({source.connector})"
            if not source.enabled:
                click.echo(f"{label}: not enabled in the configuration")
                continue
            if row is None:
                click.echo(f"{label}: never polled")
            else:
                since = f" since {row.health_changed_at:%Y-%m-%d %H:%M}" if row.health_changed_at else ""
                last = f"; last success {row.last_success_at:%Y-%m-%d %H:%M}" if row.last_success_at else ""
                click.echo(f"{label}: {row.health}{since}{last}")
                if row.health != "ok":
                    bad = bad or row.health in ("failing", "disabled")
                    kind = (row.health_reason or "").split(":", 1)[0]
                    click.echo(f"    reason: {row.health_reason or 'unknown'}")
                    if kind in ADVICE:
                        click.echo(f"    what to do: {ADVICE[kind]}")
                    if row.consecutive_failures:
                        click.echo(f"    consecutive failures: {row.consecutive_failures}")
            if probe:
                factory = plugins.load("connectors", source.connector)
                query = BrandQuery(brand=brand.name, terms=brand.terms, languages=tuple(brand.languages))
                connector = factory(source.connector_settings)
                try:
                    kind, detail = _probe(connector, query)
                finally:
                    getattr(connector, "close", lambda: None)()
                click.echo(f"    probe: {kind}: {detail}")
                if kind != "ok":
                    bad = True
                    if kind in ADVICE:
                        click.echo(f"    what to do: {ADVICE[kind]}")
    sys.exit(1 if bad else 0)


# --------------------------------------------------------------------------- sources enable


@click.command("enable")
@click.argument("brand")
@click.argument("sources", nargs=-1)
@click.pass_context
def enable_command(ctx: click.Context, brand: str, sources: tuple[str, ...]) -> None:
    """Re-enable disabled (or backed-off) sources of BRAND now: all of them, or the SOURCES named.

    A source is disabled after an auth/config/fatal error until its settings change; when the cause was
    outside the file (a rotated token in the environment, a platform outage) this brings it back.
    """
    from monitor.kernel.store.engine import Database
    from monitor.kernel.store.tables import Brand, Source
    from monitor.sync import enable_source

    config = _load_config(ctx)
    db = Database(config.database_url())
    try:
        with db.transaction() as session:
            stmt = select(Source).join(Brand, Brand.id == Source.brand_id).where(Brand.name == brand)
            rows = {row.name: row for row in session.scalars(stmt)}
            unknown = [name for name in sources if name not in rows]
            if not rows or unknown:
                known = ", ".join(sorted(rows)) or "none"
                what = f"sources {', '.join(unknown)!s}" if unknown else "no polled sources"
                click.echo(f"error: brand {brand!r} has {what} in the database (known: {known})", err=True)
                sys.exit(EXIT_CONFIG)
            now = datetime.now(UTC)
            for name in sources or sorted(rows):
                was = rows[name].health
                reason = enable_source(session, rows[name].id, now)
                shown = f"{was} -> ok" + (f" (was: {reason})" if reason else "") if was != "ok" else "already ok"
                click.echo(f"{brand} / {name}: {shown}")
    except SQLAlchemyError as exc:
        click.echo(f"error: cannot update the database ({type(exc).__name__}); run `repmon db upgrade`", err=True)
        sys.exit(EXIT_CONFIG)
    finally:
        db.dispose()


# --------------------------------------------------------------------------- backfill


@click.command("backfill")
@click.option("--brand", required=True, help="Brand name as in the configuration.")
@click.option("--source", "sources", multiple=True, help="Source name (repeatable; default: every source).")
@click.option("--since", required=True, help="Start date (ISO, UTC unless an offset is given).")
@click.option("--until", default=None, help="End date (default: when the backfill was first started).")
@click.pass_context
def backfill_command(
    ctx: click.Context, brand: str, sources: tuple[str, ...], since: str, until: str | None
) -> None:
    """Fetch past mentions; resumable (Ctrl-C, then rerun the same command) and idempotent."""
    from monitor.backfill import backfill
    from monitor.kernel.store.engine import Database

    start, end = _parse_moment(since, "--since"), _parse_moment(until, "--until")
    assert start is not None
    if end is not None and end <= start:
        raise click.BadParameter("--until must be after --since", param_hint="--until")
    config = _load_config(ctx)
    brand_config = next((b for b in config.brands if b.name == brand), None)
    if brand_config is None:
        raise click.BadParameter(f"no brand {brand!r}; configured: {', '.join(b.name for b in config.brands)}")
    configured = [s.name or s.connector for s in brand_config.sources if s.enabled]
    chosen = list(sources) or configured
    unknown = [s for s in chosen if s not in configured]
    if unknown:
        raise click.BadParameter(
            f"{', '.join(unknown)} not enabled for {brand}; configured: {', '.join(configured)}"
        )
    db = Database(config.database_url())
    pseudonymiser = config.pseudonymiser()
    reports = []
    interrupted = False
    try:
        for name in chosen:
            runtime = build_runtime(config, db, brand, name)
            span = ((end or datetime.now(UTC)) - start).total_seconds() or 1.0
            with click.progressbar(length=1000, label=f"{brand}/{name}", show_eta=False) as bar:

                def advance(page: Page, stored: int, bar: Any = bar, span: float = span, name: str = name) -> None:
                    if page.mentions:
                        oldest = min(m.created_at for m in page.mentions)
                        done = ((end or datetime.now(UTC)) - oldest).total_seconds() / span
                        bar.update(max(0, min(1000, int(done * 1000)) - bar.pos))
                    bar.label = f"{brand}/{name} stored {stored}"

                report = backfill(db, runtime, pseudonymiser, start, end, datetime.now(UTC), progress=advance)
                if report.complete:
                    bar.update(1000 - bar.pos)
            reports.append(report)
            if report.interrupted:
                interrupted = True
                break
    finally:
        db.dispose()
    click.echo("\nCoverage")
    for report in reports:
        for line in report.lines():
            click.echo(line)
    if interrupted:
        sys.exit(EXIT_INTERRUPTED)
    sys.exit(0 if all(r.complete for r in reports) else 1)


# --------------------------------------------------------------------------- re-poll


@click.command("repoll")
@click.option("--brand", default=None, help="Only this brand.")
@click.option("--source", "sources", multiple=True, help="Only these sources (repeatable).")
@click.option("--limit", default=500, show_default=True, help="Most mentions per source in this run.")
@click.pass_context
def repoll_command(ctx: click.Context, brand: str | None, sources: tuple[str, ...], limit: int) -> None:
    """Re-read engagement of young mentions that are due (2, 5, 10, 20, 40 min … old)."""
    from monitor.kernel.store.engine import Database
    from monitor.repoll import repoll_due

    config = _load_config(ctx)
    db = Database(config.database_url())
    failed = False
    try:
        from monitor.wiring import build_source_runtimes

        for runtime in build_source_runtimes(config, db):
            ref = runtime.ref
            if (brand is not None and ref.brand != brand) or (sources and ref.source not in sources):
                continue
            if not runtime.repoll:
                continue
            stats = repoll_due(db, ref.source_id, runtime.connector, datetime.now(UTC), limit=limit)
            line = (
                f"{ref.brand} / {ref.source}: checked {stats.checked}, changed {stats.changed}, "
                f"deleted {stats.deleted} in {stats.batches} batches"
            )
            click.echo(line + (f"; stopped: {stats.errors[0]}" if stats.errors else ""))
            failed = failed or bool(stats.errors)
    finally:
        db.dispose()
    sys.exit(1 if failed else 0)
