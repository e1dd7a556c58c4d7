"""Router: alerts, mentions and outbox rows in the caller's transaction; idempotent by key; routing rules."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from alerts.config import AlertsConfig, QuietHours, Route
from alerts.router import Router
from monitor.kernel.store.tables import Alert, AlertMention, OutboxMessage, Source, Story
from monitor.kernel.types import AlertCandidate

from .conftest import T0, World, later


def candidate(
    key: str,
    mentions: tuple[int, ...] = (),
    *,
    severity: str = "high",
    kind: str = "complaint",
    at: datetime = T0,
    **evidence: object,
) -> AlertCandidate:
    return AlertCandidate(
        kind=kind,
        brand="Acme",
        key=key,
        severity=severity,
        detected_at=at,  # type: ignore[arg-type]
        headline=f"Customers angry about {key} and the rest of this long headline text here",
        evidence=evidence,
        mention_ids=mentions,
    )


def rows(session: Session, **where: object) -> list[OutboxMessage]:
    query = select(OutboxMessage).order_by(OutboxMessage.id)
    for name, value in where.items():
        query = query.where(getattr(OutboxMessage, name) == value)
    return list(session.scalars(query))


def test_no_routes_goes_to_console_and_repeat_key_never_makes_a_second_alert(world: World) -> None:
    router = Router(AlertsConfig())
    with world.factory() as s, s.begin():
        m1 = world.mention(s, "Kundtjänsten svarar inte")
        ids = router.record(s, [candidate("k1", (m1,))], T0)
    with world.factory() as s, s.begin():
        m2 = world.mention(s, "Samma problem här")
        again = router.record(s, [candidate("k1", (m1, m2), count=7)], later(1))
        router.record(s, [candidate("k1", (m1, m2), count=7)], later(2))  # exact replay: no-op
    assert again == ids
    with world.factory() as s:
        assert s.scalar(select(func.count()).select_from(Alert)) == 1
        alert = s.get(Alert, ids[0])
        assert alert is not None and alert.state == "open" and alert.evidence == {"count": 7}
        assert s.scalar(select(func.count()).select_from(AlertMention)) == 2
        posts = rows(s, action="post")
        assert [(r.sink, r.payload["alert"]["headline"].count(" ") + 1) for r in posts] == [("console", 10)]
        replies = rows(s, action="thread_reply")
        assert len(replies) == 1 and replies[0].payload["parent_key"] == posts[0].idempotency_key
        assert [m["id"] for m in replies[0].payload["mentions"]] == [m2]


def test_rollback_of_callers_transaction_leaves_nothing(world: World) -> None:
    with world.factory() as s:
        s.begin()
        m1 = world.mention(s, "x")
        Router(AlertsConfig()).record(s, [candidate("k1", (m1,))], T0)
        s.rollback()
    with world.factory() as s:
        assert s.scalar(select(func.count()).select_from(OutboxMessage)) == 0
        assert s.scalar(select(func.count()).select_from(Alert)) == 0


def test_routes_by_language_aspect_needs_help_and_severity(world: World) -> None:
    config = AlertsConfig(
        routes=[
            Route(name="sv-billing", languages=["sv"], aspects=["price_billing"], slack_channel="C-BILL"),
            Route(name="help", needs_help=True, min_severity="high", helpdesk_group="360001"),
            Route(name="da", languages=["da"], slack_channel="C-DK"),
        ]
    )
    router = Router(config)
    with world.factory() as s, s.begin():
        bill = world.mention(s, "Fakturan är fel igen", aspects={"price_billing": 0.9})
        calm = world.mention(s, "Hur byter jag adress?", needs_help=False, aspects={"price_billing": 0.2})
        dk = world.mention(s, "Hvorfor er min pakke forsinket", language="da", needs_help=True)
        router.record(
            s,
            [
                candidate("bill", (bill,)),
                candidate("calm", (calm,), kind="question"),
                candidate("dk", (dk,), severity="medium", kind="other"),
            ],
            T0,
        )
    with world.factory() as s:
        by_alert = {}
        for row in rows(s):
            alert = s.get(Alert, row.alert_id)
            by_alert.setdefault(alert.key, set()).add(
                (row.sink, row.payload.get("channel") or row.payload.get("group_id"))
            )
        assert by_alert["bill"] == {("slack", "C-BILL"), ("zendesk", "360001")}
        assert by_alert["calm"] == {("console", None)}  # unmatched alerts are never silently dropped
        assert by_alert["dk"] == {("slack", "C-DK")}  # needs_help but only medium: no ticket


def test_cooldown_folds_same_brand_and_kind_unless_more_severe(world: World) -> None:
    router = Router(AlertsConfig(cooldowns={"default": timedelta(minutes=30)}))
    with world.factory() as s, s.begin():
        a, b, c, d = (world.mention(s, f"post {i}") for i in range(4))
        router.record(s, [candidate("first", (a,), severity="medium")], T0)
        router.record(s, [candidate("second", (b,), severity="medium")], later(10))
        router.record(s, [candidate("worse", (c,), severity="critical")], later(12))
        router.record(s, [candidate("after", (d,), severity="medium")], later(50))
    with world.factory() as s:
        states = dict(s.execute(select(Alert.key, Alert.state)).all())
        assert states == {"first": "open", "second": "cooldown", "worse": "open", "after": "open"}
        first = s.scalars(select(Alert).where(Alert.key == "first")).one()
        linked = set(s.scalars(select(AlertMention.mention_id).where(AlertMention.alert_id == first.id)))
        assert linked == {a, b}  # the folded alert's mention joins the first alert's thread
        assert len(rows(s, action="post")) == 3
        assert len(rows(s, action="thread_reply")) == 1


def test_one_alert_per_story(world: World) -> None:
    router = Router(AlertsConfig(cooldowns={}))
    with world.factory() as s, s.begin():
        story = Story(key="story-1", brand_id=world.brand_id, created_at=T0, updated_at=T0)
        s.add(story)
        s.flush()
        a, b = world.mention(s, "one"), world.mention(s, "two")
        for m in s.scalars(select(__import__("monitor.kernel.store.tables", fromlist=["Mention"]).Mention)):
            m.story_id = story.id
        router.record(s, [candidate("spike", (a,), kind="negative_spike")], T0)
        router.record(s, [candidate("viral", (b,), kind="virality")], later(1))
    with world.factory() as s:
        states = dict(s.execute(select(Alert.key, Alert.state)).all())
        assert states == {"spike": "open", "viral": "merged"}


def test_quiet_hours_fold_into_one_morning_digest(world: World) -> None:
    config = AlertsConfig(quiet_hours=QuietHours(start=time(22), end=time(7)), cooldowns={})
    night = datetime(2026, 11, 23, 23, 30, tzinfo=UTC)  # 00:30 Stockholm
    router = Router(config)
    with world.factory() as s, s.begin():
        a, b, c = (world.mention(s, f"natt {i}") for i in range(3))
        router.record(s, [candidate("n1", (a,), severity="high", at=night)], night)
        router.record(s, [candidate("n2", (b,), severity="medium", at=night)], night + timedelta(hours=1))
        router.record(s, [candidate("n3", (c,), severity="critical", at=night)], night + timedelta(hours=2))
    with world.factory() as s:
        states = dict(s.execute(select(Alert.key, Alert.state)).all())
        assert states == {"n1": "digest", "n2": "digest", "n3": "open"}  # critical bypasses quiet hours
        (digest,) = rows(s, action="digest")
        assert [i["alert_id"] for i in digest.payload["items"]] == [
            s.scalars(select(Alert.id).where(Alert.key == k)).one() for k in ("n1", "n2")
        ]
        assert digest.next_attempt_at == datetime(2026, 11, 24, 6, 0, tzinfo=UTC)  # 07:00 Stockholm


def test_daily_cap_sends_an_overflow_summary(world: World) -> None:
    router = Router(AlertsConfig(daily_cap=2, cooldowns={}))
    with world.factory() as s, s.begin():
        ms = [world.mention(s, f"p{i}") for i in range(5)]
        for i, m in enumerate(ms):
            router.record(s, [candidate(f"c{i}", (m,), kind="complaint")], later(i))
    with world.factory() as s:
        assert len(rows(s, action="post")) == 2
        (summary,) = rows(s, action="digest")
        assert len(summary.payload["items"]) == 3 and "Daily cap" in summary.payload["title"]
        assert summary.next_attempt_at == later(2) + timedelta(minutes=30)


def test_spike_is_delivered_after_100_single_complaints_the_same_day(world: World) -> None:
    """Budgets are per kind: complaints use up their own cap, never the spike's (issue 12)."""
    router = Router(AlertsConfig(daily_cap=20, cooldowns={}))
    with world.factory() as s, s.begin():
        for i in range(100):
            router.record(s, [candidate(f"c{i}", (world.mention(s, f"klagomål {i}"),))], later(i))
        storm = world.mention(s, "alla klagar")
        spike = router.record(s, [candidate("spike", (storm,), kind="negative_spike")], later(101))[0]
    with world.factory() as s:
        assert s.get(Alert, spike).state == "open"
        assert any(r.alert_id == spike for r in rows(s, action="post"))
        states = list(s.scalars(select(Alert.state).where(Alert.kind == "complaint")))
        assert states.count("open") == 20 and states.count("overflow") == 80


