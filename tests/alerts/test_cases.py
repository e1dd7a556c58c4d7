"""Cases (issue 12): one case per customer, exactly one helpdesk ticket per case on Zendesk and webhook,
whatever restarts, lost responses or a second worker do; closing by quiet time, by the helpdesk, by Slack;
problem/incident links. Real databases (SQLite and PostgreSQL), the local Zendesk server, a loopback
webhook receiver."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text

from alerts.case_status import refresh_cases
from alerts.cases import assign_cases, close_cases_of_mentions
from alerts.config import AlertsConfig, Route, WebhookConfig, ZendeskConfig
from alerts.router import Router
from alerts.sender import OutboxSender
from alerts.sinks.webhook import WebhookSink
from alerts.sinks.zendesk import ZendeskSink
from monitor.kernel.store.engine import Database
from monitor.kernel.store.tables import Alert, Case, CaseMention, Mention, OutboxMessage, Ticket
from monitor.kernel.types import AlertCandidate

from .conftest import T0, World, later
from .test_webhook import NOW, SECRET, Receiver
from .zendesk_server import EMAIL, TOKEN, ZendeskServer

ZD = AlertsConfig(
    routes=[
        Route(name="help", kinds=["complaint"], helpdesk_group="98738"),
        Route(name="leads", kinds=["negative_spike"], helpdesk_group="98738"),
    ],
    cooldowns={},
)


@pytest.fixture
def zendesk(shared_specs: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ZendeskServer]:
    monkeypatch.setenv("REPMON_ZENDESK_TOKEN", TOKEN)
    with ZendeskServer(shared_specs) as server:
        yield server
    assert server.violations == []


def zd_sender(world: World, server: ZendeskServer) -> OutboxSender:
    return OutboxSender(world.factory, {"zendesk": ZendeskSink(ZendeskConfig(base_url=server.base, email=EMAIL))})


def post(
    world: World,
    author: str | None,
    text_: str,
    *,
    needs_help: bool = True,
    minutes: float = 0,
    config: AlertsConfig = ZD,
) -> int:
    """A scored post by `author` (None: no handle), run through the case stage as the pipeline does."""
    with world.factory() as s, s.begin():
        m = world.mention(s, text_, needs_help=needs_help, aspects={"price_billing": 0.9}, at=later(minutes))
        s.get(Mention, m).author_key = None if author is None else hashlib.sha256(author.encode()).hexdigest()
        s.flush()
        assign_cases(s, [m], later(minutes), config)
        return m


@pytest.fixture
def zd_world(world: World) -> World:
    return world


def drain(out: OutboxSender, minutes: float, rounds: int = 3) -> None:
    for i in range(rounds):
        out.drain(now=later(minutes + i))


def test_a_customer_posting_three_times_gets_one_ticket_with_their_posts(zd_world: World, zendesk) -> None:  # type: ignore[no-untyped-def]
    world = zd_world
    post(world, "anna", "Fakturan är fel igen, ingen svarar i telefon")
    post(world, "anna", "Fortfarande inget svar?", minutes=10)
    post(world, "anna", "Nu har jag väntat en dag", needs_help=False, minutes=20)  # joins anyway: same customer
    post(world, "bo", "Min återbetalning har inte kommit")
    post(world, "cia", "RT @bo: Min återbetalning har inte kommit")  # a plain repost is not a customer
    post(world, None, "Anonym: appen kraschar")
    post(world, None, "Anonym: appen kraschar fortfarande")  # no handle: its own case
    drain(zd_sender(world, zendesk), 30)
    assert len(zendesk.tickets) == 4
    assert len({t["external_id"] for t in zendesk.tickets}) == 4
    (anna,) = [t for t in zendesk.tickets if "Fakturan" in t["description"]]
    assert len(anna["comments"]) == 3 and "Nu har jag väntat" in anna["comments"][2]
    assert anna["group_id"] == 98738 and "repmon_case" in anna["tags"] and "aspect_price_billing" in anna["tags"]
    assert "anna" not in str(anna["requester"])  # pseudonymous
    with world.factory() as s:
        assert s.scalar(select(Case.mention_count).where(Case.first_mention_id == 1)) == 3
        assert {t.case_id for t in s.scalars(select(Ticket))} == set(s.scalars(select(Case.id)))


def test_lost_response_restart_and_replay_keep_one_ticket_per_case(zd_world: World, zendesk) -> None:  # type: ignore[no-untyped-def]
    world = zd_world
    first = post(world, "anna", "Ingen svarar på kundtjänst")
    zendesk.lose_next_response = True  # created, but the sender sees a 500
    zd_sender(world, zendesk).drain(now=later(0))
    with world.factory() as s, s.begin():  # the scoring batch is replayed after a crash
        assign_cases(s, [first], later(1), ZD)
    drain(zd_sender(world, zendesk), 5)  # a new sender: the daemon restarted
    assert len(zendesk.tickets) == 1
    with world.factory() as s:
        assert s.scalar(select(Ticket.ticket_id)) == str(zendesk.tickets[0]["id"])
        assert s.scalar(select(CaseMention.case_id).where(CaseMention.mention_id == first)) is not None


def test_quiet_time_and_solved_ticket_close_the_case_and_a_new_post_opens_a_new_one(
    zd_world: World, zendesk
) -> None:  # type: ignore[no-untyped-def]
    world = zd_world
    db = Database(str(world.factory().get_bind().url))
    post(world, "anna", "Fel på fakturan")
    out = zd_sender(world, zendesk)
    drain(out, 1)
    zendesk.set_status(zendesk.tickets[0]["id"], "solved")
    result = refresh_cases(db, out.sinks, ZD, later(5))
    assert (result.solved, result.error) == (1, None)
    post(world, "anna", "Nu är det fel igen", minutes=10)
    drain(out, 11)
    assert len(zendesk.tickets) == 2  # a new case after closing: a new ticket
    # Quiet time: the second case closes after 72 h without a word (default), a later post opens a third.
    assert refresh_cases(db, out.sinks, ZD, later(10) + timedelta(hours=72)).quiet == 1
    post(world, "anna", "Hej igen", minutes=10 + 73 * 60)
    with world.factory() as s:
        reasons = [c.close_reason for c in s.scalars(select(Case).order_by(Case.id))]
        assert reasons == ["helpdesk", "quiet", None]
    db.engine.dispose()


def test_marked_done_in_slack_closes_the_cases_of_the_alert(zd_world: World) -> None:
    world = zd_world
    m = post(world, "anna", "Fel på fakturan")
    with world.factory() as s, s.begin():
        assert close_cases_of_mentions(s, [m], later(1)) == 1
    with world.factory() as s:
        assert s.scalars(select(Case)).one().close_reason == "slack"


def test_cases_ignore_cooldowns_caps_and_quiet_hours_and_the_alert_makes_no_second_ticket(
    zd_world: World, zendesk
) -> None:  # type: ignore[no-untyped-def]
    world = zd_world
    config = ZD.model_copy(update={"daily_cap": 1, "cooldowns": {"default": timedelta(hours=1)}})
    ids = [post(world, f"kund{i}", f"Problem nummer {i}") for i in range(5)]
    with world.factory() as s, s.begin():
        router = Router(config)
        for i, m in enumerate(ids):
            router.record(
                s,
                [
                    AlertCandidate(
                        "complaint", "Acme", f"complaint:mention:{m}", "medium", T0, f"k{i}", mention_ids=(m,)
                    )
                ],
                later(i),
            )
    drain(zd_sender(world, zendesk), 10)
    assert len(zendesk.tickets) == 5 and all(t["external_id"].startswith("repmon-case-") for t in zendesk.tickets)


def test_a_spike_gets_one_problem_ticket_and_its_customers_cases_become_incidents(
    zd_world: World, zendesk
) -> None:  # type: ignore[no-untyped-def]
    world = zd_world
    ids = [post(world, f"kund{i}", f"Nätet ligger nere {i}") for i in range(4)]
    out = zd_sender(world, zendesk)
    leads = Route(name="leads", kinds=["negative_spike", "virality"], helpdesk_group="98738")
    router = Router(
        ZD.model_copy(
            update={"routes": [ZD.routes[0], leads], "cooldowns": {"negative_spike": timedelta(hours=1)}}
        )
    )
    with world.factory() as s, s.begin():
        spike = AlertCandidate(
            "negative_spike", "Acme", "negative_spike:1:a", "high", T0, "Spike", mention_ids=tuple(ids[:3])
        )
        router.record(s, [spike], later(1))
    drain(out, 1)
    with world.factory() as s, s.begin():  # the storm grows: the next bin's spike folds in, its customer joins
        later_spike = AlertCandidate(
            "negative_spike", "Acme", "negative_spike:1:b", "high", T0, "Spike", mention_ids=(ids[3],)
        )
        router.record(s, [later_spike], later(6))
        other = AlertCandidate(
            "virality", "Acme", "virality:mention:x", "critical", T0, "Viral", mention_ids=(ids[0],)
        )
        router.record(s, [other], later(7))  # a second incident for the first customer: noted, not relinked
    drain(out, 8, rounds=4)
    problems = [t for t in zendesk.tickets if t["type"] == "problem"]
    incidents = [t for t in zendesk.tickets if t["type"] == "incident"]
    assert len(problems) == 2 and len(incidents) == 4
    first_problem = next(p for p in problems if "Spike" in p["subject"])
    assert {t["problem_id"] for t in incidents} == {first_problem["id"]}
    noted = next(t for t in incidents if "Nätet ligger nere 0" in t["description"])
    assert any("also affected by problem" in c for c in noted["comments"])


def test_webhook_helpdesk_gets_one_case_payload_and_the_incident_link(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FD_SECRET", SECRET)
    with Receiver() as receiver:
        hook = WebhookConfig(url=receiver.base + "/hook", secret_env="FD_SECRET", allow_private=True)
        config = AlertsConfig(
            routes=[Route(name="hd", kinds=["complaint", "negative_spike"], webhook="fd")],
            webhooks={"fd": hook},
            cooldowns={},
        )
        a1 = post(world, "anna", "Räkningen är fel", config=config)
        post(world, "anna", "Hallå?", minutes=2, config=config)
        b = post(world, "bo", "Ingen svarar", config=config)
        with world.factory() as s, s.begin():
            spike = AlertCandidate(
                "negative_spike", "Acme", "negative_spike:1:a", "high", T0, "Spike", mention_ids=(a1, b)
            )
            Router(config).record(s, [spike], later(3))
        out = OutboxSender(world.factory, {"webhook": WebhookSink({"fd": hook}, clock=lambda: NOW)})
        drain(out, 3)
        with (
            world.factory() as s,
            s.begin(),
        ):  # a crashed sender's rows are claimed again: the receiver drops repeats
            s.execute(OutboxMessage.__table__.update().values(status="pending", locked_until=None))
        drain(out, 10)
    bodies = list(receiver.accepted.values())
    opened = [b for b in bodies if b["action"] == "open_case"]
    assert len(opened) == 2
    anna = next(b for b in opened if b["case"]["posts"][0]["text"] == "Räkningen är fel")
    case = anna["case"]
    assert (
        case["languages"] == ["sv"]
        and case["aspects"] == ["price_billing"]
        and case["needs_help_probability"] == 0.9
    )
    assert "story_keys" in case and anna["external_id"].startswith("repmon-case-")
    assert sum(b["action"] == "case_post" for b in bodies) == 1
    links = [b for b in bodies if b["action"] == "link_incident"]
    assert len(links) == 2 and {b["problem_external_id"] for b in links} == {links[0]["problem_external_id"]}


def _customer_posts(db: Database, count: int, minutes_apart: float = 1) -> list[int]:
    """`count` scored complaints of one customer of a new brand, `minutes_apart` from T0 on."""
    from monitor.kernel.store.tables import Brand, Score, Source

    with db.transaction() as s:
        brand = Brand(name="Acme")
        s.add(brand)
        s.flush()
        source = Source(brand_id=brand.id, name="x", connector="file")
        s.add(source)
        s.flush()
        ids = []
        for i in range(count):
            m = Mention(
                source_id=source.id,
                brand_id=brand.id,
                external_id=f"p{i}",
                author_key="a" * 64,
                text=f"hjälp {i}",
                created_at=later(i * minutes_apart),
            )
            s.add(m)
            s.flush()
            s.add(
                Score(
                    mention_id=m.id,
                    model_version="t",
                    label="negative",
                    p_negative=0.9,
                    p_neutral=0.05,
                    p_positive=0.05,
                    language="sv",
                    needs_help=True,
                    needs_help_probability=0.9,
                    scored_at=later(i * minutes_apart),
                )
            )
            ids.append(m.id)
    return ids


def test_two_workers_seeing_one_customer_at_once_share_one_case(db_url: str, engine) -> None:  # type: ignore[no-untyped-def]
    """Worker A opened the case but has not committed; worker B sees the same customer's next post."""
    db = Database(db_url)
    ids = _customer_posts(db, 2, minutes_apart=0)
    config = AlertsConfig(routes=[Route(name="hd", kinds=["complaint"], helpdesk_group="1")])
    a_open, b_done = threading.Event(), threading.Event()
    results: dict[str, object] = {}

    def worker_b() -> None:
        a_open.wait(30)
        with db.transaction() as s:
            results["b"] = assign_cases(s, [ids[1]], T0, config)
        b_done.set()

    thread = threading.Thread(target=worker_b)
    thread.start()
    with db.transaction() as s:
        results["a"] = assign_cases(s, [ids[0]], T0, config)
        a_open.set()
        if db.engine.dialect.name == "postgresql":  # hold the transaction until B waits on our row lock
            with db.engine.connect() as probe:
                for _ in range(3000):
                    waiting = probe.execute(
                        text(
                            "SELECT count(*) FROM pg_stat_activity"
                            " WHERE wait_event_type = 'Lock' AND datname = current_database()"
                        )
                    ).scalar()
                    if waiting:
                        break
                    probe.rollback()
                    b_done.wait(0.01)
    thread.join(60)
    with db.read() as s:
        (case,) = s.scalars(select(Case)).all()
        assert case.mention_count == 2 and set(s.scalars(select(CaseMention.mention_id))) == set(ids)
        assert len(s.scalars(select(OutboxMessage).where(OutboxMessage.action == "open_case")).all()) == 1
    db.engine.dispose()


