"""The `hf` scorer with a real (tiny, random) transformers sequence-classification model on disk."""

from __future__ import annotations

import math
import shutil

import pytest

from models.config import HFModelConfig, ModelConfig
from models.hf_scorer import HFScorer
from monitor.kernel.types import TextToScore


@pytest.fixture(scope="module")
def classifier_dir(tiny_checkpoint, tmp_path_factory):
    from transformers import AutoConfig, AutoModelForSequenceClassification

    out = tmp_path_factory.mktemp("clf")
    config = AutoConfig.from_pretrained(tiny_checkpoint)
    config.num_labels = 2
    config.id2label = {0: "NEG", 1: "POS"}
    config.label2id = {"NEG": 0, "POS": 1}
    AutoModelForSequenceClassification.from_config(config).save_pretrained(out)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(tiny_checkpoint / name, out / name)
    return out


def test_label_map_projects_model_labels_onto_sentiments(classifier_dir) -> None:
    cfg = ModelConfig(
        scorer="hf",
        hf=HFModelConfig(name_or_path=str(classifier_dir), label_map={"NEG": "negative", "POS": "positive"}),
    )
    results = HFScorer.from_config(cfg).score([TextToScore(1, "hello world"), TextToScore(2, "bad", "sv")])
    for r in results:
        assert r.probabilities["neutral"] == 0.0
        assert math.isclose(r.probabilities["negative"] + r.probabilities["positive"], 1.0, rel_tol=1e-5)
        assert r.label in ("negative", "positive")
    assert results[1].language == "sv"


def test_unmapped_label_is_a_clear_error(classifier_dir) -> None:
    cfg = ModelConfig(
        scorer="hf", hf=HFModelConfig(name_or_path=str(classifier_dir), label_map={"NEG": "negative"})
    )
    with pytest.raises(ValueError, match="'POS' has no entry"):
        HFScorer(cfg).score([TextToScore(1, "x")])


def test_needs_a_model_name() -> None:
    with pytest.raises(ValueError, match="name_or_path"):
        HFScorer(ModelConfig(scorer="hf"))
