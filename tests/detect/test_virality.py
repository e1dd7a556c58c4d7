"""Virality: SEISMIC estimate, calibrated prediction, cascade CLI contract and evaluation."""

from __future__ import annotations

import csv
import itertools
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from monitor.cli import cli
from monitor.detect.cli import register
from monitor.detect.virality import exceed_features, kernel_cdf, predict, predict_from_counts, seismic

register(cli)


def test_kernel_integrates_to_one_and_is_linear_for_five_minutes() -> None:
    assert kernel_cdf(150) == pytest.approx(kernel_cdf(300) / 2)
    assert kernel_cdf(1e15) == pytest.approx(1.0, abs=3e-3)  # power-law tail: converges slowly


def test_seismic_supercritical_when_each_exposure_breeds_more_than_one_repost() -> None:
    times = [0.0] + [10.0 * i for i in range(1, 40)]
    est = seismic(times, [100.0] * 40, 400.0, n_star=100.0)
    assert est.supercritical and est.final == float("inf")
    calm = seismic([0.0, 200.0], [10_000.0, 50.0], 3600.0, n_star=100.0)
    assert not calm.supercritical and 1 <= calm.final < 10


def test_fast_cascade_ranks_above_slow_one_and_fallback_without_followers() -> None:
    fast = predict([0.0] + [15.0 * i for i in range(1, 12)], [5000.0] * 12, 600, 20)
    slow = predict([0.0, 500.0], [50.0, 20.0], 600, 20)
    assert fast.p_exceed > slow.p_exceed and fast.predicted_final > slow.predicted_final
    assert fast.method == "seismic+calibration" and fast.infectiousness is not None
    blind = predict([0.0] + [15.0 * i for i in range(1, 12)], None, 600, 20)
    assert blind.method == "szabo-huberman" and blind.infectiousness is None
    assert blind.predicted_final >= blind.observed == 11
    snap = predict_from_counts([120, 300, 600], [3, 8, 11], None, 20)
    assert snap.observed == 11 and snap.method == "szabo-huberman"


def _write(path: Path, events: list[tuple[str, float, float]]) -> None:
    path.write_text("cascade_id,magnitude,time\n" + "".join(f"{c},{m:g},{t:g}\n" for c, m, t in events))


def test_cli_cascades_uses_only_events_up_to_the_horizon(tmp_path: Path) -> None:
    events = [("a", 900, 0), ("a", 50, 60), ("a", 70, 300), ("b", 20, 0)]
    later = [("a", 10**6, 5000), ("b", 10, 9000)]
    one, two = tmp_path / "one.csv", tmp_path / "two.csv"
    _write(one, events)
    _write(two, events + later)
    outs = []
    for src in (one, two):
        out = tmp_path / f"out-{src.name}"
        args = ["detect", "cascades", str(src), "--horizon", "600", "--threshold", "20", "--output", str(out)]
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 0, result.output
        outs.append(list(csv.DictReader(out.open())))
    assert outs[0] == outs[1]
    assert list(outs[0][0]) == ["cascade_id", "observed", "predicted_final", "p_exceed"]
    assert [(r["cascade_id"], r["observed"]) for r in outs[0]] == [("a", "2"), ("b", "0")]
    assert all(0 <= float(r["p_exceed"]) <= 1 for r in outs[0])


