"""The ramp test (`share_trend`): a share that climbs pages sooner at a busy brand, calm traffic does not
page, the spread is learnt where bins drift together, and a quiet brand is judged exactly as before."""

from __future__ import annotations

import random

from monitor.detect.share import ShareDetector, ShareParams
from monitor.detect.share_trend import bin_z, ramp_z

FLAT_ONLY = ShareParams(trend_scales=())


def _bin(rng: random.Random, per_bin: float, share: float, concentration: float = 60.0) -> tuple[int, int]:
    """One bin: Poisson-ish volume, the bin's share drawn around `share` (Beta), binomial negatives."""
    tot = max(round(rng.gauss(per_bin, per_bin**0.5)), 0)
    p = rng.betavariate(share * concentration, (1 - share) * concentration)
    return sum(rng.random() < p for _ in range(tot)), tot


def _warm(params: ShareParams, seed: int, bins: int = 600, per_bin: float = 150, share: float = 0.12):
    rng = random.Random(seed)
    det = ShareDetector(params)
    for _ in range(bins):
        det.update(*_bin(rng, per_bin, share))
    return det, rng


def _bins_to_fire(params: ShareParams, seed: int) -> int | None:
    """Bins from a ramp's start until the detector fires: the share climbs from 12 % by 2.4 points a bin
    (a 3x storm reached over 30 minutes), on a brand with ~150 posts a bin."""
    det, rng = _warm(params, seed)
    for i in range(12):
        if det.update(*_bin(rng, 150, 0.12 + 0.024 * (i + 1))).fired:
            return i + 1
    return None


def test_a_ramping_storm_pages_sooner_with_the_ramp_test() -> None:
    with_trend = [_bins_to_fire(ShareParams(), seed) for seed in range(6)]
    flat = [_bins_to_fire(FLAT_ONLY, seed) for seed in range(6)]
    assert None not in with_trend and None not in flat
    assert all(a <= b for a, b in zip(with_trend, flat, strict=True)), (with_trend, flat)
    assert sum(with_trend) < sum(flat), (with_trend, flat)


def test_calm_busy_traffic_does_not_page_and_learns_a_spread_near_one() -> None:
    det, rng = _warm(ShareParams(), seed=11, bins=2000)
    assert not any(det.update(*_bin(rng, 150, 0.12)).fired for _ in range(1000))
    for spread in det.trend:
        assert spread.weight > 100
        assert 1.0 <= spread.variance(1.0, 100.0) < 1.1


def test_a_drifting_share_widens_the_learnt_spread() -> None:
    """Bins that move together (the share drifts for an hour at a time) make calm windows' sums spread
    wider than independence says; the learnt spread must see it, so drift is not read as a ramp."""
    rng = random.Random(5)
    det = ShareDetector()
    share = 0.12
    for i in range(2500):
        if i % 12 == 0:
            share = min(max(0.12 + rng.gauss(0, 0.03), 0.04), 0.3)
        det.update(*_bin(rng, 150, share, concentration=400))
    assert det.trend[0].variance(1.0, 100.0) > 1.3


def test_a_quiet_brand_is_judged_exactly_as_without_the_ramp_test() -> None:
    rng = random.Random(3)
    with_trend, flat = ShareDetector(), ShareDetector(FLAT_ONLY)
    for _ in range(1500):
        n = int(rng.random() < 50 / 288)
        neg = int(n and rng.random() < 0.2)
        a, b = with_trend.update(neg, n), flat.update(neg, n)
        assert (a.surprise, a.fired) == (b.surprise, b.fired)
    assert all(t.weight == 0 for t in with_trend.trend)


def test_ramp_z_weights_the_latest_bins_most_and_state_round_trips() -> None:
    def z(window: list[tuple[int, int]], base_rho: float = 0.0) -> float | None:
        return ramp_z(window, bin_z(window, 0.15, 0.01), 0.01, base_rho)

    rising, falling = z([(15, 100), (20, 100), (30, 100)]), z([(30, 100), (20, 100), (15, 100)])
    assert rising is not None and falling is not None and rising > falling > 0
    assert bin_z([(0, 0), (3, 10)], 0.15, 0.01)[0] == 0.0  # an empty bin says nothing
    assert z([(0, 0), (0, 0)]) is None
    # the usual share's own uncertainty weakens the sum (it shifts every bin alike)
    assert z([(20, 100)] * 3, 0.01) < z([(20, 100)] * 3)  # type: ignore[operator]
    det, _ = _warm(ShareParams(), seed=2, bins=400)
    assert ShareDetector.from_state(det.state()).state() == det.state()
    assert ShareDetector.from_state({k: v for k, v in det.state().items() if k != "trend"}).trend[0].weight == 0
