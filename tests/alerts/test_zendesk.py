"""Zendesk sink against the local Zendesk-compatible server: one ticket per story, link back to Slack."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from alerts.config import AlertsConfig, Route, SlackConfig, ZendeskConfig
from alerts.router import Router
from alerts.sender import OutboxSender
from alerts.sinks.slack import SlackSink
from alerts.sinks.zendesk import ZendeskSink
from monitor.kernel.store.tables import Alert, Mention, Ticket
from monitor.kernel.types import AlertCandidate

from .conftest import T0, World, later
from .slack_server import BOT_TOKEN, SlackServer
from .zendesk_server import EMAIL, TOKEN, ZendeskServer

CONFIG = AlertsConfig(
    routes=[Route(name="help", needs_help=True, slack_channel="C-CS", helpdesk_group="98738")], cooldowns={}
)


@pytest.fixture
def servers(shared_specs: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[SlackServer, ZendeskServer]]:
    monkeypatch.setenv("REPMON_SLACK_BOT_TOKEN", BOT_TOKEN)
    monkeypatch.setenv("REPMON_ZENDESK_TOKEN", TOKEN)
    with SlackServer(shared_specs) as slack, ZendeskServer(shared_specs) as zendesk:
        yield slack, zendesk
    assert slack.violations == [] and zendesk.violations == []


def sender(world: World, slack: SlackServer, zendesk: ZendeskServer) -> OutboxSender:
    sinks = {
        "slack": SlackSink(SlackConfig(base_url=slack.base + "/api/")),
        "zendesk": ZendeskSink(ZendeskConfig(base_url=zendesk.base, email=EMAIL)),
    }
    return OutboxSender(world.factory, sinks)


def record(world: World, key: str, minutes: float = 0, config: AlertsConfig = CONFIG) -> int:
    with world.factory() as s, s.begin():
        m = world.mention(s, "Tre veckor utan svar om min retur", aspects={"not_resolved": 0.9})
        s.get(Mention, m).author_handle = "@real_person"
        cand = AlertCandidate(
            kind="complaint",
            brand="Acme Bank",
            key=key,
            severity="critical",
            detected_at=T0,
            headline="Customer waiting three weeks for a refund",
            mention_ids=(m,),
        )
        return Router(config).record(s, [cand], later(minutes))[0]


def test_one_ticket_with_link_posted_back_to_the_slack_thread(world: World, servers) -> None:  # type: ignore[no-untyped-def]
    slack, zendesk = servers
    alert_id = record(world, "k1")
    out = sender(world, slack, zendesk)
    first = out.drain(now=T0)
    assert first.delivered == 2  # Slack post + ticket
    second = out.drain(now=T0)
    assert second.delivered == 2  # ticket link into the thread + message update
    (ticket,) = zendesk.tickets
    assert ticket["priority"] == "urgent" and ticket["group_id"] == 98738
    assert {"repmon", "brand_acme_bank", "lang_sv", "aspect_not_resolved"} <= set(ticket["tags"])
    assert ticket["requester"]["name"].startswith("Social user ") and "real_person" not in str(ticket)
    assert "https://social.example/@user/1" in ticket["description"]
    (post,) = slack.posts("C-CS")
    (reply,) = slack.posts("C-CS", top_level=False)
    assert reply["thread_ts"] == post["ts"]
    assert (
        f"<{zendesk.base}/agent/tickets/{ticket['id']}|Ticket #{ticket['id']}>"
        in reply["blocks"][0]["text"]["text"]
    )
    assert post["edited"] == 1 and f"Ticket #{ticket['id']}" in str(post["blocks"])
    with world.factory() as s:
        row = s.scalars(select(Ticket)).one()
        assert (row.ticket_id, row.alert_id) == (str(ticket["id"]), alert_id)
        assert s.get(Alert, alert_id).state == "ticketed"


def test_lost_response_and_retry_never_make_a_second_ticket(world: World, servers) -> None:  # type: ignore[no-untyped-def]
    slack, zendesk = servers
    record(world, "k1")
    zendesk.lose_next_response = True
    out = sender(world, slack, zendesk)
    assert out.drain(now=T0).retried == 1  # the ticket exists, but we saw a 500
    out.drain(now=later(5))
    assert len(zendesk.tickets) == 1
    with world.factory() as s:
        assert s.scalars(select(Ticket.ticket_id)).one() == str(zendesk.tickets[0]["id"])


def test_429_from_zendesk_waits(world: World, servers) -> None:  # type: ignore[no-untyped-def]
    slack, zendesk = servers
    record(world, "k1")
    zendesk.faults.append((429, {"Retry-After": "42"}, {"error": "TooManyRequests"}))
    stats = sender(world, slack, zendesk).drain(now=T0)
    assert stats.rate_limited == 1 and stats.delivered == 1
    assert sender(world, slack, zendesk).drain(now=T0 + (later(0.7) - T0)).delivered == 1
    assert len(zendesk.tickets) == 1


def test_cooldown_keeps_slack_quiet_but_each_customer_gets_a_ticket(world: World, servers) -> None:  # type: ignore[no-untyped-def]
    slack, zendesk = servers
    config = CONFIG.model_copy(update={"cooldowns": {"default": timedelta(minutes=30)}})
    first = record(world, "k1", config=config)
    second = record(
        world, "k2", minutes=5, config=config
    )  # another customer, same brand and kind, within the cooldown
    with world.factory() as s:
        assert s.get(Alert, second).state == "cooldown"
    out = sender(world, slack, zendesk)
    for minute in range(3):
        out.drain(now=later(5 + minute))
    assert len(zendesk.tickets) == 2 and len({t["external_id"] for t in zendesk.tickets}) == 2
    assert len(slack.posts("C-CS")) == 1
    notes = [r["blocks"][0]["text"]["text"] for r in slack.posts("C-CS", top_level=False)]
    assert any(n.startswith(":ticket:") and " for: Customer waiting" in n for n in notes)
    assert sum(":ticket:" in n for n in notes) == 2  # both links in the one announced thread
    with world.factory() as s:
        owners = {t.alert_id for t in s.scalars(select(Ticket))}
        assert owners == {first, second}