def test_two_workers_filing_one_customers_posts_at_once_count_both(db_url: str, engine) -> None:  # type: ignore[no-untyped-def]
    """The case exists; worker A files the customer's next post and has not committed when worker B files
    the one after. Both count: the counter is bumped (+1), not overwritten with a count B read before
    A committed."""
    if not db_url.startswith("postgresql"):
        pytest.skip("SQLite serialises writers: two workers never file at once")
    db = Database(db_url)
    ids = _customer_posts(db, 3)
    config = AlertsConfig(routes=[Route(name="hd", kinds=["complaint"], helpdesk_group="1")])
    with db.transaction() as s:
        assign_cases(s, [ids[0]], T0, config)  # the case, committed
    a_filed = threading.Event()

    def worker_b() -> None:
        a_filed.wait(30)
        with db.transaction() as s:
            assign_cases(s, [ids[2]], later(2), config)

    thread = threading.Thread(target=worker_b)
    thread.start()
    with db.transaction() as s:
        assign_cases(s, [ids[1]], later(1), config)
        a_filed.set()
        with db.engine.connect() as probe:  # hold our transaction until B waits on the case's row lock
            for _ in range(3000):
                waiting = probe.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity"
                        " WHERE wait_event_type = 'Lock' AND datname = current_database()"
                    )
                ).scalar()
                if waiting:
                    break
                probe.rollback()
                threading.Event().wait(0.01)
    thread.join(60)
    with db.read() as s:
        (case,) = s.scalars(select(Case)).all()
        assert set(s.scalars(select(CaseMention.mention_id))) == set(ids)
        assert case.mention_count == 3
        assert case.last_activity_at == later(2)
    db.engine.dispose()


