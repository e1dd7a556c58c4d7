"""Done-when of issue 12, through the real daemon (`Daemon.run_once`: file source, scorer, stories, cases,
detectors, router, outbox, sinks) against the local Zendesk and Slack servers: a complaint storm of N
customers gives N case tickets, ONE problem ticket with N linked incidents and ONE Slack incident message
that is updated as the storm grows; a customer posting three times gets one ticket; a restart mid-storm
changes none of that."""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from alerts.sinks.slack import SlackSink
from alerts.sinks.zendesk import ZendeskSink
from monitor.config import Config, Secrets, validate
from monitor.daemon import Daemon
from tests.alerts.slack_server import BOT_TOKEN, SlackServer
from tests.alerts.zendesk_server import EMAIL, TOKEN, ZendeskServer

pytestmark = pytest.mark.slow

T = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)  # 11:00 in Stockholm: no quiet hours
CALM = ["Bra service i butiken idag", "Tack för snabb leverans", "Trevlig personal", "Fin app"]
# The same outage message copied by every customer (a copy-paste campaign: one incident by any grouping).
ANGRY = "@Telia_Sverige nätet ligger nere igen och kundtjänst svarar inte, jag behöver hjälp. Katastrof!"
ANNA = "@Telia_Sverige min faktura är fel för tredje gången, jag behöver hjälp nu! ({j})"


class ManualClock:
    speed = 1.0

    def __init__(self, now: datetime) -> None:
        self.at = now

    def now(self) -> datetime:
        return self.at


def row(i: str, author: str, text: str, at: datetime) -> dict[str, Any]:
    return {
        "id": i,
        "text": text,
        "url": f"https://mastodon.example/@{author}/{i}",
        "author": author,
        "created_at": at.isoformat(),
        "language": "sv",
    }


def config(tmp_path: Path, export: Path, slack: SlackServer, zendesk: ZendeskServer, key: str) -> Config:
    data = {
        "database": {"url": f"sqlite:///{tmp_path / 'repmon.db'}"},
        "brands": [
            {
                "name": "Telia",
                "aliases": ["@Telia_Sverige", "Telia"],
                "sources": [{"connector": "file", "name": "export", "settings": {"path": str(export)}}],
            }
        ],
        "model": {"scorer": "lexicon"},
        "detect": {
            "settle_minutes": 0,
            "volume": {"enabled": False},
            "negative_share": {"warmup_mentions": 20, "min_negative": 4},
        },
        "alerts": {
            "default_console": False,
            "slack": {"base_url": slack.base + "/api/"},
            "zendesk": {"base_url": zendesk.base, "email": EMAIL},
            "routes": [
                {"name": "cases", "kinds": ["complaint"], "helpdesk_group": "98738"},  # single cases: no Slack
                {
                    "name": "leads",
                    "kinds": ["negative_spike"],
                    "slack_channel": "C-LEADS",
                    "helpdesk_group": "98738",
                },
            ],
        },
    }
    cfg = validate(data, require_secrets=False)
    cfg._secrets = Secrets.model_construct(pseudonym_key=SecretStr(key))
    return cfg


def test_storm_case_tickets_one_problem_with_incidents_one_slack_message_across_a_restart(
    tmp_path: Path, shared_specs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REPMON_SLACK_BOT_TOKEN", BOT_TOKEN)
    monkeypatch.setenv("REPMON_ZENDESK_TOKEN", TOKEN)
    export = tmp_path / "export.jsonl"
    baseline = [
        row(
            f"b{i}",
            f"calm{i % 7}",
            CALM[i % len(CALM)] + f" Telia {i}",
            T - timedelta(hours=6) + timedelta(minutes=5 * i),
        )
        for i in range(66)
    ]
    first_wave = [row(f"s{i}", f"kund{i}", ANGRY, T - timedelta(minutes=8, seconds=-20 * i)) for i in range(6)]
    second_wave = [
        row(f"s{i}", f"kund{i}", ANGRY, T + timedelta(minutes=6, seconds=20 * (i - 6))) for i in range(6, 10)
    ]
    anna = [
        row(
            f"a{j}",
            "anna",
            ANNA.format(j=j),
            T - timedelta(minutes=7) + timedelta(minutes=7 * j),
        )
        for j in range(3)
    ]
    key = secrets.token_hex(32)
    with SlackServer(shared_specs) as slack, ZendeskServer(shared_specs) as zendesk:

        def daemon(at: datetime) -> Daemon:
            cfg = config(tmp_path, export, slack, zendesk, key)
            sinks = {
                "slack": SlackSink(cfg.alerts.slack),
                "zendesk": ZendeskSink(cfg.alerts.zendesk),
            }
            return Daemon(cfg, clock=ManualClock(at), migrate_schema=True, sinks=sinks)

        def run(d: Daemon, at: datetime, rounds: int = 4) -> None:
            for k in range(rounds):  # retries/threads/updates wait on their parents: a few passes
                d.clock.at = at + timedelta(minutes=k)  # type: ignore[attr-defined]
                d.run_once()

        with export.open("w", encoding="utf-8") as out:
            for r in baseline + first_wave + anna[:1]:
                out.write(json.dumps(r, ensure_ascii=False) + "\n")
        first = daemon(T)
        run(first, T)
        leads = slack.posts("C-LEADS")
        assert len(leads) == 1, leads  # the incident message
        first.db.dispose()  # restart mid-storm

        with export.open("a", encoding="utf-8") as out:
            for r in second_wave + anna[1:]:
                out.write(json.dumps(r, ensure_ascii=False) + "\n")
        second = daemon(T + timedelta(minutes=10))
        run(second, T + timedelta(minutes=10), rounds=6)
        second.db.dispose()

        customers = 10 + 1  # kund0..9 and anna
        cases = [t for t in zendesk.tickets if t["external_id"].startswith("repmon-case-")]
        problems = [t for t in zendesk.tickets if t["type"] == "problem"]
        assert len(cases) == customers and len({t["external_id"] for t in cases}) == customers
        (problem,) = problems
        incidents = [t for t in cases if t["type"] == "incident" and t["problem_id"] == problem["id"]]
        assert len(incidents) == customers
        (anna_ticket,) = [t for t in cases if "(0)" in t["description"]]
        assert len(anna_ticket["comments"]) >= 3  # her second and third post are comments, not tickets

        (message,) = slack.posts("C-LEADS")  # still one message for the incident
        assert message.get("edited", 0) >= 1  # updated as it grew
        assert f"*{customers}* customer(s) affected" in json.dumps(message["blocks"], ensure_ascii=False)
        assert slack.posts("C-CS") == []  # single cases are not posted to Slack
        assert slack.violations == [] and zendesk.violations == []
