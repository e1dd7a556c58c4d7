"""`repmon outbox list|retry` and `repmon feedback export` through the real CLI entry."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from alerts.config import AlertsConfig
from alerts.router import Router
from alerts.sender import OutboxSender
from monitor.cli import _register_plugins, cli
from monitor.kernel.store.tables import Feedback, OutboxMessage
from monitor.kernel.types import AlertCandidate, DeliveryResult

from .conftest import T0, World


class Refusing:
    name = "console"

    def deliver(self, delivery: object) -> DeliveryResult:
        return DeliveryResult(ok=False, permanent=True, error="HTTP 400 bad request")


@pytest.fixture
def runner(db_url: str, world: World, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CliRunner:
    monkeypatch.setenv("REPMON_DATABASE_URL", db_url)
    monkeypatch.chdir(tmp_path)  # no repmon.toml here: defaults + env
    if "outbox" not in cli.commands or not cli.commands["outbox"].commands:  # type: ignore[attr-defined]
        _register_plugins()
    return CliRunner()


def test_outbox_list_and_retry(world: World, runner: CliRunner) -> None:
    with world.factory() as s, s.begin():
        m = world.mention(s, "x")
        cand = AlertCandidate(
            kind="complaint",
            brand="Acme",
            key="k",
            severity="high",
            detected_at=T0,
            headline="h",
            mention_ids=(m,),
        )
        Router(AlertsConfig()).record(s, [cand], T0)
    OutboxSender(world.factory, {"console": Refusing()}).drain(now=T0)
    listed = runner.invoke(cli, ["outbox", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    (row,) = [json.loads(line) for line in listed.stdout.splitlines()]
    assert (row["status"], row["error"], row["sink"]) == ("dead", "HTTP 400 bad request", "console")
    assert runner.invoke(cli, ["outbox", "retry"]).exit_code == 2  # ids or --all required
    retried = runner.invoke(cli, ["outbox", "retry", str(row["id"]), "999"])
    assert retried.exit_code == 0 and "1 message(s) queued again" in retried.stdout
    with world.factory() as s:
        assert s.scalars(select(OutboxMessage.status)).one() == "pending"


def test_feedback_export_writes_jsonl(world: World, runner: CliRunner, tmp_path: Path) -> None:
    with world.factory() as s, s.begin():
        m = world.mention(s, "Toppen service!", language="da", label="negative")
        en = world.mention(s, "Nice", language="other")
        s.add_all(
            [
                Feedback(mention_id=m, kind="wrong_sentiment", corrected_label="positive", user="U1"),
                Feedback(mention_id=en, kind="wrong_sentiment", corrected_label="neutral", user="U1"),
                Feedback(mention_id=m, kind="not_relevant", user="U2"),
            ]
        )
    out = tmp_path / "fb.jsonl"
    result = runner.invoke(cli, ["feedback", "export", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "1 correction(s) written, 1 skipped" in result.stderr
    assert [json.loads(x) for x in out.read_text().splitlines()] == [
        {"text": "Toppen service!", "label": "positive", "lang": "da", "source": "repmon_feedback/mastodon-social"}
    ]


def test_cases_list_and_show(world: World, runner: CliRunner) -> None:
    from alerts.cases import assign_cases
    from alerts.config import Route

    config = AlertsConfig(routes=[Route(name="hd", kinds=["complaint"], helpdesk_group="7")])
    with world.factory() as s, s.begin():
        first = world.mention(s, "Fakturan är fel <b>")
        second = world.mention(s, "Ingen svarar")
        assign_cases(s, [first, second], T0, config)
    listed = runner.invoke(cli, ["cases", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert len(rows) == 2 and {r["state"] for r in rows} == {"open"} and all(r["posts"] == 1 for r in rows)
    shown = runner.invoke(cli, ["cases", "show", rows[-1]["key"]])
    assert shown.exit_code == 0, shown.output
    assert "Fakturan är fel <b>" in shown.stdout and "delivery zendesk open_case: pending" in shown.stdout
    missing = runner.invoke(cli, ["cases", "show", "nope"])
    assert missing.exit_code == 1 and "repmon cases list" in missing.output and "Traceback" not in missing.output
    assert runner.invoke(cli, ["cases", "list", "--state", "closed"]).stdout.strip() == "no closed cases"
