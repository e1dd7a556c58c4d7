"""The e5 encoder as used everywhere in the product: tokenise, bucket by length, run, mean-pool.

One place owns the recipe (the "query: " prefix, max length, mean pooling over the attention mask)
so training, scoring, evaluation and the benchmark cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from models import vocab
from models.encoding import (  # noqa: F401 - re-exported: the recipe's torch-free half lives there
    DEFAULT_MAX_LENGTH,
    PREFIX,
    available_cores,
    length_buckets,
    return_freed_memory_promptly,
    safetensors_arrays,
)


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


def load_encoder(path: str | Path, *, layers: int | None = None, trim: bool = True):
    """(tokenizer, BertModel) from a checkpoint directory, strictly offline.

    Computation is float32, except the word-embedding table, which stays in the checkpoint's bf16 and is
    *memory-mapped* from the checkpoint file rather than read into memory (`MappedEmbedding`): it is
    250k x 384 (190 MB) while the posts of four languages touch a few percent of its rows, so only
    those pages ever become resident, and they are clean file pages the kernel can drop under pressure.
    Lossless: the same numbers are looked up. `layers` builds only the first K layers (a distilled
    student) so the others are never allocated. `trim` loads the tokenizer cut to the pieces of
    Latin-script text (`models.vocab`: same ids for our languages, ~180 MB less memory); token ids are
    then the trimmed ones and the embedding lookup maps them back. Callers that pair token ids with
    the original table themselves (`models.pack`) pass trim=False.
    """
    from transformers import AutoTokenizer

    path = Path(path)
    weights = path / "model.safetensors"
    trimmed = vocab.ensure_trimmed(path) if trim and weights.is_file() else None
    tokenizer = AutoTokenizer.from_pretrained(str(trimmed or path), local_files_only=True)
    if weights.is_file():
        index = torch.from_numpy(vocab.load_ids(trimmed)) if trimmed else None
        model = _mapped_model(path, weights, layers, index)
    else:
        model = _loaded_model(path, layers)
    model.eval()
    return tokenizer, model


def _loaded_model(path: Path, layers: int | None):
    """Fallback for checkpoints without a safetensors file: everything read into memory."""
    from transformers import AutoModel

    model = AutoModel.from_pretrained(
        str(path), local_files_only=True, dtype=torch.bfloat16, add_pooling_layer=False, attn_implementation="sdpa"
    )
    for name, param in model.named_parameters():
        if "word_embeddings" not in name:
            param.data = param.data.float()
    if layers:
        model.encoder.layer = model.encoder.layer[:layers]
        model.config.num_hidden_layers = layers
    return model


def _mapped_model(path: Path, weights: Path, layers: int | None, index: torch.Tensor | None):
    from transformers import BertConfig, BertModel

    config = BertConfig.from_pretrained(str(path), local_files_only=True)
    if layers:
        if not 0 < layers <= config.num_hidden_layers:
            raise ValueError(f"a {layers}-layer student needs an encoder with at least that many layers")
        config.num_hidden_layers = layers
    rows = config.vocab_size
    config.vocab_size = 1  # placeholder table; the real one is mapped in below
    config._attn_implementation = "sdpa"
    model = BertModel(config, add_pooling_layer=False)
    tensors = safetensors_mmap(weights)
    word = tensors.pop("embeddings.word_embeddings.weight")
    if word.shape != (rows, config.hidden_size):
        raise ValueError(f"{weights}: word embeddings {tuple(word.shape)} do not match the config's vocabulary")
    own = model.state_dict()
    state = {k: v.float() for k, v in tensors.items() if k in own}
    missing = sorted(set(own) - set(state) - {"embeddings.word_embeddings.weight"})
    if missing:
        raise ValueError(f"{weights} lacks {missing[:3]} (convert it again with `repmon model prepare`)")
    model.load_state_dict(state, strict=False)
    if index is not None and int(index.max()) >= word.shape[0]:
        raise ValueError(f"{weights}: the trimmed tokenizer names rows past the embedding table")
    model.embeddings.word_embeddings = MappedEmbedding(word, config.pad_token_id, index)
    model.config.vocab_size = word.shape[0] if index is None else len(index)
    return model


def safetensors_mmap(file: Path) -> dict[str, torch.Tensor]:
    """Every tensor of a safetensors file as a copy-on-write memory map (nothing is read until touched)."""
    out: dict[str, torch.Tensor] = {}
    for name, (dtype, arr) in safetensors_arrays(file).items():
        tensor = torch.from_numpy(arr)
        out[name] = tensor.view(torch.bfloat16) if dtype == "BF16" else tensor
    return out


class MappedEmbedding(nn.Module):
    """A frozen embedding lookup into a memory-mapped table (see `load_encoder`).

    The table is deliberately not a parameter or buffer: `state_dict`, `deepcopy` (dynamic quantisation)
    and `.to()` would otherwise copy all of it into memory.
    """

    def __init__(self, table: torch.Tensor, padding_idx: int | None = None, index: torch.Tensor | None = None):
        super().__init__()
        self._table = table
        self._index = index  # token id -> table row (a trimmed tokenizer); None: the same
        self.padding_idx = padding_idx
        self.num_embeddings = table.shape[0] if index is None else len(index)
        self.embedding_dim = table.shape[1]

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return F.embedding(ids if self._index is None else self._index[ids], self._table)

    def __deepcopy__(self, memo: dict) -> MappedEmbedding:
        return MappedEmbedding(self._table, self.padding_idx, self._index)


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
