"""Streaming, causal spike detection on count series (mentions per bin).

Why this shape: mention counts are over-dispersed, strongly daily-seasonal and bursty. A z-score on raw
counts either pages on every lunchtime peak or misses quiet-hour spikes, and a Gaussian tail is wrong for
the small counts of a small brand. So each bin is compared with a robust seasonal baseline (level x
time-of-day profile, learnt with clipped updates so a spike cannot drag its own baseline up), and the
counts summed over several time scales (a scan statistic: short scales catch sharp bursts, long scales
slower rises) must beat two tails at once: Poisson (sampling noise, decisive for small counts) and the
series' own peaks-over-threshold tail of log ratios (multiplicative wobble, decisive for busy series).
A CUSUM asks for a sustained rise; one alert per event comes from a warm-up, hysteresis (re-arm only
after the surprise falls back) and a cooldown. Parameters: docs/detection.md (measured on NAB).

The detector is strictly causal: `update(count, bin_in_day)` for row i only sees rows <= i, and its
whole state is a small JSON-able dict so the daemon can persist it between runs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from scipy.special import gammainc

from monitor.kernel.types import Severity

LOG10 = math.log(10.0)
TAIL = 0.05  # share of residuals above the running threshold of the peaks-over-threshold tail
TAIL_LOG10 = -math.log10(TAIL)


@dataclass(frozen=True, slots=True)
class SpikeParams:
    """Global parameters of the count detector (one set for every series; no per-series tuning)."""

    scales: tuple[int, ...] = (3, 12, 48)  # window lengths in bins (15 min .. 4 h at 5-min bins)
    season_slots: int = 24  # time-of-day profile resolution
    bins_per_day: int = 288
    level_rate: float = 0.01  # EW rate of the deseasonalised level, per bin
    season_rate: float = 0.05  # EW rate of a slot's profile, per visit
    scale_rate: float = 0.005  # EW rate of the residual scale, per bin
    clip: float = 3.0  # residuals beyond clip * scale update the baseline as if they were at the clip
    min_rel_sd: float = 0.05  # floor of the relative (log-scale) dispersion
    warmup: int = 288  # bins before the first alert (one day)
    fire: float = 2.5  # surprise (-log10 tail p, after multiplicity correction) that fires an alert
    rearm: float = 2.0  # surprise below which a finished event re-arms the detector
    cooldown: int = 288  # bins of silence after an alert
    min_excess: float = 3.0  # an alert needs at least this many counts above expectation
    cusum_k: float = 1.0  # CUSUM drift allowance, in robust sd of one bin
    cusum_cap: float = 4.0  # largest contribution of one bin to the CUSUM
    cusum_h: float = 3.0  # CUSUM level an alert needs (0 = no sustain requirement)
    quantile_step: float = 0.05  # step of the running 95th-percentile tracker, in units of the tail scale
    tail_rate: float = 0.02  # EW rate of the mean excess, per exceedance


@dataclass(frozen=True, slots=True)
class SpikeResult:
    """What the detector concluded for one bin."""

    score: float  # in [0, 1]; >= 0.5 exactly when `fired`
    fired: bool
    surprise: float  # -log10 tail probability at the most surprising scale (multiplicity corrected)
    scale: int  # bins summed at that scale
    observed: float  # counts in that window
    expected: float  # baseline expectation for that window
    severity: Severity | None = None
    in_event: bool = False


def poisson_tail(observed: float, mean: float) -> float:
    """log10 P(X >= observed) for X ~ Poisson(mean): the sampling noise every count has."""
    if observed <= 0 or observed <= mean:
        return 0.0
    tail = float(gammainc(observed, max(mean, 1e-6)))  # P(X >= k) = P(k, mean), regularised lower gamma
    return math.log10(tail) if tail > 0 else -300.0


def severity_for(surprise: float, ratio: float) -> Severity:
    """Severity from how far above the baseline: both the evidence and the size of the jump count."""
    if ratio >= 8 and surprise >= 12:
        return "critical"
    if ratio >= 4 and surprise >= 9:
        return "high"
    if ratio >= 2:
        return "medium"
    return "low"


def squash(surprise: float, fire: float) -> float:
    """Map surprise to [0, 1] so that `fire` maps to exactly 0.5 and larger surprise stays ordered."""
    if surprise <= 0:
        return 0.0
    return surprise / (surprise + fire)


@dataclass
class SpikeDetector:
    """One count series. Feed bins in time order with `update`; persist `state()` between runs."""

    params: SpikeParams = field(default_factory=SpikeParams)
    n: int = 0
    level: float | None = None
    season: list[float] = field(default_factory=list)
    season_seen: list[int] = field(default_factory=list)
    bin_sd: float = 0.5  # robust sd of one bin's log count around the baseline
    cusum: float = 0.0  # one-sided CUSUM of standardised per-bin residuals
    tail_u: list[float] = field(default_factory=list)  # per scale: running 95th percentile of residuals
    tail_beta: list[float] = field(default_factory=list)  # per scale: mean excess over tail_u
    tail_seen: list[int] = field(default_factory=list)  # per scale: exceedances seen (warm-up rate)
    recent: list[tuple[float, float]] = field(default_factory=list)  # (count, expected) of last bins
    since_alert: int = 10**9
    armed: bool = True

    def __post_init__(self) -> None:
        p = self.params
        if not self.season:
            self.season = [0.0] * p.season_slots
            self.season_seen = [0] * p.season_slots
        if not self.tail_u:
            self.tail_u = [0.3] * len(p.scales)
            self.tail_beta = [0.2] * len(p.scales)
            self.tail_seen = [0] * len(p.scales)

    # ------------------------------------------------------------------ persistence
    def state(self) -> dict[str, Any]:
        return {
            "v": 2,
            "n": self.n,
            "level": self.level,
            "season": self.season,
            "season_seen": self.season_seen,
            "bin_sd": self.bin_sd,
            "cusum": self.cusum,
            "tail_u": self.tail_u,
            "tail_beta": self.tail_beta,
            "tail_seen": self.tail_seen,
            "recent": [list(x) for x in self.recent],
            "since_alert": self.since_alert,
            "armed": self.armed,
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any] | None, params: SpikeParams | None = None) -> SpikeDetector:
        params = params or SpikeParams()
        if not state or state.get("v") != 2 or len(state.get("season", [])) != params.season_slots:
            return cls(params)
        return cls(
            params,
            n=int(state["n"]),
            level=state["level"],
            season=[float(x) for x in state["season"]],
            season_seen=[int(x) for x in state["season_seen"]],
            bin_sd=float(state.get("bin_sd", 0.5)),
            cusum=float(state.get("cusum", 0.0)),
            tail_u=[float(x) for x in state["tail_u"]],
            tail_beta=[float(x) for x in state["tail_beta"]],
            tail_seen=[int(x) for x in state["tail_seen"]],
            recent=[(float(a), float(b)) for a, b in state["recent"]],
            since_alert=int(state["since_alert"]),
            armed=bool(state["armed"]),
        )

    # ------------------------------------------------------------------ streaming update
    def slot_of(self, bin_index_in_day: int) -> int:
        p = self.params
        return (bin_index_in_day % p.bins_per_day) * p.season_slots // p.bins_per_day

    def expected(self, slot: int) -> float:
        """Expected count for a bin in this time-of-day slot (before seeing it)."""
        if self.level is None:
            return 0.0
        # level + season is a mean of log counts; the mean count is higher by the log-normal correction.
        return max(math.expm1(self.level + self.season[slot] + 0.5 * self.bin_sd**2), 0.0)

    def update(self, count: float, bin_index_in_day: int) -> SpikeResult:
        """Score one bin, then learn from it. Row i's result depends on rows <= i only."""
        p = self.params
        count = max(float(count), 0.0)
        slot = self.slot_of(bin_index_in_day)
        y = math.log1p(count)
        if self.level is None:
            self.level = y
        expect = self.expected(slot)
        self.recent.append((count, expect))
        del self.recent[: max(len(self.recent) - max(p.scales), 0)]

        best = (0.0, p.scales[0], count, expect)
        correction = math.log10(len(p.scales))
        residuals: list[float] = []
        for i, k in enumerate(p.scales):
            window = self.recent[-k:]
            obs = sum(c for c, _ in window)
            exp_ = sum(e for _, e in window)
            residuals.append(math.log1p(obs) - math.log1p(exp_))
            if len(window) < k:
                continue
            surprise = min(-poisson_tail(obs, exp_), self._tail_surprise(i, residuals[-1])) - correction
            if surprise > best[0]:
                best = (surprise, k, obs, exp_)
        surprise, k, obs, exp_ = best

        # CUSUM of standardised one-bin residuals (each capped, so one freak bin cannot carry it):
        # evidence that the rise is sustained rather than a single burst.
        z = (y - self.level - self.season[slot]) / max(self.bin_sd, p.min_rel_sd)
        self.cusum = max(0.0, self.cusum + min(z, p.cusum_cap) - p.cusum_k)
        sustained = p.cusum_h <= 0 or self.cusum >= p.cusum_h

        fired = False
        severity: Severity | None = None
        self.since_alert += 1
        if not self.armed and surprise < p.rearm:
            self.armed = True
        warm = self.n >= p.warmup
        if (
            warm
            and self.armed
            and self.since_alert > p.cooldown
            and surprise >= p.fire
            and sustained
            and obs - exp_ >= p.min_excess
        ):
            fired = True
            self.armed = False
            self.since_alert = 0
            severity = severity_for(surprise, (obs + 1) / (exp_ + 1))
        score = squash(surprise, p.fire)
        if not fired:
            score = min(score, 0.4999)

        self._learn(y, slot, residuals)
        self.n += 1
        return SpikeResult(
            score=score,
            fired=fired,
            surprise=surprise,
            scale=k,
            observed=obs,
            expected=exp_,
            severity=severity,
            in_event=not self.armed,
        )

    def _tail_surprise(self, i: int, r: float) -> float:
        """-log10 P(residual >= r) from the series' own recent extremes (peaks over threshold).

        Why: how heavy the tail of "normal" wobble is differs a lot between series (a celebrity brand
        jumps 3x every evening, a utility never does), so a fixed Gaussian or negative-binomial tail
        either floods one series or misses the other. Exceedances of the running 95th percentile are
        close to exponential (the SPOT method of Siffer et al., KDD 2017), which self-calibrates per series.
        """
        u, beta = self.tail_u[i], max(self.tail_beta[i], self.params.min_rel_sd)
        if r <= u:
            return 0.0
        return TAIL_LOG10 + (r - u) / (beta * LOG10)

    def _learn(self, y: float, slot: int, residuals: Sequence[float]) -> None:
        """Update the baseline with clipped residuals so spikes barely move it."""
        p = self.params
        assert self.level is not None
        sd0 = max(self.bin_sd, p.min_rel_sd)
        resid = y - self.level - self.season[slot]
        clipped = max(-p.clip * sd0, min(p.clip * sd0, resid))
        warm_rate = max(p.level_rate, 1.0 / (self.n + 2))
        # Robust sd from the mean absolute clipped residual (mean |r| of a normal is 0.798 sd).
        self.bin_sd += max(p.scale_rate, 1.0 / (self.n + 2)) * (abs(clipped) * 1.2533 - self.bin_sd)
        self.level += warm_rate * clipped
        seen = self.season_seen[slot]
        s_rate = max(p.season_rate, 1.0 / (seen + 2))
        self.season[slot] += s_rate * (1.0 - warm_rate) * clipped
        self.season_seen[slot] = seen + 1
        # Keep the profile centred so the level carries the overall magnitude.
        mean_season = sum(self.season) / len(self.season)
        if abs(mean_season) > 1e-9:
            self.season = [s - mean_season for s in self.season]
            self.level += mean_season
        for i, r in enumerate(residuals):
            # Running 95th percentile (stochastic quantile step) and mean excess above it.
            beta = max(self.tail_beta[i], p.min_rel_sd)
            u = self.tail_u[i]
            self.tail_u[i] += p.quantile_step * beta * ((1.0 - TAIL) if r > u else -TAIL)
            if r > u:
                seen = self.tail_seen[i]
                rate = max(p.tail_rate, 1.0 / (seen + 2))
                excess = min(r - u, p.clip * beta)
                self.tail_beta[i] += rate * (excess - self.tail_beta[i])
                self.tail_seen[i] = seen + 1
