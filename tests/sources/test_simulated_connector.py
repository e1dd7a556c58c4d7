"""The simulated source: deterministic by seed, cadence-independent, a visible storm, growing engagement."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from connectors.simulated import SimulatedConnector
from monitor.kernel import plugins
from monitor.kernel.types import BrandQuery, Connector, FetchedMention
from monitor.matching import compile_brand

START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
QUERY = BrandQuery(brand="Telia", terms=("Telia",))


class FakeClock:
    """Simulated time under the test's control (the same injection the demo uses to accelerate time)."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def make(clock: FakeClock, **settings: object) -> SimulatedConnector:
    base = {"seed": 11, "start": START, "rate_per_hour": 60, "storm_at": 90, "storm_size": 200}
    return SimulatedConnector({**base, **settings}, clock=clock)


def fetch_all(
    conn: SimulatedConnector, cursor=None, query: BrandQuery = QUERY
) -> tuple[list[FetchedMention], dict]:
    mentions: list[FetchedMention] = []
    for page in conn.fetch(query, cursor):
        mentions += page.mentions
        cursor = page.cursor
    return mentions, cursor


def test_registered_and_conforms_to_protocol() -> None:
    assert plugins.load("connectors", "simulated") is SimulatedConnector
    assert isinstance(make(FakeClock(START)), Connector)


def test_same_seed_same_stream_other_seed_other_stream() -> None:
    clock = FakeClock(START + timedelta(hours=3))
    a, _ = fetch_all(make(clock))
    b, _ = fetch_all(make(clock))
    c, _ = fetch_all(make(clock, seed=12))
    assert a == b
    assert len(a) > 100
    assert [m.text for m in a] != [m.text for m in c]


def test_posts_only_up_to_the_clock_and_cursor_continues() -> None:
    clock = FakeClock(START + timedelta(minutes=30))
    conn = make(clock)
    first, cursor = fetch_all(conn)
    assert first and all(START < m.created_at <= clock.now for m in first)
    assert cursor == {"t": clock.now.isoformat()}
    assert fetch_all(conn, cursor)[0] == []  # time has not moved: nothing new
    clock.now += timedelta(minutes=30)
    second, _ = fetch_all(conn, cursor)
    assert second and all(START + timedelta(minutes=30) < m.created_at <= clock.now for m in second)
    assert not {m.external_id for m in first} & {m.external_id for m in second}


def test_polling_cadence_does_not_change_the_stream() -> None:
    end = START + timedelta(hours=3)
    once, _ = fetch_all(make(FakeClock(end)))
    clock = FakeClock(START)
    conn = make(clock, page_size=7)
    polled: list[FetchedMention] = []
    cursor = None
    while clock.now < end:
        clock.now = min(end, clock.now + timedelta(minutes=7, seconds=13))
        mentions, cursor = fetch_all(conn, cursor)
        polled += mentions
    assert [m.external_id for m in polled] == [m.external_id for m in once]
    assert [m.text for m in polled] == [m.text for m in once]


