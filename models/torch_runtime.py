"""The e5 encoder under torch: the adapter merged in, optional bf16 autocast or dynamic int8.

Texts are scored in length-bucketed batches inside `torch.inference_mode()` with intra-op threads =
cores really available. `models.onnx_runtime.OrtRuntime` is the same interface under ONNX Runtime.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from models import adapter, encoder


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
