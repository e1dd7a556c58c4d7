"""What a set of shipped weights was trained as (`e5_adapter.json`), readable without torch.

WHY apart from models.adapter: the ONNX Runtime scoring path reads the temperatures and sentiment head
without importing torch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

ADAPTER_FILE = "e5_adapter.safetensors"
META_FILE = "e5_adapter.json"


@dataclass
class AdapterMeta:
    """What a set of shipped weights was trained as; stored next to the tensors."""

    version: str
    base_sha256: str
    top_layers: int
    rank: int
    alpha: float
    max_length: int
    labels: list[str]
    temperatures: dict[str, float] = field(default_factory=dict)  # per language, from our validation split
    metrics: dict = field(default_factory=dict)
    aspects: list[str] = field(default_factory=list)
    languages: list[str] = field(default_factory=list)
    needs_help_threshold: float = 0.5
    # A distilled student (models/fulltrain.py): the encoder is cut to its first `encoder_layers` layers
    # and the tensors `encoder.layer.{i}.*` replace them whole. None = LoRA factors merged (models.adapter).
    encoder_layers: int | None = None


def load_meta(directory: Path) -> AdapterMeta:
    return AdapterMeta(**json.loads((directory / META_FILE).read_text()))
