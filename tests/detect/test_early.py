"""negative_spike judged before a bin settles: fast, once per storm, across restarts, at any volume."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from monitor.detect.stage import detect
from monitor.kernel.store.tables import Brand, Source
from tests.detect.scored import add_scored

from .test_stage import BIN, T0, _add, _brand, _config, _history

MINUTE = timedelta(minutes=1)


def _post(session: Session, brand: Brand, source: Source, at: datetime, label: str, tag: str) -> int:
    return add_scored(session, brand, source, [(f"{tag}-{at.isoformat()}", at, label, None)])[0]


def _storm(session: Session, brand: Brand, source: Source, start: datetime, minutes: int, per_minute: int) -> None:
    """`per_minute` posts a minute, 80 % negative, from `start` on."""
    for minute in range(minutes):
        for k in range(per_minute):
            at = start + minute * MINUTE + timedelta(seconds=k * 60 // per_minute)
            label = "negative" if k % 5 else "positive"
            _post(session, brand, source, at, label, f"storm-{minute}-{k}")


def _storm_after_quiet_history(engine: Engine, minutes: int, per_minute: int) -> datetime:
    """A brand with 6 h of settled, already-judged history, then a storm starting a minute later (`_storm`);
    returns the storm's start."""
    with Session(engine) as s:
        brand, source = _brand(s)
        end = _history(s, brand, source, 360)
        detect(s, _config(), end)
        _storm(s, brand, source, end + MINUTE, minutes, per_minute)
        s.commit()
    return end + MINUTE


def _run_every_minute(engine: Engine, start: datetime, minutes: int) -> list[tuple[datetime, object]]:
    """The daemon's cadence: detect() once a minute, each run in a fresh session (as after a restart)."""
    found = []
    for minute in range(minutes):
        now = start + minute * MINUTE
        with Session(engine) as s:
            for c in detect(s, _config(), now):
                found.append((now, c))
            s.commit()
    return found


def _keys(found: list[tuple[datetime, object]]) -> dict[str, list[tuple[datetime, object]]]:
    """negative_spike candidates grouped by key: one key per storm (later ones are escalations)."""
    out: dict[str, list[tuple[datetime, object]]] = {}
    for now, c in found:
        if c.kind == "negative_spike":  # type: ignore[attr-defined]
            out.setdefault(c.key, []).append((now, c))  # type: ignore[attr-defined]
    return out


RANK = {"low": 0, "medium": 1, "high": 2, "critical": 3}


def test_storm_pages_within_minutes_once_and_severity_follows_the_share(engine: Engine) -> None:
    """A storm of 80 % negatives (norm 10 %) pages a few minutes after its first post, long before its
    first bin settles (15 min), under one key over an hour of runs; its severity ends high, not medium
    (escalations reuse the key, so the router raises the alert's severity instead of opening another)."""
    with Session(engine) as s:
        brand, source = _brand(s)
        end = _history(s, brand, source, 360)
        s.commit()
    with Session(engine) as s:  # warm up to the storm
        detect(s, _config(), end)
        s.commit()
    storm_start = end + 2 * MINUTE
    with Session(engine) as s:
        brand = s.get(Brand, 1) or s.query(Brand).one()
        source = s.query(Source).one()
        _storm(s, brand, source, storm_start, 30, 4)
        s.commit()
    found = _run_every_minute(engine, end + MINUTE, 60)
    storms = _keys(found)
    assert len(storms) == 1, storms
    (first_now, first), *later = next(iter(storms.values()))
    assert first_now - storm_start <= 5 * MINUTE
    assert first.evidence["early"] is True
    assert first.mention_ids
    severities = [c.severity for _, c in [(first_now, first), *later]]
    assert severities[-1] in ("high", "critical")
    assert [RANK[x] for x in severities] == sorted({RANK[x] for x in severities})  # strictly rising


def test_restart_mid_storm_pages_once_escalates_and_counts_late_arrivals(engine: Engine) -> None:
    """A restart mid-storm (every run opens a fresh session, so all state comes from `detector_state`):
    the storm keeps one key, the alert still escalates after the restart, and posts arriving late (created
    inside an already-judged bin) are counted by the settled pass."""
    storm_start = _storm_after_quiet_history(engine, 4, 2)  # a small start: 8 posts, ~6 negative
    first = _run_every_minute(engine, storm_start, 5)  # may or may not have paged yet
    engine.dispose()  # the daemon restarts: nothing survives but the database
    with Session(engine) as s:  # late arrivals (created during the storm) and the storm growing
        brand = s.query(Brand).one()
        source = s.query(Source).one()
        for k in range(12):
            _post(s, brand, source, storm_start + timedelta(seconds=17 * k), "negative", f"late-{k}")
        _storm(s, brand, source, storm_start + 5 * MINUTE, 20, 4)
        s.commit()
    second = _run_every_minute(engine, storm_start + 5 * MINUTE, 60)
    storms = _keys(first + second)
    assert len(storms) == 1, storms
    key, candidates = next(iter(storms.items()))
    after_restart = [c for now, c in candidates if now >= storm_start + 5 * MINUTE]
    assert after_restart  # the restarted daemon still pages (or escalates) on the storm ...
    assert RANK[candidates[-1][1].severity] >= RANK["high"]  # ... up to high, under the same key
    with Session(engine) as s:
        from sqlalchemy import select

        from monitor.kernel.store.tables import DetectorState

        state = s.scalar(select(DetectorState.state).where(DetectorState.detector == "spikes"))
    assert datetime.fromisoformat(state["next_bin"]) > storm_start + 30 * MINUTE
    assert key.endswith(state["share"]["event"]["bin"])  # the cooldown runs from the alerted bin
    assert state["share"]["event"]["severity"] == candidates[-1][1].severity