def test_storm_volume_arrives_at_the_configured_moment() -> None:
    clock = FakeClock(START + timedelta(hours=4))
    conn = make(clock, storm_duration_minutes=30)
    mentions, _ = fetch_all(conn)
    per_window = Counter(int((m.created_at - START).total_seconds() // 1800) for m in mentions)
    storm_window = per_window[3]  # minutes 90-120
    baseline = [n for w, n in per_window.items() if w not in (3, 4)]
    assert storm_window > 4 * max(baseline)
    storm = [m for m in mentions if m.raw["storm"]]
    assert len(storm) == 200
    assert all(m.raw["category"] == "complaint" for m in storm)
    assert min(m.created_at for m in storm) >= START + timedelta(minutes=90)
    assert max(m.created_at for m in storm) <= START + timedelta(minutes=121)
    viral = next(m for m in storm if m.raw["kind"] == "viral")
    echoes = [m for m in storm if m.parent_external_id == viral.external_id]
    assert len(echoes) > 60  # reposts and retellings of the one viral complaint
    assert any(m.text.startswith(f"RT @{viral.author}:") for m in echoes)
    assert len({m.raw["aspect"] for m in storm}) == 1


def test_storm_at_absolute_time_and_no_storm() -> None:
    clock = FakeClock(START + timedelta(hours=2))
    at = START + timedelta(minutes=20)
    mentions, _ = fetch_all(make(clock, storm_at=at, storm_size=50, storm_duration_minutes=10))
    storm = [m for m in mentions if m.raw["storm"]]
    assert len(storm) == 50 and min(m.created_at for m in storm) >= at
    calm, _ = fetch_all(make(clock, storm_at=None))
    assert not any(m.raw["storm"] for m in calm)


def test_engagement_grows_in_a_self_exciting_way() -> None:
    clock = FakeClock(START + timedelta(minutes=95))
    conn = make(clock)
    mentions, _ = fetch_all(conn)
    viral = next(m for m in mentions if m.raw["kind"] == "viral")
    series = []
    for minutes in (0, 10, 30, 60, 120, 240, 480, 960):
        clock.now = viral.created_at + timedelta(minutes=minutes)
        (update,) = conn.repoll([viral.external_id])
        series.append((update.likes, update.reposts, update.replies))
        assert update.observed_at == clock.now
    likes = [s[0] for s in series]
    assert likes == sorted(likes)  # never decreases
    assert likes[0] == 0 and likes[-1] > 150
    assert likes[3] - likes[2] > likes[7] - likes[6]  # fast early growth, then it flattens
    # Polling again at the same moment gives the same counts (no hidden state).
    assert next(iter(conn.repoll([viral.external_id]))).likes == likes[-1]


def test_repoll_ignores_foreign_and_future_ids() -> None:
    clock = FakeClock(START + timedelta(minutes=10))
    conn = make(clock)
    assert list(conn.repoll(["12345", "sim-99-1-0", "sim-11-s5"])) == []  # s5 is in the future storm


def test_every_post_mentions_the_brand_in_all_languages() -> None:
    for brand in ("Telia", "SAS", "Mærsk"):
        clock = FakeClock(START + timedelta(hours=3))
        conn = make(clock, brand=brand)
        mentions, _ = fetch_all(conn)
        matcher = compile_brand(brand)
        missed = [m.text for m in mentions if not matcher.matches(m.text)]
        assert not missed, missed[:5]
        assert {m.raw["kind"] for m in mentions} >= {"praise", "question", "news", "complaint", "viral"}
        assert all(m.links for m in mentions if m.raw["kind"] == "news")
    langs = Counter(m.language for m in mentions)
    assert set(langs) == {"sv", "da", "no", "en", None}


def test_settings_are_validated() -> None:
    with pytest.raises(ValidationError):
        SimulatedConnector({"languages": ["de"]})
    with pytest.raises(ValidationError):
        SimulatedConnector({"rate_per_hour": 0})
    with pytest.raises(ValidationError):
        SimulatedConnector({"storm_at": -5})


def test_deleted_posts_disappear_and_repoll_reports_them() -> None:
    clock = FakeClock(START + timedelta(hours=2))
    conn = make(clock, deleted_share=0.3, storm_at=None)
    early, _ = fetch_all(conn)
    clock.now = START + timedelta(hours=12)
    updates = list(conn.repoll([m.external_id for m in early]))
    deleted = {u.external_id for u in updates if u.deleted}
    assert 0.1 * len(early) < len(deleted) < 0.5 * len(early)
    assert all(u.likes is None for u in updates if u.deleted)
    later, _ = fetch_all(make(clock, deleted_share=0.3, storm_at=None))
    later_ids = {m.external_id for m in later}
    assert not deleted & later_ids  # a deleted post is not fetched any more
    assert {m.external_id for m in early} - deleted <= later_ids
