"""Configuration of the scoring stage (the `[model]` section)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ModelConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scorer: str = Field("lexicon", description="Scorer plugin name (entry point group repmon.scorers).")
    batch_size: int = Field(64, ge=1, le=4096)
