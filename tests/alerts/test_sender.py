"""OutboxSender: claims, retries with backoff, 429s, dead-letter, crash recovery, threads after posts."""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import timedelta
from typing import ClassVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.config import AlertsConfig, OutboxConfig
from alerts.router import Router
from alerts.sender import OutboxSender, retry_dead
from alerts.sinks.console import ConsoleSink
from monitor.kernel.store.tables import OutboxMessage
from monitor.kernel.types import AlertCandidate, Delivery, DeliveryResult

from .conftest import T0, World, later


class ScriptedSink:
    """Stands in for an external service (not for our code): answers from a script, records calls."""

    name: ClassVar[str] = "console"

    def __init__(self, answers: list[DeliveryResult]) -> None:
        self.answers = answers
        self.calls: list[Delivery] = []

    def deliver(self, delivery: Delivery) -> DeliveryResult:
        self.calls.append(delivery)
        return self.answers.pop(0) if self.answers else DeliveryResult(ok=True, result={"ts": "1.0"})


def record_alerts(world: World, n: int) -> None:
    router = Router(AlertsConfig(cooldowns={}))
    with world.factory() as s, s.begin():
        for i in range(n):
            m = world.mention(s, f"<!channel> problem {i}")
            cand = AlertCandidate(
                kind=f"k{i}",
                brand="Acme",
                key=f"a{i}",
                severity="high",
                detected_at=T0,
                headline=f"Problem {i}",
                mention_ids=(m,),
            )
            router.record(s, [cand], T0)


def statuses(factory: Callable[[], Session]) -> list[tuple[str, int]]:
    with factory() as s:
        return list(
            s.execute(select(OutboxMessage.status, OutboxMessage.attempts).order_by(OutboxMessage.id)).all()
        )


def test_console_delivery_prints_the_alert(world: World) -> None:
    record_alerts(world, 2)
    out = io.StringIO()
    stats = OutboxSender(world.factory, {"console": ConsoleSink(out)}).drain(now=T0)
    assert (stats.claimed, stats.delivered) == (2, 2)
    assert "[!! HIGH] Problem 0" in out.getvalue() and "<!channel> problem 1" in out.getvalue()
    assert statuses(world.factory) == [("delivered", 1), ("delivered", 1)]
    assert OutboxSender(world.factory, {"console": ConsoleSink(out)}).drain(now=later(1)).claimed == 0


def test_failures_back_off_exponentially_then_dead_letter_and_retry_revives(world: World) -> None:
    record_alerts(world, 1)
    fail = DeliveryResult(ok=False, error="HTTP 503")
    sink = ScriptedSink([fail] * 3)
    sender = OutboxSender(world.factory, {"console": sink}, OutboxConfig(max_attempts=3))
    assert sender.drain(now=T0).retried == 1
    with world.factory() as s:
        first_wait = s.scalars(select(OutboxMessage.next_attempt_at)).one() - T0
    assert timedelta(seconds=30) <= first_wait <= timedelta(seconds=37.5)
    assert sender.drain(now=T0 + first_wait - timedelta(seconds=1)).claimed == 0  # not due yet
    assert sender.drain(now=later(1)).retried == 1
    with world.factory() as s:
        second_wait = s.scalars(select(OutboxMessage.next_attempt_at)).one() - later(1)
    assert timedelta(seconds=60) <= second_wait <= timedelta(seconds=75)
    assert sender.drain(now=later(5)).dead == 1
    assert statuses(world.factory) == [("dead", 3)]
    assert sender.drain(now=later(60)).claimed == 0
    with world.factory() as s, s.begin():
        assert retry_dead(s, None, later(61)) == 1
    assert sender.drain(now=later(61)).delivered == 1
    assert len(sink.calls) == 4 and {c.idempotency_key for c in sink.calls} == {sink.calls[0].idempotency_key}


def test_permanent_error_dead_letters_at_once(world: World) -> None:
    record_alerts(world, 1)
    sink = ScriptedSink([DeliveryResult(ok=False, permanent=True, error="channel_not_found")])
    assert OutboxSender(world.factory, {"console": sink}).drain(now=T0).dead == 1
    with world.factory() as s:
        assert s.scalars(select(OutboxMessage.last_error)).one() == "channel_not_found"


def test_429_pauses_the_sink_without_using_attempts(world: World) -> None:
    record_alerts(world, 3)
    sink = ScriptedSink([DeliveryResult(ok=False, retry_after=20, error="ratelimited")])
    stats = OutboxSender(world.factory, {"console": sink}, OutboxConfig(max_attempts=1)).drain(now=T0)
    assert (stats.rate_limited, len(sink.calls)) == (3, 1)  # the other two waited without a call
    assert statuses(world.factory) == [("pending", 0)] * 3
    assert OutboxSender(world.factory, {"console": sink}).drain(now=T0 + timedelta(seconds=19)).claimed == 0
    assert OutboxSender(world.factory, {"console": sink}).drain(now=T0 + timedelta(seconds=20)).delivered == 3


