"""Export the merged e5 encoder to ONNX (fp32, optionally int8) for the ONNX Runtime scoring path.

The graph takes the word embeddings already looked up (`inputs_embeds` [B, L, H] float32) and the
attention mask, and returns the mean-pooled sentence vectors [B, H]. WHY the lookup stays outside: the
250k x 384 table is memory-mapped from the checkpoint and only the rows posts use become resident
(`models.encoder.MappedEmbedding`); inside the graph ONNX Runtime would hold all of it (190-380 MB).
Exported with the TorchScript exporter (`dynamo=False`: no onnxscript needed) and eager attention (a
plain graph ONNX Runtime fuses; sdpa's mask shortcuts must not be traced). Batch and sequence are dynamic.
"""

from __future__ import annotations

import logging
import os
import tempfile
import warnings
from pathlib import Path

import torch
from torch import nn

from models.onnx_runtime import export_path

log = logging.getLogger(__name__)

OPSET = 17


class PooledEncoder(nn.Module):
    """BertModel from `inputs_embeds` to mean-pooled vectors (what the scorer's heads read)."""

    def __init__(self, bert: nn.Module) -> None:
        super().__init__()
        self.bert = bert

    def forward(self, inputs_embeds: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.bert(inputs_embeds=inputs_embeds, attention_mask=attention_mask).last_hidden_state
        m = attention_mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * m).sum(1) / m.sum(1).clamp(min=1.0)


def ensure_export(checkpoint: Path, weights_dir: Path, *, layers: int | None = None, int8: bool = False) -> Path:
    """The cached ONNX file for these weights beside the checkpoint, exported on first use.

    `layers` keeps only the encoder's first K layers (a student's speed; its vectors are not a model's).
    """
    dest = export_path(checkpoint, weights_dir, layers, int8)
    if dest.is_file():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    if int8:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        source = ensure_export(checkpoint, weights_dir, layers=layers, int8=False)
        _atomic(dest, lambda tmp: quantize_dynamic(source, tmp, weight_type=QuantType.QInt8))
    else:
        model = _merged_encoder(checkpoint, weights_dir, layers)
        _atomic(dest, lambda tmp: _export(model, tmp))
    log.info("exported %s", dest)
    return dest


def _merged_encoder(checkpoint: Path, weights_dir: Path, layers: int | None) -> nn.Module:
    from models.torch_runtime import E5Runtime

    runtime = E5Runtime(checkpoint, weights_dir, quantize=False, precision="fp32")
    model = runtime.model
    if layers and layers < len(model.encoder.layer):
        model.encoder.layer = model.encoder.layer[:layers]
        model.config.num_hidden_layers = layers
    model.set_attn_implementation("eager")
    return PooledEncoder(model).eval()


def _export(model: nn.Module, path: Path) -> None:
    hidden = model.bert.config.hidden_size
    embeds = torch.randn(2, 7, hidden)
    mask = torch.ones(2, 7, dtype=torch.long)
    mask[1, 4:] = 0  # padding in the example, so no all-ones shortcut is traced
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation and tracer notices
        torch.onnx.export(
            model,
            (embeds, mask),
            str(path),
            dynamo=False,
            input_names=["inputs_embeds", "attention_mask"],
            output_names=["pooled"],
            dynamic_axes={"inputs_embeds": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"}},
            opset_version=OPSET,
        )


def _atomic(dest: Path, write) -> None:
    """Write via a temporary file in the same folder, then rename: a crash never leaves half a model."""
    fd, name = tempfile.mkstemp(prefix=dest.stem + ".", suffix=".onnx.tmp", dir=dest.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        tmp.replace(dest)
    finally:
        tmp.unlink(missing_ok=True)
