"""The e5 scorer on a tiny random BERT (real transformers model, real adapter merge, real heads)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from models import adapter, encoder
from models.config import ModelConfig
from models.scorer import E5Scorer
from monitor.kernel.types import ASPECTS, SENTIMENTS, Scorer, TextToScore


@pytest.fixture
def scorer(tiny_checkpoint, tiny_weights) -> E5Scorer:
    config = ModelConfig(scorer="e5", weights_dir=str(tiny_weights), quantize=False, max_length=32, threads=1)
    return E5Scorer(config, checkpoint=tiny_checkpoint)


def test_scores_every_text_with_complete_results(scorer: E5Scorer) -> None:
    texts = ["hello world", "hej", "", "bad refund wait " * 40, "good"]
    batch = [TextToScore(mention_id=10 + i, text=t) for i, t in enumerate(texts)]
    results = scorer.score(batch)
    assert isinstance(scorer, Scorer)
    assert [r.mention_id for r in results] == [10, 11, 12, 13, 14]
    for r in results:
        assert r.label in SENTIMENTS and set(r.probabilities) == set(SENTIMENTS)
        assert math.isclose(sum(r.probabilities.values()), 1.0, rel_tol=1e-5)
        assert r.label == max(r.probabilities, key=r.probabilities.get)
        assert r.language in {"sv", "da", "no", "en", "other"}
        assert 0.0 <= r.needs_help_probability <= 1.0 and r.needs_help == (r.needs_help_probability >= 0.5)
        assert set(r.aspects) == set(ASPECTS)
        assert len(r.embedding) == 64 and math.isclose(float(np.linalg.norm(r.embedding)), 1.0, rel_tol=1e-4)
        assert r.model_version == "tiny-test+guard1"  # the guard (default on) says so in the version


def test_batching_and_order_do_not_change_scores(scorer: E5Scorer) -> None:
    texts = ["hello world", "bad wait slow", "good refund", "hej hej hej hej", "world"]
    together = scorer.score([TextToScore(i, t) for i, t in enumerate(texts)])
    alone = [scorer.score([TextToScore(i, t)])[0] for i, t in reversed(list(enumerate(texts)))][::-1]
    for a, b in zip(together, alone, strict=True):
        assert a.mention_id == b.mention_id
        for k in SENTIMENTS:
            assert a.probabilities[k] == pytest.approx(b.probabilities[k], abs=1e-4)


def test_empty_batch_needs_no_model(tiny_weights) -> None:
    lazy = E5Scorer(ModelConfig(scorer="e5", weights_dir=str(tiny_weights)))
    assert lazy.score([]) == [] and lazy._runtime is None


def test_missing_weights_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="repmon model train"):
        E5Scorer(ModelConfig(scorer="e5", weights_dir=str(tmp_path)))


def test_merged_adapter_equals_lora_modules(tiny_checkpoint, tiny_weights) -> None:
    """The inference-time merge computes exactly what the training-time LoRA modules compute."""
    tok, merged = encoder.load_encoder(tiny_checkpoint)
    tensors, meta = adapter.load(tiny_weights)
    adapter.merge_adapter(merged, tensors)
    _, plain = encoder.load_encoder(tiny_checkpoint)
    n = plain.config.num_hidden_layers
    layers = plain.encoder.layer[n - meta.top_layers :]
    adapter.add_lora(layers, rank=meta.rank, alpha=meta.alpha, dropout=0.0)
    with torch.no_grad():
        for layer_idx, layer in enumerate(layers, start=n - meta.top_layers):
            for path in adapter.LINEAR_PATHS:
                mod = layer.get_submodule(path)
                mod.lora_A.copy_(tensors[f"layer.{layer_idx}.{path}.lora_A"])
                mod.lora_B.copy_(tensors[f"layer.{layer_idx}.{path}.lora_B"] / mod.scale)
                mod.base.bias.copy_(tensors[f"layer.{layer_idx}.{path}.bias"])
    ids, mask = encoder.pad_batch(encoder.tokenize(tok, ["hello world", "bad wait"]), tok.pad_token_id)
    plain.eval()
    with torch.inference_mode():
        a = merged(input_ids=ids, attention_mask=mask).last_hidden_state
        b = plain(input_ids=ids, attention_mask=mask).last_hidden_state
    assert torch.allclose(a, b, atol=1e-4)


def test_int8_quantised_scorer_stays_close(tiny_checkpoint, tiny_weights) -> None:
    base = E5Scorer(
        ModelConfig(scorer="e5", weights_dir=str(tiny_weights), quantize=False), checkpoint=tiny_checkpoint
    )
    q8 = E5Scorer(
        ModelConfig(scorer="e5", weights_dir=str(tiny_weights), quantize=True), checkpoint=tiny_checkpoint
    )
    batch = [TextToScore(1, "hello world good"), TextToScore(2, "bad slow wait refund")]
    for a, b in zip(base.score(batch), q8.score(batch), strict=True):
        assert np.dot(a.embedding, b.embedding) > 0.98
    assert "+int8" in q8.version


def test_bf16_precision_stays_close_to_fp32_and_auto_follows_the_cpu(tiny_checkpoint, tiny_weights) -> None:
    def make(precision: str) -> E5Scorer:
        config = ModelConfig(scorer="e5", weights_dir=str(tiny_weights), quantize=False, precision=precision)
        return E5Scorer(config, checkpoint=tiny_checkpoint)

    fp32, bf16, auto = make("fp32"), make("bf16"), make("auto")
    batch = [TextToScore(1, "hello world good"), TextToScore(2, "bad slow wait refund " * 5), TextToScore(3, "")]
    for a, b in zip(fp32.score(batch), bf16.score(batch), strict=True):
        assert np.dot(a.embedding, b.embedding) > 0.995
        assert max(abs(a.probabilities[k] - b.probabilities[k]) for k in SENTIMENTS) < 0.05
    assert fp32.prepare().bf16 is False and bf16.prepare().bf16 is True
    assert auto.prepare().bf16 is encoder.native_bf16()
    assert bf16.version == fp32.version  # same model: provenance does not fork on arithmetic precision


def test_int8_is_never_combined_with_bf16(tiny_checkpoint, tiny_weights) -> None:
    config = ModelConfig(scorer="e5", weights_dir=str(tiny_weights), quantize=True, precision="bf16")
    assert E5Scorer(config, checkpoint=tiny_checkpoint).prepare().bf16 is False
