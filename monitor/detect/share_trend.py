"""Trend (ramp) test for the negative share: evidence that the share has been *rising* over the last bins.

Why: a storm that builds up (news spreading, more customers hit as an outage grows) has most of its
excess in the latest minutes. A flat window over the last k bins weighs its first, still quiet, bin as
much as its last, so at a busy brand a ramping storm was recognised only once the flat average had
caught up (the slow half of the issue-13 reference storms at 50 000 posts a day). This test combines the
bins' evidence with weights rising linearly towards now (a matched filter for a linear ramp since the
window's start):

* each bin's own evidence is its exact beta-binomial mid-p upper tail (the brand's learnt one-bin wobble),
  turned into a z-score, so a skewed share (a low usual share wobbles upwards more than downwards) or a
  bin of three posts never looks stronger than it is;
* Stouffer's weighted sum, weight = position in the window / the bin's standard error of the share (a
  nearly empty open bin says little), and the uncertainty of the usual share itself added once for the
  whole window (an error in the usual share shifts every bin alike, it does not average out);
* the sum assumes bins wobble independently. Real shares may drift for hours, so the spread of the sum
  is learnt from the brand's own calm history (`TrendSpread`, self-standardising) and never assumed
  smaller than independence gives.

It is consulted only where the window usually holds `trend_usual_min` negatives or more (a busy brand):
at a quiet brand the flat windows and the negative-rate test already see every post, and a sum of a
few near-empty bins adds tests without evidence.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import betabinom, norm

Z_CAP = 8.0  # one bin never says more than this (its tail is then below 1e-15 anyway)


def bin_z(window: Sequence[tuple[int, int]], base: float, rho: float) -> list[float]:
    """Each bin's z-score against the usual share with wobble rho (beta-binomial mid-p; 0 for an empty bin).

    One vectorised call for the whole window: the daemon judges every brand every minute.
    """
    concentration = 1.0 / min(max(rho, 1e-6), 0.5) - 1.0
    a, b = base * concentration, (1 - base) * concentration
    negative = np.array([x[0] for x in window])
    total = np.array([x[1] for x in window])
    midp = betabinom.sf(negative, total, a, b) + 0.5 * betabinom.pmf(negative, total, a, b)
    z = np.clip(norm.isf(np.clip(midp, 1e-300, 1.0)), -Z_CAP, Z_CAP)
    return [float(v) if n > 0 else 0.0 for v, n in zip(z, total, strict=True)]


def ramp_z(window: Sequence[tuple[int, int]], z: Sequence[float], rho: float, base_rho: float) -> float | None:
    """Weighted Stouffer z of a linear rise over `window` [(negative, total) per bin, oldest first], given
    each bin's z (`bin_z`).

    Weights rise with the position (1 .. m) and fall with the bin's standard error of the share
    (sqrt(rho + 1/total)); `base_rho` (relative variance of the usual share estimate) enters once, as a
    shift common to every bin. None when the window holds no mentions.
    """
    num = independent = common = 0.0
    for position, ((_, total), z_bin) in enumerate(zip(window, z, strict=True), 1):
        if total <= 0:
            continue
        inverse_se = 1.0 / math.sqrt(rho + 1.0 / total)
        weight = position * inverse_se
        num += weight * z_bin
        independent += weight * weight
        common += weight * inverse_se
    if independent <= 0:
        return None
    return num / math.sqrt(independent + common * common * base_rho)


@dataclass
class TrendSpread:
    """Variance of a calm window's `ramp_z`, learnt from the brand's own history (1 if bins were independent).

    Why: Stouffer's sum is N(0, 1) only if bins wobble independently around a well-estimated usual share.
    Where the share drifts (bins correlated) or the usual share lags a slow change, calm windows' z-scores
    spread wider; dividing by their learnt spread keeps the test's false-alarm rate where the fire level
    puts it (a self-starting, standardised statistic). Never below 1: calm windows are learnt only when
    no test found them unusual, which trims the upper tail.
    """

    weighted: float = 0.0  # EW sum of capped z^2
    weight: float = 0.0  # EW count of learnt windows

    def variance(self, prior: float, prior_weight: float) -> float:
        return max((self.weighted + prior * prior_weight) / (self.weight + prior_weight), 1.0)

    def learn(self, z: float, memory_bins: int, cap: float = 16.0) -> None:
        decay = math.exp(-1.0 / memory_bins)
        self.weighted = self.weighted * decay + min(z * z, cap)
        self.weight = self.weight * decay + 1.0
