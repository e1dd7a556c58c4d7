"""Done-when: the daemon fed a complaint storm posts threaded Slack alerts to the local Slack server and
opens one Zendesk ticket per story on the local Zendesk server; no story is announced twice."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from alerts.config import AlertsConfig, Route, SlackConfig, ZendeskConfig
from models.config import ModelConfig
from monitor.daemon import Daemon
from monitor.demo import DEMO_START, demo_config
from monitor.kernel.store.tables import Alert, Ticket

from .slack_server import BOT_TOKEN, SlackServer
from .zendesk_server import EMAIL, TOKEN, ZendeskServer


class ManualClock:
    def __init__(self, now: datetime) -> None:
        self.current = now
        self.speed = 1.0

    def now(self) -> datetime:
        return self.current


@pytest.mark.slow
def test_complaint_storm_reaches_slack_threads_and_one_ticket_per_story(
    tmp_path: Path, shared_specs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REPMON_SLACK_BOT_TOKEN", BOT_TOKEN)
    monkeypatch.setenv("REPMON_ZENDESK_TOKEN", TOKEN)
    with SlackServer(shared_specs) as slack, ZendeskServer(shared_specs) as zendesk:
        config = demo_config(f"sqlite:///{tmp_path / 'e2e.db'}", seed=7, duration_minutes=45)
        # This test is about routing and delivery; the deterministic lexicon scorer keeps which alerts fire
        # independent of model updates (the shipped model's own end-to-end path is tested in tests/core).
        config.model = ModelConfig(scorer="lexicon")
        config.alerts = AlertsConfig(
            routes=[
                Route(name="cs", slack_channel="C-CS"),
                Route(name="storm", kinds=["negative_spike"], helpdesk_group="98738"),
            ],
            daily_cap=20,
            slack=SlackConfig(base_url=slack.base + "/api/"),
            zendesk=ZendeskConfig(base_url=zendesk.base, email=EMAIL),
        )
        clock = ManualClock(DEMO_START)
        daemon = Daemon(config, clock=clock, migrate_schema=True)
        for _ in range(45):
            clock.current += timedelta(minutes=1)
            daemon.run_once()
        for _ in range(3):  # ticket links and message updates queued by the last deliveries
            daemon.sender.drain(now=clock.now())
        with daemon.db() as session:
            announced = session.scalars(select(Alert).where(Alert.slack_ts.is_not(None))).all()
            tickets = session.scalars(select(Ticket)).all()
        daemon.db.dispose()

        posts = slack.posts("C-CS")
        replies = slack.posts("C-CS", top_level=False)
        assert posts and replies, "the storm produced no Slack alert with a thread"
        assert {r["thread_ts"] for r in replies} <= {p["ts"] for p in posts}
        assert len(posts) == len(announced)  # every post belongs to one announced alert, none posted twice
        stories = Counter(a.story_id for a in announced if a.story_id is not None)
        assert all(n == 1 for n in stories.values()), stories
        assert len(zendesk.tickets) == len(tickets) >= 1
        assert len({t["external_id"] for t in zendesk.tickets}) == len(zendesk.tickets)
        ticket_links = [r for r in replies if "/agent/tickets/" in str(r["blocks"])]
        assert len(ticket_links) == len(tickets)
        assert slack.violations == [] and zendesk.violations == []