def test_done_in_slack_closes_the_customers_cases_and_the_next_post_opens_a_new_case(zd_world: World) -> None:
    from alerts.actions import Action, apply_action
    from alerts.slack_blocks import DONE

    world = zd_world
    m = post(world, "anna", "Fel på fakturan")
    with world.factory() as s, s.begin():
        alert_id = Router(ZD).record(
            s,
            [AlertCandidate("complaint", "Acme", "complaint:mention:1", "medium", T0, "x", mention_ids=(m,))],
            T0,
        )[0]
        note = apply_action(s, Action(alert_id, DONE, "U777", "1.2"), ZD, later(1))
        assert "1 customer case(s) closed" in note and s.get(Alert, alert_id).state == "done"
    post(world, "anna", "Fel igen", minutes=5)
    with world.factory() as s:
        assert [c.close_reason for c in s.scalars(select(Case).order_by(Case.id))] == ["slack", None]


def test_a_new_customer_in_a_recent_problems_story_joins_the_incident(zd_world: World) -> None:
    """The storm grows after the spike fired: the new customer's case is linked and the lead's message updated."""
    from monitor.kernel.store.tables import Story

    world = zd_world
    leads = Route(name="leads", kinds=["negative_spike"], helpdesk_group="98738", slack_channel="C-LEADS")
    config = ZD.model_copy(update={"routes": [ZD.routes[0], leads]})
    with world.factory() as s, s.begin():
        story = Story(key="outage", brand_id=world.brand_id, created_at=T0, updated_at=T0)
        s.add(story)
        s.flush()
        first = world.mention(s, "Nätet ligger nere", at=T0)
        s.get(Mention, first).story_id = story.id
        assign_cases(s, [first], T0, config)
        spike = AlertCandidate("negative_spike", "Acme", "sp", "high", T0, "Spike", mention_ids=(first,))
        alert_id = Router(config).record(s, [spike], later(1))[0]
        late = world.mention(s, "Nätet ligger nere här också", at=later(30))
        s.get(Mention, late).story_id = story.id
        s.flush()
        assign_cases(s, [late], later(30), config)
    with world.factory() as s:
        assert {c.problem_key for c in s.scalars(select(Case))} == {f"repmon-problem-{alert_id}"}
        links = s.scalars(select(OutboxMessage).where(OutboxMessage.action == "link_incident")).all()
        assert len(links) == 2
        updates = s.scalars(select(OutboxMessage).where(OutboxMessage.action == "update")).all()
        assert updates and updates[-1].payload["alert"]["customers"] == 2