def test_crashed_sender_rows_are_reclaimed_after_the_lock_expires(world: World) -> None:
    record_alerts(world, 2)
    crashed = OutboxSender(world.factory, {})
    crashed._claim(T0, T0 + crashed.config.lock_for, 100)  # claimed, then the process died
    sink = ScriptedSink([])
    sender = OutboxSender(world.factory, {"console": sink})
    assert sender.drain(now=later(1)).claimed == 0  # still locked
    assert sender.drain(now=later(5)).delivered == 2
    assert [c.attempts for c in sink.calls] == [2, 2]


def test_thread_reply_waits_for_its_post_and_gets_its_result(world: World) -> None:
    record_alerts(world, 1)
    router = Router(AlertsConfig(cooldowns={}))
    with world.factory() as s, s.begin():
        m = world.mention(s, "me too")
        cand = AlertCandidate(
            kind="k0",
            brand="Acme",
            key="a0",
            severity="high",
            detected_at=T0,
            headline="Problem 0",
            mention_ids=(m,),
        )
        router.record(s, [cand], later(1))
    sink = ScriptedSink([DeliveryResult(ok=False, error="boom")])
    sender = OutboxSender(world.factory, {"console": sink})
    stats = sender.drain(now=later(1))
    assert (stats.retried, stats.deferred) == (1, 1)  # post failed; the reply did not go first
    sender.drain(now=later(10))
    replies = [c for c in sink.calls if c.action == "thread_reply"]
    assert len(replies) == 1 and replies[0].payload["parent_result"] == {"ts": "1.0"}


def test_lost_claim_does_not_overwrite_the_new_owner(world: World) -> None:
    record_alerts(world, 1)
    slow = OutboxSender(world.factory, {})
    lock = T0 + slow.config.lock_for
    (row_id,) = slow._claim(T0, lock, 10)
    other = OutboxSender(world.factory, {"console": ScriptedSink([])})
    assert other.drain(now=later(6)).delivered == 1
    from alerts.sender import DrainStats

    stats = DrainStats()
    slow._finish(row_id, lock, stats, defer_until=later(7))
    assert stats.lost_claims == 1 and statuses(world.factory) == [("delivered", 2)]


def test_postgres_claims_skip_rows_another_sender_is_claiming(world: World, db_url: str) -> None:
    if not db_url.startswith("postgresql"):
        import pytest

        pytest.skip("FOR UPDATE SKIP LOCKED is the PostgreSQL claim path")
    record_alerts(world, 4)
    with world.factory() as other, other.begin():
        held = other.scalars(select(OutboxMessage.id).order_by(OutboxMessage.id).limit(2).with_for_update()).all()
        sink = ScriptedSink([])
        stats = OutboxSender(world.factory, {"console": sink}).drain(now=T0)  # must not wait for `other`
        assert stats.delivered == 2 and {c.outbox_id for c in sink.calls}.isdisjoint(held)


def test_a_message_that_kills_the_sender_every_time_ends_in_dead_letter(world: World) -> None:
    record_alerts(world, 1)
    crashing = OutboxSender(world.factory, {}, OutboxConfig(max_attempts=2))
    now = T0
    for _ in range(2):  # claimed, then the process dies before recording anything
        crashing._claim(now, now + crashing.config.lock_for, 10)
        now += crashing.config.lock_for + timedelta(seconds=1)
    sink = ScriptedSink([])
    stats = OutboxSender(world.factory, {"console": sink}, OutboxConfig(max_attempts=2)).drain(now=now)
    assert stats.dead == 1 and sink.calls == []
    assert statuses(world.factory) == [("dead", 3)]


def test_console_prints_each_alert_as_itself_and_follow_ups_under_their_parent(world: World) -> None:
    """Issue 12: the storm's spike is its own alert, not a one-liner in the first complaint's thread."""
    from alerts.config import AlertsConfig
    from alerts.router import Router
    from monitor.kernel.store.tables import Story
    from monitor.kernel.types import AlertCandidate

    with world.factory() as s, s.begin():
        story = Story(key="story-x", brand_id=world.brand_id, created_at=T0, updated_at=T0)
        s.add(story)
        s.flush()
        a, b, c = (world.mention(s, f"nere {i}") for i in range(3))
        for m in (a, b, c):
            s.get(__import__("monitor.kernel.store.tables", fromlist=["Mention"]).Mention, m).story_id = story.id
        router = Router(AlertsConfig(cooldowns={}))
        router.record(
            s, [AlertCandidate("complaint", "Acme", "c1", "medium", T0, "Kund: nätet nere", mention_ids=(a,))], T0
        )
        router.record(
            s,
            [AlertCandidate("negative_spike", "Acme", "sp", "high", T0, "Spike: 40 negative", mention_ids=(b,))],
            T0,
        )
        router.record(
            s,
            [AlertCandidate("negative_spike", "Acme", "sp", "high", T0, "Spike: 40 negative", mention_ids=(c,))],
            later(1),
        )
    out = io.StringIO()
    sender = OutboxSender(world.factory, {"console": ConsoleSink(out)})
    sender.drain(now=later(1))
    sender.drain(now=later(2))
    text = out.getvalue()
    assert "[! MEDIUM] Kund: nätet nere" in text and "[!! HIGH] Spike: 40 negative" in text
    assert "negative_spike: Spike: 40 negative) 1 more mention(s)" in text
    assert "1 customer(s) affected" in text  # the incident line of the spike (console messages are not edited)
