"""The privacy commands end to end through click, on both databases."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner
from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.cli import cli
from monitor.kernel.store.tables import Mention
from monitor.privacy.cli import register

register(cli)


@pytest.fixture
def run(db_url, tmp_path, monkeypatch, data):
    monkeypatch.setenv("REPMON_DATABASE_URL", db_url)
    monkeypatch.setenv("REPMON_PSEUDONYM_KEY", "test-key-0123456789abcdef")
    monkeypatch.delenv("REPMON_PSEUDONYM_KEY_FILE", raising=False)
    config = tmp_path / "absent.toml"

    def invoke(*args: str, input: str | None = None):  # type: ignore[no-untyped-def]
        return CliRunner().invoke(cli, ["--config", str(config), *args], input=input, catch_exceptions=False)

    return invoke


def test_purge_command(run, engine, world, data):
    # The command uses the real clock: choose a limit that falls between the seed's old and recent posts.
    days = str((datetime.now(UTC) - data.RECENT).days + 10)
    result = run("purge", "--retention-days", days)
    assert result.exit_code == 0, result.output
    assert "anonymised 2 mentions" in result.output
    assert "anonymised 0 mentions" in run("purge", "--retention-days", days).output
    with Session(engine) as session:
        assert session.get(Mention, world.old_id).text == ""
        assert session.get(Mention, world.recent_id).text == data.RECENT_TEXT


def test_export_then_erase_commands(run, engine, world, data, tmp_path):
    out = tmp_path / "anna.json"
    result = run("privacy", "export", "--author", "@ANNA_K@mastodon.social", "--output", str(out))
    assert result.exit_code == 0, result.output
    exported = json.loads(out.read_text(encoding="utf-8"))
    assert {m["text"] for m in exported["mentions"]} == {data.OLD_TEXT, data.RECENT_TEXT}

    aborted = run("privacy", "erase", "--author", data.ANNA, input="n\n")
    assert aborted.exit_code == 1 and "erase 2 mentions" in aborted.output
    with Session(engine) as session:
        assert session.get(Mention, world.old_id).text == data.OLD_TEXT  # nothing happened

    erased = run("privacy", "erase", "--author", data.ANNA, "--yes")
    assert erased.exit_code == 0, erased.output
    assert "erased 2 mentions" in erased.output
    assert "Slack message channel=C123 ts=1700000000.000100" in erased.output
    assert "zendesk ticket 42" in erased.output
    with Session(engine) as session:
        texts = set(session.scalars(select(Mention.text)))
    assert texts == {"", data.BO_TEXT}


def test_missing_key_is_a_clear_error(run, monkeypatch, tmp_path):
    monkeypatch.delenv("REPMON_PSEUDONYM_KEY")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))  # no default key file either
    result = run("privacy", "export", "--author", "someone")
    assert result.exit_code == 2
    assert "no pseudonymisation key" in result.output


@pytest.mark.parametrize("command", ["export", "erase"])
def test_an_empty_handle_is_refused(run, command):
    result = run("privacy", command, "--author", " @ ", *(["--yes"] if command == "erase" else []))
    assert result.exit_code == 2 and "give the author's handle" in result.output
