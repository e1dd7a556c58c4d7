"""Configuration of the detection stage (the `[detect]` section).

Every field has a default that was chosen on real data (docs/detection.md); the same values apply to
every brand, because per-brand tuning does not survive a brand's first unusual week.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class VolumeSpikeConfig(BaseModel):
    """Spikes in the number of mentions per bin (all mentions)."""

    model_config = ConfigDict(extra="forbid")
    enabled: bool = True
    fire: float = Field(2.5, gt=0, description="-log10 tail probability that fires an alert")
    warmup_bins: int = Field(288, ge=0, description="bins of history before the first alert")
    cooldown_bins: int = Field(288, ge=0, description="bins of silence after an alert")
    min_excess: float = Field(10.0, ge=0, description="mentions above expectation an alert needs")


class NegativeShareConfig(BaseModel):
    """A rise in the share of negative mentions (pages support; a positive buzz does not)."""

    model_config = ConfigDict(extra="forbid")
    enabled: bool = True
    fire: float = Field(4.0, gt=0)
    cooldown_bins: int = Field(72, ge=0)
    min_negative: int = Field(3, ge=1, description="negative mentions a window needs before it can page")
    warmup_mentions: float = Field(100.0, ge=0, description="mentions seen before the first alert, or ...")
    warmup_bins: int = Field(288, ge=0, description="... this many bins seen (a day), whichever comes first")
    prior_share: float = Field(0.15, gt=0, lt=1)
    early: bool = Field(
        True,
        description="also judge bins that have not settled (the open one included) on the mentions scored so "
        "far, so a storm pages within minutes; the settled pass still counts late arrivals",
    )


class ViralityConfig(BaseModel):
    """Single posts predicted to travel far."""

    model_config = ConfigDict(extra="forbid")
    enabled: bool = True
    reach_threshold: int = Field(100, ge=1, description="predicted final reposts that make a post viral")
    min_probability: float = Field(0.5, gt=0, lt=1, description="P(final >= threshold) that alerts")
    lookback_hours: float = Field(48.0, gt=0, description="posts older than this are not watched")


class ComplaintConfig(BaseModel):
    """Single mentions the scorer flagged as needing help with negative sentiment."""

    model_config = ConfigDict(extra="forbid")
    enabled: bool = True
    min_probability: float = Field(0.5, ge=0, le=1, description="needs_help probability that counts")
    lookback_hours: float = Field(24.0, gt=0, description="older mentions are not raised (first run)")


class DetectConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    bin_minutes: int = Field(5, ge=1, le=60)
    settle_minutes: float = Field(
        10.0,
        ge=0,
        description="a bin is counted only this long after it ends (late-arriving mentions); scores this old "
        "are final for the complaint watermark (transactions that commit out of id order)",
    )
    score_wait_minutes: float = Field(
        30.0, ge=0, description="how long a bin waits for its mentions to be scored before it is counted"
    )
    catchup_hours: float = Field(
        24.0 * 7, gt=0, description="history replayed to warm a brand's detectors on first sight"
    )
    model_version: str | None = Field(None, description="scores of this model version; None = latest")
    volume: VolumeSpikeConfig = Field(default_factory=VolumeSpikeConfig)
    negative_share: NegativeShareConfig = Field(default_factory=NegativeShareConfig)
    virality: ViralityConfig = Field(default_factory=ViralityConfig)
    complaint: ComplaintConfig = Field(default_factory=ComplaintConfig)
