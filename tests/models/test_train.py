"""End-to-end training on the tiny random encoder: cache, LoRA epochs, heads, shipped-format output."""

from __future__ import annotations

import random

import numpy as np
import pytest

from models import adapter, heads
from models.config import ModelConfig
from models.scorer import E5Scorer
from models.train import TrainConfig, run
from monitor.kernel.types import ASPECTS, TextToScore
from tests.models.toydata import THREE, toy_rows, write_files


@pytest.mark.slow
def test_training_learns_and_writes_loadable_weights(tmp_path, tiny_checkpoint) -> None:
    rng = random.Random(0)
    data = tmp_path / "train"
    files = {
        "en_airline": toy_rows(120, "en", THREE, rng, reason=True),
        "no_norec": toy_rows(40, "no", THREE, rng),
        "sv_reviews": toy_rows(40, "sv", ("negative", "positive"), rng),
        "da_angrytweets": toy_rows(40, "da", THREE, rng),
    }
    write_files(data, files)
    out = tmp_path / "weights"
    cfg = TrainConfig(
        data_dir=data,
        out_dir=out,
        work_dir=tmp_path / "work",
        checkpoint=tiny_checkpoint,
        top_layers=1,
        rank=4,
        alpha=8,
        epochs=4,
        lr=3e-3,
        head_lr=1e-2,
        batch_size=16,
        max_length=24,
    )
    result = run(cfg)

    scores = result["validation_macro_f1"]
    assert set(scores) == set(files)
    assert np.mean(list(scores.values())) > 0.6  # keyword-separable classes are learnt
    assert set(result["heads"]["language_accuracy"]["py3langid+e5 head"]) == {"sv", "da", "no", "en"}
    assert (out / adapter.ADAPTER_FILE).stat().st_size < 1_000_000
    _, meta = adapter.load(out)
    assert set(meta.temperatures) == {"sv", "da", "no", "en"} and "probes" in meta.metrics
    assert set(heads.Heads.load(out).meta["aspects"]) == set(ASPECTS)

    refit = run(cfg, heads_only=True, recompute_features=True)  # heads + temperatures from the saved weights
    assert set(refit["validation_macro_f1_scoring"]) == set(files) and set(refit["temperatures"]) == set(
        meta.temperatures
    )

    scorer = E5Scorer(
        ModelConfig(scorer="e5", weights_dir=str(out), quantize=False, threads=1), checkpoint=tiny_checkpoint
    )
    good, bad = scorer.score([TextToScore(1, "good good hello good"), TextToScore(2, "bad slow wait bad")])
    assert good.probabilities["positive"] > bad.probabilities["positive"]
    assert bad.probabilities["negative"] > good.probabilities["negative"]


def test_class_balance_lifts_the_rare_class_within_each_file() -> None:
    from models.data import Example
    from models.train import _class_balance_weights

    rows = [Example("n", "negative", "no", "no_norec")] + [Example("u", "neutral", "no", "no_norec")] * 3
    rows += [Example("p", "positive", "en", "en_x")] * 2
    full = _class_balance_weights(rows, 1.0)
    assert full[0] == pytest.approx(3 * full[1])  # one negative weighs as much as the three neutrals
    assert float(full[:4].mean()) == pytest.approx(1.0)  # a file's total weight is unchanged
    assert full[4:].tolist() == [1.0, 1.0]  # a file with one class is untouched
    assert _class_balance_weights(rows, 0.0).tolist() == [1.0] * 6


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--class-balance", "1.5"], "--class-balance"),
        (["--cap", "sv_reviews"], "--cap"),
        (["--cap", "sv_reviews=ten"], "--cap"),
        (["--file-weight", "=2"], "--file-weight"),
    ],
)
def test_train_cli_rejects_malformed_overrides_before_any_work(args: list[str], message: str, tmp_path) -> None:
    from click.testing import CliRunner

    from models.cli import train_command

    result = CliRunner().invoke(train_command, ["--data", str(tmp_path), *args])
    assert result.exit_code == 2 and message in result.output
