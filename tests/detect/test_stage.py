"""The detect stage on real databases (SQLite and PostgreSQL): spikes, shares, virality, complaints."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from monitor.detect.config import DetectConfig
from monitor.detect.stage import detect
from monitor.kernel.store.tables import Brand, DetectorState, EngagementSnapshot, Mention, Score, Source, Story
from tests.detect.scored import add_scored

T0 = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)
BIN = timedelta(minutes=5)


def _config(**kw: object) -> DetectConfig:
    base: dict[str, object] = {
        "catchup_hours": 24 * 14,
        "volume": {"warmup_bins": 144},
        "virality": {"enabled": False},
        "complaint": {"enabled": False},
    }
    base.update(kw)
    return DetectConfig.model_validate(base)


def _brand(session: Session, name: str = "Acme") -> tuple[Brand, Source]:
    brand = Brand(name=name)
    session.add(brand)
    session.flush()
    source = Source(brand_id=brand.id, name="file", connector="file")
    session.add(source)
    session.flush()
    return brand, source


def _add(session: Session, brand: Brand, source: Source, at: datetime, label: str, n: int, tag: str) -> list[int]:
    """n scored mentions with this label, spread inside the 5-minute bin that starts at `at`."""
    rows = [
        (f"{tag}-{label}-{at.isoformat()}-{i}", at + timedelta(seconds=7 * i % 290), label, None) for i in range(n)
    ]
    return add_scored(session, brand, source, rows, scored_at=at)


def _history(session: Session, brand: Brand, source: Source, bins: int, seed: int = 1) -> datetime:
    """`bins` 5-minute bins of ordinary traffic: about 6 mentions a bin, 1 in 10 negative."""
    rng = random.Random(seed)
    for b in range(bins):
        at = T0 + b * BIN
        hour_factor = 1.0 + 0.5 * (6 <= at.hour < 20)
        n = max(int(rng.gauss(5 * hour_factor, 1.5)), 0)
        neg = sum(rng.random() < 0.1 for _ in range(n))
        _add(session, brand, source, at, "negative", neg, "h")
        _add(session, brand, source, at, "positive", n - neg, "h")
    return T0 + bins * BIN


def _event(session: Session, brand: Brand, source: Source, start: datetime, bins: int, neg: int, pos: int) -> None:
    for b in range(bins):
        _add(session, brand, source, start + b * BIN, "negative", neg, "e")
        _add(session, brand, source, start + b * BIN, "positive", pos, "e")


def test_rise_in_negative_share_pages_support(engine: Engine) -> None:
    with Session(engine) as s:
        brand, source = _brand(s)
        end = _history(s, brand, source, 360)
        _event(s, brand, source, end, 6, neg=5, pos=2)  # same volume, mostly negative
        s.commit()
        found = detect(s, _config(), end + 6 * BIN + timedelta(minutes=15))
    spikes = [c for c in found if c.kind == "negative_spike"]
    assert len(spikes) == 1, found
    spike = spikes[0]
    assert spike.severity in ("medium", "high", "critical")
    assert spike.evidence["share"] > 2 * spike.evidence["baseline_share"]
    assert spike.evidence["negative"] >= 5 and spike.mention_ids
    assert end <= spike.detected_at <= end + 6 * BIN


def test_positive_launch_buzz_does_not_page(engine: Engine) -> None:
    with Session(engine) as s:
        brand, source = _brand(s)
        end = _history(s, brand, source, 360)
        _event(s, brand, source, end, 12, neg=4, pos=40)  # 8x volume, usual negative share
        s.commit()
        found = detect(s, _config(), end + 12 * BIN + timedelta(minutes=15))
    assert not [c for c in found if c.kind == "negative_spike"], found
    volume = [c for c in found if c.kind == "volume_spike"]
    assert len(volume) == 1 and volume[0].severity == "low"
    assert volume[0].evidence["count"] > 3 * volume[0].evidence["baseline"]


def test_quiet_history_raises_nothing(engine: Engine) -> None:
    with Session(engine) as s:
        brand, source = _brand(s)
        end = _history(s, brand, source, 2 * 288, seed=7)
        s.commit()
        assert detect(s, _config(), end + timedelta(minutes=15)) == []


def test_restart_neither_rewarms_nor_realerts(engine: Engine) -> None:
    """Running in many small steps (fresh session each: a restarted daemon) equals one long run."""
    with Session(engine) as s:
        brand, source = _brand(s)
        end = _history(s, brand, source, 360)
        _event(s, brand, source, end, 6, neg=6, pos=1)
        s.commit()
    final = end + 6 * BIN + timedelta(minutes=15)
    keys: list[str] = []
    step = T0 + timedelta(hours=20)
    while step <= final:
        with Session(engine) as s:
            keys += [c.key for c in detect(s, _config(), step)]
            s.commit()
        step += timedelta(hours=3) if step < end else timedelta(minutes=5)
    with Session(engine) as s:
        keys += [c.key for c in detect(s, _config(), final)]  # same `now` again: nothing new
        s.commit()
        state = s.scalar(select(DetectorState).where(DetectorState.detector == "spikes"))
        assert state is not None and state.state["volume"]["n"] > 288  # warmed, persisted
    # A fresh database run in one go yields the same event key exactly once.
    with Session(engine) as s:
        s.query(DetectorState).delete()
        s.commit()
        once = [c.key for c in detect(s, _config(), final)]
    assert keys == once
    assert len([k for k in keys if k.startswith("negative_spike:")]) == 1


def test_bins_wait_for_the_scorer(engine: Engine) -> None:
    """Unscored mentions hold their bin back (up to score_wait) instead of being counted as not negative."""
    with Session(engine) as s:
        brand, source = _brand(s)
        end = _history(s, brand, source, 360)
        m = Mention(source_id=source.id, brand_id=brand.id, external_id="u", text="x", created_at=end + BIN)
        s.add(m)
        s.commit()
        detect(s, _config(), end + 3 * BIN + timedelta(minutes=10))
        state = s.scalar(select(DetectorState).where(DetectorState.detector == "spikes"))
        assert state is not None
        assert datetime.fromisoformat(state.state["next_bin"]) == end + BIN


def test_complaint_one_candidate_per_story_and_no_repeat(engine: Engine) -> None:
    cfg = _config(complaint={"enabled": True}, volume={"enabled": False}, negative_share={"enabled": False})
    now = T0 + timedelta(hours=1)
    with Session(engine) as s:
        brand, source = _brand(s)
        story = Story(key="s1", brand_id=brand.id)
        s.add(story)
        s.flush()
        ids = _add(s, brand, source, T0, "negative", 3, "c")
        for mid in ids[:2]:
            s.get(Mention, mid).story_id = story.id  # type: ignore[union-attr]
        for score in s.scalars(select(Score)):
            score.needs_help, score.needs_help_probability = True, 0.9
        _add(s, brand, source, T0, "positive", 2, "p")
        _add(s, brand, source, T0 - timedelta(days=3), "negative", 1, "old")  # before the lookback
        for score in s.scalars(select(Score).where(Score.needs_help.is_(False))):
            if score.label == "positive" or score.mention_id > ids[-1]:
                score.needs_help, score.needs_help_probability = True, 0.9  # not negative / too old
        s.commit()
        found = detect(s, cfg, now)
        s.commit()
        assert sorted(c.key for c in found) == [f"complaint:mention:{ids[2]}", f"complaint:story:{story.id}"]
        story_candidate = next(c for c in found if c.story_id == story.id)
        assert story_candidate.mention_ids == tuple(ids[:2])
        assert detect(s, cfg, now + timedelta(minutes=5)) == []


def test_virality_from_snapshots(engine: Engine) -> None:
    cfg = _config(
        virality={"enabled": True, "reach_threshold": 50},
        volume={"enabled": False},
        negative_share={"enabled": False},
    )
    with Session(engine) as s:
        brand, source = _brand(s)
        hot, cold = _add(s, brand, source, T0, "negative", 2, "v")
        for minutes, reposts in ((2, 6), (5, 15), (10, 30)):
            s.add(EngagementSnapshot(mention_id=hot, observed_at=T0 + timedelta(minutes=minutes), reposts=reposts))
        s.add(EngagementSnapshot(mention_id=cold, observed_at=T0 + timedelta(minutes=10), reposts=1))
        s.commit()
        found = detect(s, cfg, T0 + timedelta(minutes=11))
        s.commit()
        assert [c.key for c in found] == [f"virality:mention:{hot}"]
        assert found[0].evidence["predicted_final"] >= 50
        assert found[0].evidence["observed_reposts"] == 30
        assert detect(s, cfg, T0 + timedelta(minutes=12)) == []


def test_complaint_scored_out_of_id_order_is_still_raised_once(engine: Engine) -> None:
    """A score whose transaction commits after a higher id was seen (two workers) is not lost."""
    cfg = _config(complaint={"enabled": True}, volume={"enabled": False}, negative_share={"enabled": False})
    now = T0 + timedelta(hours=1)
    with Session(engine) as s:
        brand, source = _brand(s)
        early, late = _add(s, brand, source, T0, "negative", 2, "w")
        s.flush()
        for score in s.scalars(select(Score)):
            score.needs_help, score.needs_help_probability, score.scored_at = True, 0.9, now - timedelta(minutes=1)
        held = s.scalar(select(Score).where(Score.mention_id == early))
        assert held is not None
        held_id = held.id
        row = {c: getattr(held, c) for c in ("mention_id", "model_version", "label", "language", "aspects")}
        row |= {"p_negative": 0.8, "p_neutral": 0.1, "p_positive": 0.1, "needs_help": True}
        s.delete(held)  # worker A's transaction: id allocated, not yet committed
        s.commit()

        first = detect(s, cfg, now)
        s.commit()
        assert [c.key for c in first] == [f"complaint:mention:{late}"]

        s.add(Score(id=held_id, needs_help_probability=0.9, scored_at=now - timedelta(minutes=1), **row))
        s.commit()  # worker A commits now: a lower id than the one already handled
        second = detect(s, cfg, now + timedelta(minutes=1))
        s.commit()
        assert [c.key for c in second] == [f"complaint:mention:{early}"]
        assert detect(s, cfg, now + timedelta(minutes=2)) == []

        assert detect(s, cfg, now + timedelta(minutes=30)) == []  # settled: the watermark moves past both
        state = s.scalar(select(DetectorState).where(DetectorState.detector == "complaint")).state
        assert state["seen"] == [] and state["settled_id"] >= held_id
