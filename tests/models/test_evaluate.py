"""`repmon eval sentiment`: metric arithmetic, binary handling, the JSON contract through the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from models.evaluate import metrics


def test_three_class_metrics_by_hand() -> None:
    true = ["negative", "negative", "neutral", "positive"]
    probs = np.array([[0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.1, 0.8, 0.1], [0.1, 0.2, 0.7]])
    m = metrics(true, probs, binary=False)
    assert m["n"] == 4 and m["accuracy"] == 0.75
    assert m["confusion"] == [[1, 1, 0], [0, 1, 0], [0, 0, 1]]
    assert m["per_class_f1"] == pytest.approx({"negative": 2 / 3, "neutral": 2 / 3, "positive": 1.0})
    assert m["macro_f1"] == pytest.approx((2 / 3 + 2 / 3 + 1) / 3)


def test_binary_resolves_neutral_by_negative_vs_positive() -> None:
    true = ["negative", "positive", "positive"]
    probs = np.array([[0.3, 0.6, 0.1], [0.1, 0.8, 0.1 + 1e-9], [0.5, 0.1, 0.4]])
    m = metrics(true, probs, binary=True)
    assert m["confusion"] == [[1, 0], [1, 1]]
    assert set(m["per_class_f1"]) == {"negative", "positive"}


def _write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def test_cli_json_contract(tmp_path) -> None:
    from monitor.cli import _register_plugins, cli

    _register_plugins()
    three = tmp_path / "three.jsonl"
    binary = tmp_path / "bin.jsonl"
    _write(
        three,
        [
            {"text": "bra", "label": "positive"},
            {"text": "dålig", "label": "negative"},
            {"text": "i dag", "label": "neutral"},
        ],
    )
    _write(binary, [{"text": "great service", "label": "positive"}, {"text": "awful", "label": "negative"}])
    result = CliRunner().invoke(
        cli, ["eval", "sentiment", str(three), str(binary), "--json", "--scorer", "lexicon"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert list(report) == [str(three), str(binary)]
    for key in ("n", "accuracy", "macro_f1", "per_class_f1", "confusion"):
        assert key in report[str(three)]
    assert np.array(report[str(three)]["confusion"]).shape == (3, 3)
    assert np.array(report[str(binary)]["confusion"]).shape == (2, 2)
    assert report[str(binary)]["n"] == 2


def test_cli_bad_file_is_a_clear_error(tmp_path) -> None:
    from monitor.cli import _register_plugins, cli

    _register_plugins()
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "x", "label": "meh"}\n')
    result = CliRunner().invoke(cli, ["eval", "sentiment", str(bad), "--json", "--scorer", "lexicon"])
    assert result.exit_code != 0 and "bad.jsonl:1" in result.output and "meh" in result.output


def test_cli_evaluates_a_candidate_weights_folder(tmp_path, monkeypatch, tiny_checkpoint, tiny_weights) -> None:
    """`--weights` scores with a trained candidate: the tiny encoder only fits the tiny weights, so a
    clean run proves the folder given was used (the shipped weights would not load on it)."""
    from models.convert import CHECKPOINT_NAME
    from monitor.cli import _register_plugins, cli

    _register_plugins()
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / CHECKPOINT_NAME).symlink_to(tiny_checkpoint, target_is_directory=True)
    monkeypatch.setenv("REPMON_MODEL_DIR", str(tmp_path / "models"))
    data = tmp_path / "three.jsonl"
    _write(data, [{"text": "bra", "label": "positive"}, {"text": "dålig", "label": "negative"}])
    result = CliRunner().invoke(cli, ["eval", "sentiment", str(data), "--json", "--weights", str(tiny_weights)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)[str(data)]["n"] == 2
    missing = CliRunner().invoke(cli, ["eval", "sentiment", str(data), "--weights", str(tmp_path / "nope")])
    assert missing.exit_code == 2 and "does not exist" in missing.output