def test_early_alert_then_settled_pass_raises_no_second_alert(engine: Engine) -> None:
    """An open bin fires early; when that bin settles (with its late arrivals) the settled pass would fire
    on it too, but it belongs to the same storm: no new key, and the settled pass marks it alerted."""
    storm_start = _storm_after_quiet_history(engine, 3, 4)
    early = _run_every_minute(engine, storm_start, 4)
    assert [c.evidence.get("early") for _, c in early if c.kind == "negative_spike"][:1] == [True]
    later = _run_every_minute(engine, storm_start + 4 * MINUTE, 40)  # bins settle, nothing new arrives
    storms = _keys(early + later)
    assert len(storms) == 1, storms
    assert all(
        c.evidence.get("early") or "escalated_to" in c.evidence for _, c in later if c.kind == "negative_spike"
    )


def test_warm_up_new_brand_first_day_raises_no_negative_spike(engine: Engine) -> None:
    """A brand seen for the first time: the share detector needs `warmup_mentions` (100) before paging, so
    its first posts — whatever their mix — cannot page, and it pages once warm."""
    with Session(engine) as s:
        brand, source = _brand(s)
        for b in range(16):  # 16 bins x 5 = 80 mentions, half negative: below the warm-up
            _add(s, brand, source, T0 + b * BIN, "negative", 3, "w")
            _add(s, brand, source, T0 + b * BIN, "positive", 2, "w")
        s.commit()
        found = detect(s, _config(), T0 + 16 * BIN + timedelta(minutes=15))
        s.commit()
    assert not [c for c in found if c.kind == "negative_spike"], found


def test_near_silent_brand_stays_quiet_and_catches_a_real_storm(engine: Engine) -> None:
    """About 5 posts a day for 40 days: no alert from its ordinary negatives; then 12 negative posts within
    30 minutes page (the "never fewer than 10 posts" storm of a tiny brand)."""
    rng = random.Random(5)
    with Session(engine) as s:
        brand, source = _brand(s)
        for day in range(40):
            for k in range(5):
                at = T0 + timedelta(days=day, minutes=rng.randrange(24 * 60))
                _post(s, brand, source, at, "negative" if rng.random() < 0.15 else "positive", f"q-{day}-{k}")
        s.commit()
    end = T0 + timedelta(days=40)
    cfg = _config(catchup_hours=24 * 41)
    quiet = []
    for day in range(0, 41, 1):  # daily runs over the history: nothing pages
        with Session(engine) as s:
            quiet += detect(s, cfg, T0 + timedelta(days=day))
            s.commit()
    assert not [c for c in quiet if c.kind in ("negative_spike", "volume_spike")], quiet
    with Session(engine) as s:
        brand = s.query(Brand).one()
        source = s.query(Source).one()
        for k in range(12):
            _post(s, brand, source, end + timedelta(minutes=2.5 * k), "negative", f"storm-{k}")
        s.commit()
    found = []
    for minute in range(0, 45):
        with Session(engine) as s:
            found += [(minute, c) for c in detect(s, cfg, end + minute * MINUTE) if c.kind == "negative_spike"]
            s.commit()
    assert len({c.key for _, c in found}) == 1, found
    assert found[0][0] <= 30


def test_tiny_brand_storm_fires_on_the_negative_rate_but_a_buzz_does_not() -> None:
    """A brand with ~5 posts a day: two negatives (from distinct authors: the stage drops an author's
    repeats before counting) within minutes page through the rate test (the share test alone sees only
    "2 of 2", within its wobble allowance); one never does, and with `rate_min_negative` = 3 the third is
    needed. A busy brand's buzz — every count x8, usual share — does not, because the rate is only
    consulted once the share has risen."""
    from monitor.detect.share import ShareDetector, ShareParams

    for params, first in ((ShareParams(), 1), (ShareParams(rate_min_negative=3, rate_fire=4.0), 2)):
        rng = random.Random(1)
        tiny = ShareDetector(params)
        for _ in range(600):
            n = int(rng.random() < 5 / 288)
            tiny.update(int(n and rng.random() < 0.2), n)
        fired = [tiny.update(1, 1).fired for _ in range(5)]
        assert fired.index(True) == first, (params, fired)

    busy = ShareDetector()
    for _ in range(600):
        tot = rng.randint(30, 50)
        busy.update(sum(rng.random() < 0.15 for _ in range(tot)), tot)
    buzz = [busy.update(sum(rng.random() < 0.15 for _ in range(320)), 320) for _ in range(12)]
    assert not any(r.fired for r in buzz)


def test_peek_learns_nothing_from_open_bins() -> None:
    """Judging incomplete bins must leave the detector exactly as it was (late arrivals are counted later)."""
    from monitor.detect.share import ShareDetector

    rng = random.Random(2)
    det = ShareDetector()
    for _ in range(400):
        tot = rng.randint(0, 12)
        det.update(sum(rng.random() < 0.2 for _ in range(tot)), tot)
    before = det.state()
    results = det.peek([(9, 10), (10, 10)])
    assert any(r.fired for r in results)
    assert det.state() == before
