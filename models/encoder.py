"""The e5 encoder as used everywhere in the product: tokenise, bucket by length, run, mean-pool.

One place owns the recipe (the "query: " prefix, max length, mean pooling over the attention mask)
so training, scoring, evaluation and the benchmark cannot drift apart.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import torch

PREFIX = "query: "
DEFAULT_MAX_LENGTH = 128


def available_cores() -> int:
    """CPU cores this process may really use (cgroup/affinity aware), for torch intra-op threads."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - non-Linux
        n = os.cpu_count() or 1
    quota = _cgroup_cpu_quota()
    return max(1, min(n, quota) if quota else n)


def _cgroup_cpu_quota() -> int | None:
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()
        if quota != "max":
            return max(1, int(int(quota) / int(period)))
    except (OSError, ValueError):
        pass
    return None


def native_bf16() -> bool:
    """Whether this CPU multiplies bf16 natively (oneDNN's own check: AVX512-BF16 or AMX)."""
    try:
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # pragma: no cover - torch built without oneDNN
        return False


def use_bf16(precision: str) -> bool:
    """Resolve the `[model] precision` setting ("auto" | "fp32" | "bf16") for this machine."""
    if precision == "auto":
        return native_bf16()
    return precision == "bf16"


def load_encoder(path: str | Path):
    """(tokenizer, BertModel) from a checkpoint directory, strictly offline.

    Computation is float32, except the word-embedding table, which stays in the checkpoint's bf16: it
    is a lookup (no arithmetic in bf16; the sum with the fp32 position embeddings promotes to fp32), it
    is 250k x 384, and keeping it bf16 saves ~190 MB of resident memory at no change in the output.
    """
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    model = AutoModel.from_pretrained(
        str(path),
        local_files_only=True,
        dtype=torch.bfloat16,
        add_pooling_layer=False,
        attn_implementation="sdpa",
    )
    for name, param in model.named_parameters():
        if "word_embeddings" not in name:
            param.data = param.data.float()
    model.eval()
    return tokenizer, model


def length_buckets(lengths: Sequence[int], max_tokens: int = 8192, max_batch: int = 128) -> Iterator[list[int]]:
    """Indices grouped so each batch holds texts of similar length (little padding) under a token budget."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    batch: list[int] = []
    longest = 0
    for i in order:
        longest_if = max(longest, lengths[i])
        if batch and (longest_if * (len(batch) + 1) > max_tokens or len(batch) >= max_batch):
            yield batch
            batch, longest_if = [], lengths[i]
        batch.append(i)
        longest = longest_if
    if batch:
        yield batch


def tokenize(tokenizer, texts: Sequence[str], max_length: int = DEFAULT_MAX_LENGTH) -> list[list[int]]:
    """Token ids per text (prefix and <s> </s> included), truncated to max_length."""
    enc = tokenizer([PREFIX + t for t in texts], truncation=True, max_length=max_length)
    return enc["input_ids"]


def pad_batch(ids: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(x) for x in ids)
    input_ids = torch.full((len(ids), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(ids), width), dtype=torch.long)
    for row, x in enumerate(ids):
        input_ids[row, : len(x)] = torch.tensor(x, dtype=torch.long)
        mask[row, : len(x)] = 1
    return input_ids, mask


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    m = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * m).sum(1) / m.sum(1).clamp(min=1.0)


def additive_mask(mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """[B, L] 0/1 mask -> [B, 1, 1, L] additive mask as BertLayer expects when called directly."""
    return (1.0 - mask[:, None, None, :].to(dtype)) * torch.finfo(dtype).min


def embed_lower(model, input_ids: torch.Tensor, mask: torch.Tensor, upto: int) -> torch.Tensor:
    """Hidden states entering layer `upto` (embeddings + layers[:upto])."""
    hidden = model.embeddings(input_ids=input_ids, token_type_ids=torch.zeros_like(input_ids))
    ext = additive_mask(mask, hidden.dtype)
    for layer in model.encoder.layer[:upto]:
        hidden = run_layer(layer, hidden, ext)
    return hidden


def run_layer(layer, hidden: torch.Tensor, ext_mask: torch.Tensor) -> torch.Tensor:
    out = layer(hidden, attention_mask=ext_mask)
    return out[0] if isinstance(out, tuple) else out


def run_upper(layers, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    ext = additive_mask(mask, hidden.dtype)
    for layer in layers:
        hidden = run_layer(layer, hidden, ext)
    return hidden
