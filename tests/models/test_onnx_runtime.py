"""The ONNX Runtime encoder path on a tiny random BERT: exported, scored, compared with torch fp32."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from models.config import ModelConfig
from models.scorer import E5Scorer
from monitor.kernel.types import TextToScore

pytest.importorskip("onnxruntime", reason="onnxruntime is an optional extra: pip install '.[onnx]'")

from models import onnx_export, onnx_runtime
from models.onnx_runtime import OrtRuntime
from models.torch_runtime import E5Runtime

TEXTS = ["hello world", "hej", "", "bad refund wait " * 40, "good", "slow fish", "hello hej hello world good bad"]


@pytest.fixture(scope="module")
def exported(tiny_checkpoint: Path, tiny_weights: Path) -> Path:
    return onnx_export.ensure_export(tiny_checkpoint, tiny_weights)


def test_export_is_cached_beside_the_checkpoint_and_named_by_the_weights(
    tiny_checkpoint: Path, tiny_weights: Path, exported: Path
) -> None:
    assert exported.parent == tiny_checkpoint / onnx_runtime.SUBDIR and "tiny-test" in exported.name
    before = exported.stat().st_mtime_ns
    assert onnx_export.ensure_export(tiny_checkpoint, tiny_weights) == exported
    assert exported.stat().st_mtime_ns == before  # not exported again
    assert not list(exported.parent.glob("*.tmp"))


def test_same_token_ids_and_vectors_as_torch(tiny_checkpoint: Path, tiny_weights: Path, exported: Path) -> None:
    torch_rt = E5Runtime(tiny_checkpoint, tiny_weights, max_length=32, quantize=False, threads=1, precision="fp32")
    ort_rt = OrtRuntime(tiny_checkpoint, tiny_weights, exported, max_length=32, threads=1)
    from models import encoder

    assert ort_rt.token_ids(TEXTS) == encoder.tokenize(torch_rt.tokenizer, TEXTS, 32)
    want, got = torch_rt.pooled(TEXTS), ort_rt.pooled(TEXTS)  # several lengths: padding inside batches
    assert got.shape == want.shape == (len(TEXTS), 64)
    np.testing.assert_allclose(got, want, atol=1e-4, rtol=1e-4)
    np.testing.assert_allclose(ort_rt.sentiment_logits(got), torch_rt.sentiment_logits(want), atol=1e-3)


def test_scorer_on_onnx_runtime_gives_torch_results(
    tiny_checkpoint: Path, tiny_weights: Path, exported: Path
) -> None:
    config = ModelConfig(scorer="e5", weights_dir=str(tiny_weights), max_length=32, threads=1, precision="fp32")
    batch = [TextToScore(i, t) for i, t in enumerate(TEXTS)]
    want = E5Scorer(config, checkpoint=tiny_checkpoint).score(batch)
    ort_scorer = E5Scorer(
        config,
        checkpoint=tiny_checkpoint,
        runtime=lambda ck: OrtRuntime(ck, tiny_weights, exported, max_length=32, threads=1),
    )
    got = ort_scorer.score(batch)
    for a, b in zip(got, want, strict=True):
        assert (a.mention_id, a.label, a.language, a.needs_help) == (
            b.mention_id,
            b.label,
            b.language,
            b.needs_help,
        )
        np.testing.assert_allclose(a.embedding, b.embedding, atol=1e-4)
        assert a.probabilities == pytest.approx(b.probabilities, abs=1e-4)


def test_int8_and_student_depth_exports_score(tiny_checkpoint: Path, tiny_weights: Path) -> None:
    int8 = onnx_export.ensure_export(tiny_checkpoint, tiny_weights, int8=True)
    one_layer = onnx_export.ensure_export(tiny_checkpoint, tiny_weights, layers=1)
    assert len({int8.name, one_layer.name, onnx_runtime.export_name(tiny_weights, None, False)}) == 3
    for path in (int8, one_layer):
        pooled = OrtRuntime(tiny_checkpoint, tiny_weights, path, max_length=32, threads=1).pooled(TEXTS)
        assert pooled.shape == (len(TEXTS), 64) and np.isfinite(pooled).all()


def test_onnx_scoring_modules_do_not_import_torch() -> None:
    """The point of the path for memory: importing torch + transformers alone is ~240 MB resident."""
    code = (
        "import sys; import models.scorer, models.onnx_runtime, models.heads, models.guard, models.convert; "
        "bad = [m for m in ('torch', 'transformers') if m in sys.modules]; print(bad); sys.exit(bool(bad))"
    )
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