def test_daily_caps_by_kind_override_the_default(world: World) -> None:
    router = Router(AlertsConfig(daily_cap=50, daily_caps={"complaint": 1}, cooldowns={}))
    with world.factory() as s, s.begin():
        a, b, c = (world.mention(s, f"p{i}") for i in range(3))
        router.record(s, [candidate("c1", (a,)), candidate("c2", (b,))], T0)
        router.record(s, [candidate("v1", (c,), kind="volume_spike")], T0)
    with world.factory() as s:
        assert dict(s.execute(select(Alert.key, Alert.state)).all()) == {
            "c1": "open",
            "c2": "overflow",
            "v1": "open",
        }


def test_coverage_lost_once_per_outage(world: World) -> None:
    router = Router(AlertsConfig())
    with world.factory() as s, s.begin():
        source = s.get(Source, world.source_id)
        source.health, source.health_changed_at, source.health_reason = "failing", T0, "HTTP 503 x12"
        assert router.record(s, [], later(30)) == []  # not failing long enough yet
        first = router.record(s, [], later(61))
        assert router.record(s, [], later(62)) == first
    with world.factory() as s:
        alert = s.scalars(select(Alert)).one()
        assert alert.kind == "coverage_lost" and alert.evidence["reason"] == "HTTP 503 x12"
        assert len(rows(s, action="post")) == 1


def test_single_complaints_can_go_to_an_hourly_digest_while_spikes_are_posted(world: World) -> None:
    config = AlertsConfig(
        routes=[Route(name="leads", slack_channel="C-LEADS", single_complaints="digest")], cooldowns={}
    )
    router = Router(config)
    with world.factory() as s, s.begin():
        a, b, c = (world.mention(s, f"p{i}") for i in range(3))
        router.record(s, [candidate("c1", (a,)), candidate("c2", (b,))], later(5))
        router.record(s, [candidate("sp", (c,), kind="negative_spike")], later(6))
    with world.factory() as s:
        (post,) = rows(s, action="post")
        assert post.payload["alert"]["kind"] == "negative_spike"
        (digest,) = rows(s, action="digest")
        headlines = [i["headline"][:24] for i in digest.payload["items"]]
        assert headlines == ["Customers angry about c1", "Customers angry about c2"]
        assert digest.next_attempt_at == T0 + timedelta(hours=1)  # the next full hour
        assert dict(s.execute(select(Alert.key, Alert.state)).all())["c1"] == "digest"
