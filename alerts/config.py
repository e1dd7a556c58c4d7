"""Configuration of routing and sinks (the `[alerts]` section)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class AlertsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
