"""The NAB scorer reproduces the numbers that SCORING.md states."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from monitor.detect import nab

START = datetime(2015, 3, 1)


def _series(n: int, windows: list[tuple[int, int]]) -> nab.Series:
    ts = [(START + timedelta(minutes=5 * i)).strftime("%Y-%m-%d %H:%M:%S") for i in range(n)]
    return nab.Series("s.csv", ts, [1.0] * n, [(ts[a] + ".000000", ts[b] + ".000000") for a, b in windows])


def test_scaled_sigmoid_key_values() -> None:
    assert pytest.approx(0.986614, abs=1e-6) == nab.MAX_TP
    for y, v in [(-1, 0.98661), (-0.5, 0.84828), (0, 0.0), (0.5, -0.84828), (1, -0.98661)]:
        assert nab.scaled_sigmoid(y) == pytest.approx(v, abs=1e-5)
    assert nab.scaled_sigmoid(3.01) == -1.0


def test_probation_is_min_of_15_percent_and_750_rows() -> None:
    assert nab.probationary_length(15903) == 750
    assert nab.probationary_length(1000) == 150


def test_perfect_null_centre_and_fp_costs() -> None:
    """Left-edge hits score 100, nothing scores 0, centre hits earn 0.848/0.9866 of A_TP each."""
    series = _series(4000, [(1000, 1199), (3000, 3199)])
    corpus = [series]

    def scores_at(rows: list[int]) -> dict[str, list[float]]:
        s = [0.0] * 4000
        for r in rows:
            s[r] = 1.0
        return {"s.csv": s}

    perfect = nab.evaluate(corpus, scores_at([1000, 3000]))
    assert all(p["score"] == pytest.approx(100.0) for p in perfect.values())
    null = nab.evaluate(corpus, scores_at([]))
    assert all(p["score"] == pytest.approx(0.0) for p in null.values())

    centre = nab.evaluate(corpus, scores_at([1100, 3100]))["standard"]
    per_window = nab.scaled_sigmoid(-100 / 200) / nab.MAX_TP  # pos = -(right - i + 1)/width
    assert per_window == pytest.approx(0.8598, abs=1e-4)
    assert centre["raw"] == pytest.approx(2 * per_window)
    assert centre["score"] == pytest.approx(100 * (2 * per_window + 2) / 4)

    # One FP long before the first window costs exactly A_FP (u = -1); inside probation it is free.
    profile = nab.PROFILES["reward_low_FP_rate"]
    weights = nab.row_weights(series.timestamps, series.windows, profile)
    s_fp, hits, fps = nab.score_at_threshold([(weights, scores_at([1000, 3000, 800])["s.csv"])], 0.5, profile)
    assert (hits, fps) == (2, 1) and s_fp == pytest.approx(2 - 0.22)
    s_prob, _, fps = nab.score_at_threshold([(weights, scores_at([1000, 3000, 100])["s.csv"])], 0.5, profile)
    assert fps == 0 and s_prob == pytest.approx(2.0)
    # Right after a window an FP is nearly free; three widths later it costs the full A_FP.
    assert weights.weights[weights.rows.index(1200)] == pytest.approx(0.0, abs=0.02 * 0.22)
    assert weights.weights[weights.rows.index(1199 + 3 * 199 + 1)] == pytest.approx(-0.22)


def test_threshold_is_optimised_over_the_corpus() -> None:
    """A high-scoring FP must not set the threshold when lower scores catch every window."""
    corpus = [_series(4000, [(1000, 1199), (3000, 3199)])]
    s = [0.0] * 4000
    s[1000], s[3000], s[2500] = 0.6, 0.7, 0.9
    result = nab.evaluate(corpus, {"s.csv": s})["standard"]
    assert result["threshold"] == 0.6 and result["windows_hit"] == 2 and result["fp_rows"] == 1


@pytest.mark.shared_data
def test_real_realtweets_windows_and_perfect_detector(shared_data: Path) -> None:
    corpus = nab.load_corpus(shared_data / "nab")
    windows = json.loads((shared_data / "nab" / "windows.json").read_text())
    assert len(corpus) == len(windows)
    scores = {}
    for s in corpus:
        row = [0.0] * len(s.values)
        for start, _ in s.windows:
            row[s.timestamps.index(start.split(".")[0])] = 1.0
        scores[s.name] = row
    result = nab.evaluate(corpus, scores)
    assert {k: round(v["score"], 6) for k, v in result.items()} == dict.fromkeys(nab.PROFILES, 100.0)
    assert result["standard"]["windows"] == sum(len(w) for w in windows.values())


def test_leave_one_file_out_uses_thresholds_from_other_files() -> None:
    """File b's only hit scores 0.4; a threshold learnt on file a (0.9) misses it."""
    a = _series(4000, [(1000, 1199)])
    b = nab.Series("b.csv", a.timestamps, a.values, a.windows)
    sa, sb = [0.0] * 4000, [0.0] * 4000
    sa[1000], sa[2500] = 0.9, 0.5  # a: hit at 0.9, FP at 0.5
    sb[1000] = 0.4
    scores = {"s.csv": sa, "b.csv": sb}
    in_sample = nab.evaluate([a, b], scores)["standard"]
    assert in_sample["windows_hit"] == 2
    loo = nab.leave_one_file_out([a, b], scores)
    # a is scored at b's threshold (0.4: hit + FP), b at a's (0.9: miss).
    fp = nab.row_weights(a.timestamps, a.windows, nab.PROFILES["standard"])
    fp_w = fp.weights[fp.rows.index(2500)]
    assert loo == pytest.approx(nab.normalise(1.0 + fp_w - 1.0, 2, nab.PROFILES["standard"]))
    # At the alert level 0.5: a hits and pays its FP, b misses (0.4 < 0.5).
    hit_w = fp.weights[fp.rows.index(1000)]
    fixed = nab.at_fixed_threshold([a, b], scores)
    assert fixed == pytest.approx(nab.normalise(hit_w + fp_w - 1.0, 2, nab.PROFILES["standard"]))
