"""`ShareWatch` and the learnt wobble: one alert per storm, escalation under its key, state round trips."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.detect.share import ShareDetector, ShareParams
from monitor.detect.share_watch import ShareWatch

T0 = datetime(2026, 3, 2, tzinfo=UTC)
BIN = timedelta(minutes=5)
COOLDOWN = 72 * BIN
RANK = {"low": 0, "medium": 1, "high": 2, "critical": 3}


def _traffic(rng: random.Random, bins: int, per_bin: float, share: float) -> list[tuple[int, int]]:
    out = []
    for _ in range(bins):
        tot = max(round(rng.gauss(per_bin, per_bin**0.5)), 0)
        out.append((sum(rng.random() < share for _ in range(tot)), tot))
    return out


def _storm_day(seed: int) -> list[tuple[int, int]]:
    """A day and a half of ~40 mentions a bin at 30 % negative, then a storm whose share climbs to 80 %."""
    rng = random.Random(seed)
    bins = _traffic(rng, 432, 40, 0.3)
    for i in range(12):
        share = 0.45 + 0.35 * min(i / 4, 1)
        bins.append((round(40 * share), 40))
    return bins + _traffic(rng, 60, 40, 0.3)


def _run(bins: list[tuple[int, int]], restart_every: int | None = None) -> list[tuple[int, str, str, bool]]:
    params = ShareParams()
    watch = ShareWatch.from_state(None, params, COOLDOWN)
    out = []
    for i, (neg, tot) in enumerate(bins):
        if restart_every and i % restart_every == 0:
            watch = ShareWatch.from_state(watch.state(), params, COOLDOWN)
        d = watch.settled(T0 + i * BIN, neg, tot)
        if d is not None:
            out.append((i, d.key_bin.isoformat(), d.severity, d.new))
    return out


def test_one_key_per_storm_and_severity_only_rises() -> None:
    decisions = _run(_storm_day(1))
    assert decisions, "the storm was not raised"
    assert sum(new for *_, new in decisions) == 1
    assert len({key for _, key, _, _ in decisions}) == 1
    ranks = [RANK[sev] for _, _, sev, _ in decisions]
    assert ranks == sorted(set(ranks))
    assert decisions[-1][2] in ("high", "critical")  # 80 % against a 30 % norm


def test_restarts_change_nothing() -> None:
    """State written after every bin (or every 7th) and read back gives exactly the same decisions."""
    for seed in (2, 3):
        bins = _storm_day(seed)
        assert _run(bins, restart_every=1) == _run(bins) == _run(bins, restart_every=7)


def test_early_alert_marks_the_storm_when_its_bin_settles() -> None:
    """An early alert names bin b; the settled pass reaching b must not page again for the same storm."""
    bins = _storm_day(4)
    start = 432
    params = ShareParams()
    watch = ShareWatch.from_state(None, params, COOLDOWN)
    for i in range(start):
        assert watch.settled(T0 + i * BIN, *bins[i]) is None or i < 288
    early = watch.early([(T0 + start * BIN, 18, 20), (T0 + (start + 1) * BIN, 15, 16)])
    assert early is not None and early.new and early.early
    news = [watch.settled(T0 + i * BIN, *bins[i]) for i in range(start, len(bins))]
    assert not [d for d in news if d is not None and d.new]


def test_learnt_wobble_tightens_long_windows_of_a_steady_brand_and_loosens_a_drifting_one() -> None:
    """A share that only has sampling noise is learnt as steady over 3 hours (a 3x storm of a low share is
    then visible); a share drifting over hours is learnt as wobbly and its drift raises no alert."""
    rng = random.Random(5)
    steady = ShareDetector()
    for neg, tot in _traffic(rng, 288 * 3, 170, 0.1):
        steady.update(neg, tot)
    prior = ShareParams().wobble_prior
    assert steady.wobble[-1].rho(steady.params) < prior / 5

    drifting = ShareDetector()
    fired = []
    for i in range(288 * 6):
        share = 0.15 * (1 + 0.6 * math.sin(2 * math.pi * i / 144))  # +-60 % over 12 hours
        tot = 170
        res = drifting.update(sum(rng.random() < share for _ in range(tot)), tot)
        fired.append(res.fired and i >= 288 * 2)
    assert drifting.wobble[-1].rho(drifting.params) > 5 * steady.wobble[-1].rho(steady.params)
    assert sum(fired) == 0


def test_state_from_before_the_learnt_wobble_is_kept() -> None:
    """A version-1 state (share, rate, cooldown) loads with its history; only the wobble starts afresh."""
    v1 = {
        "v": 1,
        "neg_weight": 300.0,
        "all_weight": 1500.0,
        "seen": 50000.0,
        "bins": 4000,
        "neg_rate": 8.0,
        "recent": [[8, 40]] * 36,
        "since_alert": 5,
        "armed": False,
    }
    det = ShareDetector.from_state(v1)
    assert abs(det.baseline_share() - (300 + 0.15 * 50) / 1550) < 1e-9
    assert det.since_alert == 5 and not det.armed
    assert det.usual_negatives() > 7  # the rate survives: no "impossible" storm on the first bin


CALM = st.tuples(st.integers(0, 3), st.integers(3, 12)).map(lambda x: (min(x), max(x)))
STORM = st.integers(4, 30).map(lambda n: (n - n // 6, n))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bins=st.lists(st.one_of(CALM, CALM, CALM, STORM), min_size=300, max_size=420), restart=st.integers(1, 50))
def test_property_restarts_and_one_alert_per_cooldown(bins: list[tuple[int, int]], restart: int) -> None:
    """Any traffic: state round trips at arbitrary points change nothing, new alerts are more than a
    cooldown apart, escalations reuse a key already raised and only ever raise its severity, and judging
    open bins early never changes the detector."""
    plain = _run(bins)
    assert _run(bins, restart_every=restart) == plain
    raised: dict[str, int] = {}
    last_new: int | None = None
    for i, key, severity, new in plain:
        if new:
            assert key not in raised
            assert last_new is None or (i - last_new) * BIN > COOLDOWN
            last_new = i
        else:
            assert key in raised and RANK[severity] > raised[key]
        raised[key] = RANK[severity]
    watch = ShareWatch.from_state(None, ShareParams(), COOLDOWN)
    for i, (neg, tot) in enumerate(bins[:-5]):
        watch.settled(T0 + i * BIN, neg, tot)
    before = watch.detector.state()
    watch.detector.peek(bins[-5:])
    assert watch.detector.state() == before


def test_stage_state_from_before_share_watch_keeps_its_early_alert() -> None:
    """The stage used to keep the detector's state at top level and early alerts in a list: both load, and
    the last early alert stays the storm (medium, so a stronger storm still escalates, never re-pages)."""
    det = ShareDetector()
    for neg, tot in _traffic(random.Random(6), 300, 40, 0.3):
        det.update(neg, tot)
    legacy = det.state() | {"v": 1}
    watch = ShareWatch.from_state(legacy, ShareParams(), COOLDOWN, ["2026-03-02T05:00:00+00:00"])
    assert watch.event is not None and watch.event.severity == "medium"
    assert watch.event.bin == datetime.fromisoformat("2026-03-02T05:00:00+00:00")
    assert abs(watch.detector.baseline_share() - det.baseline_share()) < 1e-12
    storm = watch.settled(watch.event.bin + BIN, 38, 40)
    assert storm is not None and not storm.new and storm.severity == "high"