def test_cli_cascades_rejects_negative_time(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    _write(bad, [("a", 10, 0), ("a", 10, -5)])
    out = tmp_path / "o.csv"
    args = ["detect", "cascades", str(bad), "--horizon", "600", "--threshold", "20", "--output", str(out)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code != 0 and "bad.csv:3" in result.output and not out.exists()


@pytest.mark.shared_data
def test_eval_virality_on_held_out_auspol(shared_data: Path) -> None:
    path = shared_data / "cascades" / "auspol_train.csv"
    args = ["eval", "virality", "--cascades", str(path), "--horizon", "600", "--threshold", "20"]
    result = CliRunner().invoke(cli, [*args, "--holdout-only", "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["holdout_only"] and payload["positives"] >= 5
    assert payload["auc"] > 0.75  # measured 0.84 on the held-out ids (docs/detection.md)
    assert payload["median_relative_error"] < 0.6


def test_exceedance_ladder_is_monotone_in_threshold_and_defers_outside_it() -> None:
    from monitor.detect.virality import exceed_probability, load_params

    params = load_params()
    model = params["exceed"][1]  # the 600 s models
    assert model["horizon"] == 600.0 and 20.0 in model["thresholds"]
    loud = exceed_features([0.0, 30.0, 60.0, 90.0, 200.0], [50_000.0, 800.0, 2_000.0, 300.0, 900.0], 600)
    quiet = exceed_features([0.0], [40.0], 600)
    ladder = [exceed_probability(model, loud, n) for n in (2, 4, 7, 12, 20)]
    assert all(a >= b for a, b in itertools.pairwise(ladder))  # interpolated points included
    assert exceed_probability(model, loud, 20) > exceed_probability(model, quiet, 20)
    assert exceed_probability(model, loud, 10_000) is None  # beyond the ladder: the regression answers
    fast = predict([0.0, 30.0, 60.0, 90.0, 200.0], [50_000.0, 800.0, 2_000.0, 300.0, 900.0], 600, 10_000)
    assert 0.0 <= fast.p_exceed < 0.5


def test_cross_validation_reports_both_variants() -> None:
    from monitor.detect.cascades import Cascade
    from monitor.detect.virality_fit import cross_validate

    cascades = []
    for i in range(180):  # every 6th cascade: a big author, 3 quick reposts, 30 in all (after 10 min)
        big = i % 6 == 0
        n = 30 if big else i % 4
        times = tuple([0.0] + [20.0 * (j + 1) if big and j < 3 else 700.0 + j for j in range(n)])
        followers = tuple([20_000.0 if big else 200.0 + i] + [500.0] * n)
        cascades.append(Cascade(str(i), times, followers))
    result = cross_validate(cascades, 600.0, 20.0, folds=3, repeats=1)
    assert result["positives"] == 30
    assert result["auc_shipped"] > 0.9 and result["auc_ridge_only"] > 0.5


def test_auc_ceiling_is_perfect_when_every_positive_shows_early_and_drops_for_silent_ones() -> None:
    from monitor.detect.cascades import Cascade
    from monitor.detect.virality_fit import auc_ceiling

    def cascade(cid: str, author: float, early: int, final: int) -> Cascade:
        times = [0.0] + [60.0 * (j + 1) for j in range(early)] + [4000.0 + j for j in range(final - early)]
        return Cascade(cid, tuple(times), tuple([author] + [100.0] * final))

    loud = [cascade(f"p{i}", 500.0, 2, 25) for i in range(4)]
    negatives = [cascade(f"n{i}", 100.0 * (i + 1), i % 2, 1) for i in range(20)]
    assert auc_ceiling(loud + negatives, 600.0, 20.0)["auc_ceiling"] == 1.0

    # Two silent positives whose authors are small: even an oracle for the others cannot rank them high.
    silent = [cascade("s0", 150.0, 0, 30), cascade("s1", 250.0, 0, 30)]
    result = auc_ceiling(loud + silent + negatives, 600.0, 20.0)
    assert result["positives"] == 6 and result["positives_silent_at_horizon"] == 2
    assert 0.7 < result["auc_ceiling"] < 1.0


def test_auspol_ceiling_is_below_the_issue_goal(shared_data: Path) -> None:
    """The 0.90 goal at 10 minutes is out of reach on auspol: silent positives cap any model (0.872)."""
    from monitor.detect.cascades import read_cascades
    from monitor.detect.virality_fit import auc_ceiling

    result = auc_ceiling(read_cascades(shared_data / "cascades" / "auspol_train.csv"), 600.0, 20.0)
    assert result["positives_silent_at_horizon"] > result["positives"] / 2
    assert result["auc_ceiling"] < 0.90
