"""Backfill and `sources check` end to end: real CLI, real database, fake Mastodon on loopback."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fake_server import FakeServer, Reply
from platform_mastodon import TOKEN, MastodonPlatform
from sqlalchemy import Engine, select

from connectors.cli import build_runtime
from monitor.backfill import backfill, merge_backfill_cursor
from monitor.cli import _register_plugins, cli
from monitor.config import load_config
from monitor.kernel.store.engine import Database
from monitor.kernel.store.tables import Mention, Source

KEY = "a-test-pseudonymisation-key-of-32-bytes!"
SINCE = datetime(2026, 11, 19, tzinfo=UTC)
UNTIL = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def _config(tmp_path: Path, db_url: str, server: FakeServer) -> Path:
    path = tmp_path / "repmon.toml"
    path.write_text(
        f"""
[database]
url = "{db_url}"

[[brands]]
name = "Telia"

[[brands.sources]]
connector = "mastodon"
name = "fedi"
settings = {{ base_url = "{server.url}", allow_private_network = true, hashtags = ["telia"], page_size = 2 }}
""",
        encoding="utf-8",
    )
    return path


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REPMON_PSEUDONYM_KEY", KEY)
    monkeypatch.setenv("REPMON_TELIA_FEDI_ACCESS_TOKEN", TOKEN)


def _rows(db: Database) -> list[str]:
    with db.transaction() as session:
        return list(session.scalars(select(Mention.external_id)))


def test_interrupted_backfill_resumes_and_stores_each_mention_once(
    engine: Engine, db_url: str, tmp_path: Path, env: None
) -> None:
    with FakeServer(MastodonPlatform()) as server:
        config = load_config(_config(tmp_path, db_url, server))
        db = Database(db_url)
        runtime = build_runtime(config, db, "Telia", "fedi")
        pages_seen = 0

        def ctrl_c_after_two_pages(page: Any, stored: int) -> None:
            nonlocal pages_seen
            pages_seen += 1
            if pages_seen == 2:
                raise KeyboardInterrupt

        first = backfill(db, runtime, config.pseudonymiser(), SINCE, UNTIL, UNTIL, progress=ctrl_c_after_two_pages)
        assert first.interrupted and not first.complete
        stored_after_interrupt = _rows(db)
        calls_before = len(server.calls)
        second = backfill(db, runtime, config.pseudonymiser(), SINCE, UNTIL, UNTIL)
        assert second.complete
        assert len(server.calls) - calls_before == second.pages, "the resumed run did not start over"
        rows = _rows(db)
        assert len(rows) == len(set(rows)) == first.inserted + second.inserted
        assert set(stored_after_interrupt) < set(rows)
        third = backfill(db, runtime, config.pseudonymiser(), SINCE, UNTIL, UNTIL)
        assert third.complete and third.pages == 0 and _rows(db) == rows
        with db.transaction() as session:
            cursor = session.scalar(select(Source.cursor))
        assert all("hwm" not in s for s in cursor["streams"].values()), "the live cursor was not touched"
        db.dispose()


def test_merge_keeps_the_live_cursor() -> None:
    live = {"streams": {"search:telia": {"hwm": "2026-11-20T12:00:00Z", "walk": None}}}
    page = {"streams": {"search:telia": {"hwm": "old", "backfill": {"done": False}}}}
    merged = merge_backfill_cursor(live, page)
    assert merged == {
        "streams": {"search:telia": {"hwm": "2026-11-20T12:00:00Z", "walk": None, "backfill": {"done": False}}}
    }


def test_backfill_command_reports_coverage_and_check_reports_health(
    engine: Engine, db_url: str, tmp_path: Path, env: None
) -> None:
    _register_plugins()
    runner = CliRunner()
    with FakeServer(MastodonPlatform()) as server:
        path = _config(tmp_path, db_url, server)
        args = [
            "--config",
            str(path),
            "backfill",
            "--brand",
            "Telia",
            "--source",
            "fedi",
            "--since",
            "2026-11-19",
            "--until",
            "2026-11-20T12:00:00",
        ]
        result = runner.invoke(cli, args)
        assert result.exit_code == 0, result.output
        assert "Coverage" in result.output and "status: complete" in result.output
        assert "limit: only posts known to the configured instance" in result.output
        count = len(_rows(Database(db_url)))
        again = runner.invoke(cli, args)
        assert again.exit_code == 0 and len(_rows(Database(db_url))) == count

        check = runner.invoke(cli, ["--config", str(path), "sources", "check"])
        assert check.exit_code == 0, check.output
        assert "Telia / fedi (mastodon): ok" in check.output

        server.faults.append(Reply(401, {"error": "The access token is invalid"}))
        probe = runner.invoke(cli, ["--config", str(path), "sources", "check", "--probe"])
        assert probe.exit_code == 1
        assert "probe: auth:" in probe.output and "what to do: credentials were rejected" in probe.output
        assert TOKEN not in probe.output


def test_backfill_rejects_unknown_source(engine: Engine, db_url: str, tmp_path: Path, env: None) -> None:
    _register_plugins()
    with FakeServer(MastodonPlatform()) as server:
        path = _config(tmp_path, db_url, server)
        result = CliRunner().invoke(
            cli,
            ["--config", str(path), "backfill", "--brand", "Telia", "--source", "nope", "--since", "2026-11-01"],
        )
    assert result.exit_code == 2 and "nope not enabled for Telia" in result.output


def test_disabled_source_is_explained(engine: Engine, db_url: str, tmp_path: Path, env: None) -> None:
    _register_plugins()
    with FakeServer(MastodonPlatform()) as server:
        path = _config(tmp_path, db_url, server)
        config = load_config(path)
        db = Database(db_url)
        build_runtime(config, db, "Telia", "fedi")
        with db.transaction() as session:
            row = session.scalar(select(Source))
            row.health, row.health_reason = "disabled", "auth: mastodon: credentials rejected: HTTP 401"
            row.consecutive_failures = 1
        db.dispose()
        result = CliRunner().invoke(cli, ["--config", str(path), "sources", "check"])
    assert result.exit_code == 1
    assert "disabled" in result.output and "reason: auth: mastodon: credentials rejected" in result.output
    assert "what to do: credentials were rejected" in result.output


def test_repoll_command_updates_due_mentions(engine: Engine, db_url: str, tmp_path: Path, env: None) -> None:
    _register_plugins()
    runner = CliRunner()
    with FakeServer(MastodonPlatform()) as server:
        path = _config(tmp_path, db_url, server)
        since = datetime.now(UTC).replace(year=2026, month=11, day=19, hour=0, minute=0, second=0, microsecond=0)
        args = [
            "--config",
            str(path),
            "backfill",
            "--brand",
            "Telia",
            "--since",
            since.isoformat(),
            "--until",
            "2026-11-20T12:00:00",
        ]
        assert runner.invoke(cli, args).exit_code == 0
        db = Database(db_url)
        with db.transaction() as session:
            for mention in session.scalars(select(Mention)):
                mention.next_repoll_at = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
                mention.likes = None
        result = runner.invoke(cli, ["--config", str(path), "sources", "repoll", "--brand", "Telia"])
        db.dispose()
    assert result.exit_code == 0, result.output
    assert "Telia / fedi: checked" in result.output and "deleted 1" in result.output
