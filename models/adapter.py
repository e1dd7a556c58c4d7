"""Low-rank adapter on the encoder's top layers: training-time modules and inference-time merge.

WHY LoRA on the top layers only: on a 2-core CPU, full fine-tuning is out of reach, but caching the
hidden states that enter the top k layers once lets us train those layers many epochs cheaply. The
shipped artefact is then small (rank-r factors + the top layers' biases/LayerNorms + heads, ~2 MB)
and is merged into the plain weights at load time, so scoring pays no extra cost.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from pathlib import Path

import torch
from torch import nn

from models.adapter_meta import ADAPTER_FILE, META_FILE, AdapterMeta

LINEAR_PATHS = (
    "attention.self.query",
    "attention.self.key",
    "attention.self.value",
    "attention.output.dense",
    "intermediate.dense",
    "output.dense",
)


class LoRALinear(nn.Module):
    """y = W x + b + (alpha/r) B A dropout(x), with W frozen."""

    def __init__(self, base: nn.Linear, rank: int, alpha: float, dropout: float = 0.1) -> None:
        super().__init__()
        self.base = base
        self.base.weight.requires_grad_(False)
        self.lora_A = nn.Parameter(torch.empty(rank, base.in_features))
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, rank))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
        self.scale = alpha / rank
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) + (self.dropout(x) @ self.lora_A.T @ self.lora_B.T) * self.scale


def _get(module: nn.Module, path: str) -> nn.Module:
    for part in path.split("."):
        module = getattr(module, part)
    return module


def _set(module: nn.Module, path: str, value: nn.Module) -> None:
    *parents, last = path.split(".")
    for part in parents:
        module = getattr(module, part)
    setattr(module, last, value)


def add_lora(layers: nn.ModuleList, rank: int, alpha: float, dropout: float = 0.1) -> None:
    """Wrap the top layers' Linear modules; only LoRA factors, biases and LayerNorms stay trainable."""
    for layer in layers:
        for p in layer.parameters():
            p.requires_grad_(False)
        for path in LINEAR_PATHS:
            base = _get(layer, path)
            base.bias.requires_grad_(True)
            _set(layer, path, LoRALinear(base, rank, alpha, dropout))
        for name, p in layer.named_parameters():
            if "LayerNorm" in name:
                p.requires_grad_(True)


def adapter_state(layers: nn.ModuleList, first_index: int) -> dict[str, torch.Tensor]:
    """Tensors to ship: LoRA factors plus the (small) trained biases and LayerNorm parameters."""
    out: dict[str, torch.Tensor] = {}
    for offset, layer in enumerate(layers):
        i = first_index + offset
        for path in LINEAR_PATHS:
            mod = _get(layer, path)
            assert isinstance(mod, LoRALinear)
            out[f"layer.{i}.{path}.lora_A"] = mod.lora_A.detach().clone()
            out[f"layer.{i}.{path}.lora_B"] = (mod.lora_B.detach() * mod.scale).clone()  # scale folded in
            out[f"layer.{i}.{path}.bias"] = mod.base.bias.detach().clone()
        for name, p in layer.named_parameters():
            if "LayerNorm" in name:
                out[f"layer.{i}.{name}"] = p.detach().clone()
    return out


@torch.no_grad()
def load_student(model: nn.Module, state: dict[str, torch.Tensor], layers: int) -> None:
    """Cut a BertModel to its first `layers` layers and replace their weights with a student's (all of them).

    WHY cut first: the dropped layers' fp32 weights are freed before scoring starts (memory goal).
    """
    if not 0 < layers <= len(model.encoder.layer):
        raise ValueError(f"student has {layers} layers; the encoder has {len(model.encoder.layer)}")
    model.encoder.layer = model.encoder.layer[:layers]
    model.config.num_hidden_layers = layers
    own = {k: v for k, v in model.state_dict().items() if k.startswith("encoder.layer.")}
    given = {k: v for k, v in state.items() if k.startswith("encoder.layer.")}
    if set(own) != set(given):
        missing, extra = sorted(set(own) - set(given))[:3], sorted(set(given) - set(own))[:3]
        raise ValueError(
            f"student tensors do not match a {layers}-layer encoder (missing {missing}, extra {extra})"
        )
    model.load_state_dict({k: v.to(own[k].dtype) for k, v in given.items()}, strict=False)


@torch.no_grad()
def merge_adapter(model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Fold shipped adapter tensors into a plain BertModel in place (W += B A; biases/LNs replaced)."""
    layers = model.encoder.layer
    seen = set()
    for key, value in state.items():
        if not key.startswith("layer."):
            continue
        _, idx, rest = key.split(".", 2)
        layer = layers[int(idx)]
        if rest.endswith(".lora_A"):
            path = rest[: -len(".lora_A")]
            lin = _get(layer, path)
            b = state[f"layer.{idx}.{path}.lora_B"].to(torch.float32)
            a = value.to(torch.float32)
            lin.weight += (b @ a).to(lin.weight.dtype)
            seen.add((idx, path))
        elif rest.endswith(".lora_B"):
            continue
        else:
            param = _get(layer, rest.rsplit(".", 1)[0])
            getattr(param, rest.rsplit(".", 1)[1]).copy_(value.to(torch.float32))
    if not seen:
        raise ValueError("adapter holds no LoRA factors")


def save(directory: Path, tensors: dict[str, torch.Tensor], meta: AdapterMeta) -> None:
    from safetensors.torch import save_file

    directory.mkdir(parents=True, exist_ok=True)
    half = {k: v.detach().to(torch.float16).contiguous() for k, v in tensors.items()}
    save_file(half, str(directory / ADAPTER_FILE), metadata={"version": meta.version})
    (directory / META_FILE).write_text(json.dumps(asdict(meta), indent=2, sort_keys=True) + "\n")


def save_meta(directory: Path, meta: AdapterMeta) -> None:
    (directory / META_FILE).write_text(json.dumps(asdict(meta), indent=2, sort_keys=True) + "\n")


def load(directory: Path) -> tuple[dict[str, torch.Tensor], AdapterMeta]:
    from safetensors.torch import load_file

    tensors = {k: v.to(torch.float32) for k, v in load_file(str(directory / ADAPTER_FILE)).items()}
    meta = AdapterMeta(**json.loads((directory / META_FILE).read_text()))
    return tensors, meta
