"""Configuration of the detection stage (the `[detect]` section)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class DetectConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
