"""The e5 encoder under ONNX Runtime, in a process that never imports torch.

Same interface as `models.torch_runtime.E5Runtime` (pooled vectors, sentiment logits, metadata) and the
same recipe: the trimmed tokenizer (`tokenizers` directly, no transformers), length buckets, and the
word embeddings looked up in the memory-mapped bf16 table of the checkpoint (only the rows posts use
become resident). The graph (`models.onnx_export`) starts after that lookup and returns pooled vectors.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from models import vocab
from models.adapter_meta import ADAPTER_FILE, load_meta
from models.encoding import (
    DEFAULT_MAX_LENGTH,
    PREFIX,
    available_cores,
    bf16_to_float32,
    length_buckets,
    return_freed_memory_promptly,
    safetensors_arrays,
)

SUBDIR = "onnx"  # exports live in <checkpoint>/onnx/


def export_name(weights_dir: Path, layers: int | None, int8: bool) -> str:
    """File name that changes whenever the weights, the depth or the arithmetic do."""
    meta = load_meta(weights_dir)
    digest = hashlib.sha256((weights_dir / ADAPTER_FILE).read_bytes()).hexdigest()[:12]
    depth = f"-L{layers}" if layers else ""
    return f"{meta.version}-{digest}{depth}-{'int8' if int8 else 'fp32'}.onnx"


def export_path(checkpoint: Path, weights_dir: Path, layers: int | None = None, int8: bool = False) -> Path:
    return checkpoint / SUBDIR / export_name(weights_dir, layers, int8)


class OrtRuntime:
    """Pooled sentence vectors from an exported encoder (`onnx_file`) and the checkpoint's tokenizer/table."""

    def __init__(
        self,
        checkpoint: Path,
        weights_dir: Path,
        onnx_file: Path,
        *,
        max_length: int = DEFAULT_MAX_LENGTH,
        threads: int | None = None,
        max_tokens: int = 8192,
    ) -> None:
        import onnxruntime as ort
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        return_freed_memory_promptly()
        self.threads = threads or available_cores()
        self.meta = load_meta(weights_dir)
        head = load_file(str(weights_dir / ADAPTER_FILE))
        self.sentiment_w = head["head.sentiment.weight"].astype(np.float32)
        self.sentiment_b = head["head.sentiment.bias"].astype(np.float32)
        config = json.loads((checkpoint / "config.json").read_text())
        self.max_length = min(max_length, int(config["max_position_embeddings"]))
        self.max_tokens = max_tokens
        trimmed = vocab.ensure_trimmed(checkpoint)
        tok_dir = trimmed or checkpoint
        self.tokenizer = Tokenizer.from_file(str(tok_dir / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(self.max_length)
        pad = self.tokenizer.token_to_id("<pad>")
        self.pad_id = int(config.get("pad_token_id") or 0) if pad is None else pad
        self.index = vocab.load_ids(trimmed) if trimmed else None
        dtype, self.table = safetensors_arrays(checkpoint / "model.safetensors")[
            "embeddings.word_embeddings.weight"
        ]
        self._to_float = bf16_to_float32 if dtype == "BF16" else (lambda a: a.astype(np.float32))
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.enable_mem_pattern = False  # shapes change with every length bucket
        # The memory arena stays on: without it every activation buffer is a fresh (glibc: mmap'ed, zeroed)
        # allocation; bench/scoring.py at load ~3.5 ran at 0.45x torch bf16 (0.84x with it), for ~80 MB less.
        self.session = ort.InferenceSession(str(onnx_file), options, providers=["CPUExecutionProvider"])

    def token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        return [e.ids for e in self.tokenizer.encode_batch([PREFIX + t for t in texts])]

    def embed(self, ids: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
        """(inputs_embeds [B, L, H] float32, attention mask [B, L] int64) for one batch of token ids."""
        width = max(len(x) for x in ids)
        input_ids = np.full((len(ids), width), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(ids), width), dtype=np.int64)
        for row, x in enumerate(ids):
            input_ids[row, : len(x)] = x
            mask[row, : len(x)] = 1
        rows = input_ids if self.index is None else self.index[input_ids]
        return self._to_float(self.table[rows]), mask

    def forward(self, embeds: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return self.session.run(["pooled"], {"inputs_embeds": embeds, "attention_mask": mask})[0]

    def pooled(self, texts: Sequence[str]) -> np.ndarray:
        """Mean-pooled last hidden states, [N, H] float32 (not normalised)."""
        ids = self.token_ids(texts)
        out = np.zeros((len(ids), self.table.shape[1]), dtype=np.float32)
        for batch in length_buckets([len(x) for x in ids], self.max_tokens, 256):
            out[batch] = self.forward(*self.embed([ids[i] for i in batch]))
        return out

    def sentiment_logits(self, pooled: np.ndarray) -> np.ndarray:
        return pooled @ self.sentiment_w.T + self.sentiment_b
