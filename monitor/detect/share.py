"""Streaming detector for a rise in the *share* of negative mentions.

Why a share test and not a spike on the negative count alone: a launch buzz multiplies every kind of
mention, so the negative count rises with it although nothing went wrong. Conditioning on the total
(negatives among this window's mentions vs the brand's usual share) pages support only when customers
turn unhappy, however busy the channel is. The tail is beta-binomial: the usual share itself wobbles
from hour to hour, and a plain binomial would page on that wobble whenever volume is high. How much it
wobbles is learnt per brand and per window length (`_Wobble`): one constant cannot fit a brand with 5
posts a day and one with 50 000, nor a 5-minute and a 3-hour window.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from scipy.stats import betabinom, nbinom, norm, poisson

from monitor.detect.counts import squash
from monitor.detect.share_trend import TrendSpread, bin_z, ramp_z
from monitor.kernel.types import Severity


@dataclass(frozen=True, slots=True)
class ShareParams:
    scales: tuple[int, ...] = (1, 2, 3, 6, 12, 36)
    prior_share: float = 0.15  # usual negative share before the brand has history
    prior_weight: float = 50.0  # mentions' worth of confidence in the prior
    memory: float = 2000.0  # mentions' worth of history the baseline share remembers ...
    memory_min_bins: int = 288  # ... but never less than a day (a 50k/day brand's 2000 mentions are 1 h)
    wobble_prior: float = 1 / 61  # extra share variance / p(1-p) before the brand has history (Beta c=60)
    wobble_prior_weight: float = 100.0  # informative windows' worth of confidence in that prior
    wobble_memory_bins: int = 2016  # the learnt wobble remembers about a week
    wobble_floor: float = 1e-4  # never assume the share is steadier than this
    warmup_mentions: float = 100.0  # mentions seen before the first alert ...
    warmup_bins: int = 288  # ... or this many bins (a day): a 5-posts-a-day brand must not wait 3 weeks
    fire: float = 4.0  # -log10 tail probability (multiplicity corrected) that fires
    rearm: float = 1.5
    cooldown: int = 72  # bins (6 h at 5-min bins)
    min_negative: int = 3  # never page on fewer negative mentions than this in the window
    min_ratio: float = 1.5  # observed share must be at least this multiple of the usual share
    rate_gate: float = 1.5  # share surprise (-log10) above which the negative *rate* is also consulted
    rate_fire: float = 3.0  # the rate test's own fire level (its windows hold distinct authors' negatives)
    rate_min_negative: int = 2  # ... and the fewest negatives (distinct authors) it may page on
    rate_peak: float = 3.0  # the rate test allows this multiple of the usual rate (busy hours)
    rate_usual_max: float = 1.0  # ... and only for windows that usually hold fewer negatives than this
    rate_prior_share: float = 0.3  # before history, assume this share of the brand's posts is negative
    rate_prior_bins: float = 288.0  # bins' worth of confidence in that prior
    rate_memory_bins: int = 2016  # the usual rate remembers about a week
    rate_model: str = "nbinom"  # "nbinom": learnt volume dispersion; "poisson": rate_peak x usual rate
    dispersion_prior: float = 1.0  # relative variance of a window's volume before the brand has history
    dispersion_prior_weight: float = 100.0  # informative windows' worth of confidence in that prior
    trend_scales: tuple[int, ...] = (3, 6)  # ramp tests (`share_trend`) over the last 15 and 30 minutes ...
    trend_usual_min: float = 10.0  # ... consulted where the window usually holds at least this many negatives
    trend_spread_prior: float = 1.0  # variance of a calm window's ramp z before history (independent bins)
    trend_spread_prior_weight: float = 100.0  # windows' worth of confidence in that prior


@dataclass(frozen=True, slots=True)
class ShareResult:
    score: float
    fired: bool
    surprise: float
    scale: int
    negative: int
    total: int
    baseline_share: float
    severity: Severity | None = None
    in_event: bool = False


def share_severity(surprise: float, share: float, base: float, negative: int) -> Severity:
    """Severity from the evidence: how far the share moved (as an odds ratio) and how sure we are.

    Why odds and not the plain ratio share/base: a ratio cannot exceed 1/base, so for a brand whose usual
    share is 30 % even 100 % negatives was only "3.3x" and a storm of 80 % negatives stayed *medium*. The
    odds ratio (0.8/0.2 vs 0.3/0.7 = 9.3) grows without bound as the share nears 1, for low and high
    usual shares alike. The alert has already passed the significance test (`fire`), so above it the
    *size* of the move decides, with a floor on affected customers: high needs >= 8 negatives, critical
    >= 50 and overwhelming evidence.
    """
    share = min(max(share, 1e-6), 1 - 1e-6)
    base = min(max(base, 1e-6), 1 - 1e-6)
    odds_ratio = (share / (1 - share)) / (base / (1 - base))
    if odds_ratio >= 8 and surprise >= 12 and negative >= 50:
        return "critical"
    if odds_ratio >= 4 and negative >= 8:
        return "high"
    if odds_ratio >= 2:
        return "medium"
    return "low"


@dataclass
class _Wobble:
    """How much a brand's share wobbles over a window of k bins, learnt from its own history.

    A window with `tot` mentions whose share moves with relative variance rho (var = rho p(1-p)) has
    E[(neg - tot p)^2 - tot p(1-p)] = tot (tot-1) p(1-p) rho (beta-binomial), so each window gives an
    unbiased estimate of rho. They are averaged with weights (s/(1+s))^2, s = (tot-1) rho: a window of two
    posts says next to nothing about the wobble (its count is mostly sampling noise), a window of
    thousands says one sample's worth. rho is learnt per window length, so a share that wobbles bin to
    bin but is steady over hours gets a tight 3-hour test, one that drifts for hours a loose one. A new
    brand starts from a conservative prior (`wobble_prior`, worth `wobble_prior_weight` windows); each
    window's squared deviation is capped at 16x its expectation so a storm barely widens its own yardstick.
    """

    weighted: float = 0.0  # EW sum of w * rho estimate
    weight: float = 0.0  # EW sum of w

    def rho(self, p: ShareParams) -> float:
        rho = (self.weighted + p.wobble_prior_weight * p.wobble_prior) / (self.weight + p.wobble_prior_weight)
        return min(max(rho, p.wobble_floor), 0.5)

    def learn(self, neg: int, tot: int, base: float, p: ShareParams) -> None:
        if tot < 2:
            return
        var_unit = base * (1 - base)
        rho = self.rho(p)
        expected_sq = tot * var_unit * (1 + (tot - 1) * rho)
        sq = min((neg - tot * base) ** 2, 16 * expected_sq)
        estimate = (sq - tot * var_unit) / (tot * (tot - 1) * var_unit)
        s = (tot - 1) * rho
        w = (s / (1 + s)) ** 2
        decay = math.exp(-1.0 / p.wobble_memory_bins)
        self.weighted = self.weighted * decay + w * estimate
        self.weight = self.weight * decay + w


@dataclass
class _Dispersion:
    """How much a brand's volume per window of k bins varies around its weekly mean (relative variance).

    Why: the negative-rate test (`ShareDetector._rate_surprise`) asks whether this many negatives could
    arrive in k bins at this brand's usual pace. The pace is not constant (evenings, news, bursts), and by
    how much it varies is the brand's own: volume per window is Poisson around a mean that moves with
    relative variance phi, E[(tot - m)^2 - m] = m^2 phi. Same weighted moments as `_Wobble`: a window with
    a fraction of a post expected says next to nothing, a busy one says one sample's worth.
    """

    weighted: float = 0.0
    weight: float = 0.0

    def phi(self, p: ShareParams) -> float:
        phi = (self.weighted + p.dispersion_prior_weight * p.dispersion_prior) / (
            self.weight + p.dispersion_prior_weight
        )
        return min(max(phi, 1e-3), 100.0)

    def learn(self, tot: int, mean: float, p: ShareParams) -> None:
        if mean <= 0:
            return
        phi = self.phi(p)
        sq = min((tot - mean) ** 2, 16 * mean * (1 + mean * phi))
        estimate = (sq - mean) / (mean * mean)
        s = mean * phi
        w = (s / (1 + s)) ** 2
        decay = math.exp(-1.0 / p.rate_memory_bins)
        self.weighted = self.weighted * decay + w * estimate
        self.weight = self.weight * decay + w


@dataclass
class ShareDetector:
    params: ShareParams = field(default_factory=ShareParams)
    neg_weight: float = 0.0  # exponentially weighted negative mentions
    all_weight: float = 0.0  # exponentially weighted mentions
    seen: float = 0.0
    bins: int = 0  # bins seen (time-based warm-up)
    neg_rate: float | None = None  # usual negatives per bin (EW mean, without the prior)
    all_rate: float = 0.0  # usual mentions per bin (EW mean)
    rate_bins: int = 0  # bins the usual rates have learnt
    recent: list[tuple[int, int, bool]] = field(default_factory=list)  # (negative, total, looked usual)
    wobble: list[_Wobble] = field(default_factory=list)
    dispersion: list[_Dispersion] = field(default_factory=list)
    trend: list[TrendSpread] = field(default_factory=list)
    since_alert: int = 10**9
    armed: bool = True

    def __post_init__(self) -> None:
        if len(self.wobble) != len(self.params.scales):
            self.wobble = [_Wobble() for _ in self.params.scales]
        if len(self.dispersion) != len(self.params.scales):
            self.dispersion = [_Dispersion() for _ in self.params.scales]
        if len(self.trend) != len(self.params.trend_scales):
            self.trend = [TrendSpread() for _ in self.params.trend_scales]

    def state(self) -> dict[str, Any]:
        return {
            "v": 2,
            "neg_weight": self.neg_weight,
            "all_weight": self.all_weight,
            "seen": self.seen,
            "bins": self.bins,
            "neg_rate": self.neg_rate,
            "all_rate": self.all_rate,
            "rate_bins": self.rate_bins,
            "recent": [list(x) for x in self.recent],
            "wobble": [[w.weighted, w.weight] for w in self.wobble],
            "dispersion": [[d.weighted, d.weight] for d in self.dispersion],
            "trend": [[t.weighted, t.weight] for t in self.trend],
            "since_alert": self.since_alert,
            "armed": self.armed,
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any] | None, params: ShareParams | None = None) -> ShareDetector:
        """Restore; a version-1 state (before the learnt wobble) keeps its share and rate and learns the rest."""
        params = params or ShareParams()
        if not state or state.get("v") not in (1, 2):
            return cls(params)
        wobble = [_Wobble(float(a), float(b)) for a, b in state.get("wobble", [])]
        dispersion = [_Dispersion(float(a), float(b)) for a, b in state.get("dispersion", [])]
        trend = [TrendSpread(float(a), float(b)) for a, b in state.get("trend", [])]
        neg_rate = None if state.get("neg_rate") is None else float(state["neg_rate"])
        if state["v"] == 1:  # no volume rate yet: derive it from the negative rate and the usual share
            share = (float(state["neg_weight"]) + params.prior_share * params.prior_weight) / (
                float(state["all_weight"]) + params.prior_weight
            )
            all_rate = (neg_rate or 0.0) / max(share, 0.01)
            rate_bins = min(int(state.get("bins", 0)), params.rate_memory_bins)
        else:
            all_rate, rate_bins = float(state["all_rate"]), int(state["rate_bins"])
        return cls(
            params,
            neg_weight=float(state["neg_weight"]),
            all_weight=float(state["all_weight"]),
            seen=float(state["seen"]),
            bins=int(state.get("bins", 0)),
            neg_rate=neg_rate,
            all_rate=all_rate,
            rate_bins=rate_bins,
            recent=[(int(x[0]), int(x[1]), bool(x[2]) if len(x) > 2 else True) for x in state["recent"]],
            wobble=wobble,
            dispersion=dispersion,
            trend=trend,
            since_alert=int(state["since_alert"]),
            armed=bool(state["armed"]),
        )

    def mark_alerted(self) -> None:
        """Enter the after-alert state (quiet until re-armed and cooled down) without a settled alert.

        Why: an open bin that was already alerted on early (`peek`) must start the cooldown when the
        settled pass reaches it, so the same storm is not alerted twice.
        """
        self.armed, self.since_alert = False, 0

    def peek(self, bins: list[tuple[int, int]]) -> list[ShareResult]:
        """Each not-yet-settled bin's result, judged in order on a copy of this detector.

        Why a copy: the open bins' counts are incomplete (late arrivals, unscored mentions), so they may
        raise an alert early but must never be learnt; the settled pass counts them in full later.
        """
        probe = ShareDetector.from_state(self.state(), self.params)
        return [probe.update(negative, total) for negative, total in bins]

    def baseline_share(self) -> float:
        p = self.params
        return (self.neg_weight + p.prior_share * p.prior_weight) / (self.all_weight + p.prior_weight)

    def _base_uncertainty(self) -> float:
        """Relative variance of the estimated usual share itself, added to every window's wobble.

        Why: the usual share is an estimate from a day or so of bins; on a new brand's first hours it is
        a guess, and testing against it as if it were known made the first day page on noise.
        """
        p = self.params
        bins = min(self.bins, 2 * p.memory_min_bins)
        return self.wobble[0].rho(p) / max(bins, 1) + 1.0 / (self.all_weight + p.prior_weight)

    def usual_negatives(self) -> float:
        """Usual negatives per bin, shrunk towards a conservative prior (a share of the brand's volume).

        Why the prior: after one day a 5-posts-a-day brand may have seen no negative at all; an estimate
        of zero would make any three negatives "impossible". The prior assumes `rate_prior_share` of the
        brand's own posts are negative, so it is as conservative for a busy brand as for a quiet one.
        """
        p = self.params
        n = min(self.rate_bins, p.rate_memory_bins)
        prior = p.rate_prior_share * self.all_rate
        learnt = self.neg_rate if self.neg_rate is not None else prior
        return (n * learnt + p.rate_prior_bins * prior) / (n + p.rate_prior_bins)

    def _rate_surprise(self, negative: int, k: int, usual: float, dispersion: _Dispersion) -> float:
        """-log10 P(>= negative in k bins) against `rate_peak` x the usual negatives per bin (Poisson).

        Why: when a window holds only the storm (a brand with 5 posts a day gets 10 angry posts in half
        an hour), "4 of 4 negative" is all the share test sees, and the wobble it must allow for keeps
        that below the fire level. That several negatives arrived at all, at a brand that sees one a day,
        is the evidence. It is only consulted once the share itself is up (`rate_gate`), so a launch buzz
        (more of everything, usual share) never pages on its negative count; only where the window usually
        holds under `rate_usual_max` negatives (where the share test is blind: at a busy brand the count
        moves with volume, which the share test already conditions on); and `rate_peak` allows for busy
        hours (daily peaks reach about 3x the mean rate), since the rate has no time-of-day profile.
        """
        if self.params.rate_model == "nbinom":
            mean = max(usual, 1e-4) * k
            r = 1.0 / dispersion.phi(self.params)
            tail = float(nbinom.sf(negative - 1, r, r / (r + mean)))
        else:
            expected = max(usual, 1e-4) * k * self.params.rate_peak
            tail = float(poisson.sf(negative - 1, expected))
        return 300.0 if tail <= 0 else -math.log10(tail)

    def _trend_surprise(
        self, i: int, base: float, base_rho: float, latest_z: list[float]
    ) -> tuple[float, int, int, int] | None:
        """-log10 tail of the i-th ramp test over the latest bins (`share_trend`), with its window's counts.
        `latest_z`: the z-scores of the latest bins (`bin_z`), newest last.

        Held to the same floors as a flat window (`min_negative`, `min_ratio`), so a ramp never pages on
        fewer negatives, or a smaller rise of the whole window's share, than a flat window could.
        """
        p = self.params
        m = p.trend_scales[i]
        window = [(x[0], x[1]) for x in self.recent[-m:]]
        neg, tot = sum(x[0] for x in window), sum(x[1] for x in window)
        if len(window) < m or tot == 0 or neg < p.min_negative or neg / tot < p.min_ratio * base:
            return None
        z = ramp_z(window, latest_z[-m:], self.wobble[0].rho(p), base_rho)
        if z is None:
            return None
        z /= math.sqrt(self.trend[i].variance(p.trend_spread_prior, p.trend_spread_prior_weight))
        tail = float(norm.sf(z))
        return (300.0 if tail <= 0 else -math.log10(tail)), m, neg, tot

    def update(self, negative: int, total: int) -> ShareResult:
        """Score one bin's (negative, total) counts, then learn from them."""
        p = self.params
        negative, total = int(negative), int(total)
        if negative < 0 or total < negative:
            raise ValueError(f"need 0 <= negative <= total, got {negative}/{total}")
        base = min(max(self.baseline_share(), 1e-3), 0.999)
        usual = self.usual_negatives()
        self.recent.append((negative, total, True))
        del self.recent[: max(len(self.recent) - 2 * max(p.scales), 0)]
        trending = [i for i, m in enumerate(p.trend_scales) if usual * m >= p.trend_usual_min]
        correction = math.log10(len(p.scales) + len(trending))  # Bonferroni over the tests consulted here
        base_rho = self._base_uncertainty()
        best = (0.0, p.scales[0], negative, total)
        for k, wobble, dispersion in zip(p.scales, self.wobble, self.dispersion, strict=True):
            window = self.recent[-k:]
            neg = sum(x[0] for x in window)
            tot = sum(x[1] for x in window)
            if tot == 0 or neg < min(p.min_negative, p.rate_min_negative) or neg / tot < p.min_ratio * base:
                continue
            concentration = 1.0 / min(wobble.rho(p) + base_rho, 0.5) - 1.0
            tail = float(betabinom.sf(neg - 1, tot, base * concentration, (1 - base) * concentration))
            surprise = 300.0 if tail <= 0 else -math.log10(tail)
            if neg < p.min_negative:
                surprise = 0.0  # too few for the share test; only the rate test may speak
            rate = 0.0
            if (
                (surprise >= p.rate_gate or neg < p.min_negative)
                and usual * k < p.rate_usual_max
                and neg >= p.rate_min_negative
            ):
                rate = self._rate_surprise(neg, k, usual, dispersion) - correction
                # on the fire scale: a rate surprise of `rate_fire` counts as much as a share surprise of `fire`
                rate += p.fire - p.rate_fire
            surprise = max(surprise - correction, rate)
            if surprise > best[0]:
                best = (surprise, k, neg, tot)
        if trending:
            latest = [(x[0], x[1]) for x in self.recent[-max(p.trend_scales) :]]
            z = bin_z(latest, base, self.wobble[0].rho(p))
        for i in trending:
            trend = self._trend_surprise(i, base, base_rho, z)
            if trend is not None and trend[0] - correction > best[0]:
                best = (trend[0] - correction, *trend[1:])
        surprise, k, neg, tot = best

        fired = False
        severity: Severity | None = None
        self.since_alert += 1
        if not self.armed and surprise < p.rearm:
            self.armed = True
        warm = self.seen >= p.warmup_mentions or self.bins >= p.warmup_bins
        if warm and self.armed and self.since_alert > p.cooldown and surprise >= p.fire:
            fired, self.armed, self.since_alert = True, False, 0
            severity = share_severity(surprise, neg / tot, base, neg)
        score = squash(surprise, p.fire)
        if not fired:
            score = min(score, 0.4999)
        self.recent[-1] = (negative, total, self.armed)
        if surprise >= p.rearm:  # the whole unusual window, leading edge included, is kept out of the rate
            self.recent[-k:] = [(x[0], x[1], False) for x in self.recent[-k:]]
        self._learn(base)
        return ShareResult(
            score=score,
            fired=fired,
            surprise=surprise,
            scale=k,
            negative=neg,
            total=tot,
            baseline_share=base,
            severity=severity,
            in_event=not self.armed,
        )

    def _learn_trend(self, end: int, base: float) -> None:
        """Learn each ramp test's calm spread from the window that ends at the bin leaving the longest window."""
        p = self.params
        usual = self.usual_negatives()
        rho = self.wobble[0].rho(p)
        latest = [(x[0], x[1]) for x in self.recent[max(end - max(p.trend_scales, default=0), 0) : end]]
        latest_z: list[float] | None = None
        for m, spread in zip(p.trend_scales, self.trend, strict=True):
            window = self.recent[max(end - m, 0) : end]
            if len(window) < m or not all(x[2] for x in window) or usual * m < p.trend_usual_min:
                continue
            latest_z = latest_z or bin_z(latest, base, rho)
            z = ramp_z(latest[-m:], latest_z[-m:], rho, self._base_uncertainty())
            if z is not None:
                spread.learn(z, p.wobble_memory_bins)

    def _learn(self, base: float) -> None:
        """Learn the usual share, its wobble, the volume's dispersion and the usual rates from history whose
        verdict is final, so an incident does not become "usual".

        Why delayed: a storm's leading edge is in the window when the storm is recognised, and a window that
        looks unusual marks all its bins (`update`). A bin is learnt once it has left the longest window
        (no later window can mark it any more), and a window of k bins once its last bin has: usual bins at
        full weight, marked ones not at all for the wobble, dispersion and negative rate, and at a tenth of
        the weight for the share, so a lasting change of the brand's share is still absorbed, slowly.
        `seen` counts learnt mentions (the warm-up). Volume is learnt at once: the rate prior needs it.
        """
        p = self.params
        self.bins += 1
        longest = max(p.scales)
        self.all_rate += max(1.0 / self.bins, 1.0 / p.rate_memory_bins) * (self.recent[-1][1] - self.all_rate)
        if len(self.recent) <= longest:
            return
        end = len(self.recent) - longest  # the bin that has just left the longest window, exclusive end
        old_negative, old_total, usual = self.recent[end - 1]
        decay = math.exp(-min(old_total / p.memory, 1.0 / p.memory_min_bins))
        weight = 1.0 if usual else 0.1
        self.neg_weight = self.neg_weight * decay + weight * old_negative
        self.all_weight = self.all_weight * decay + weight * old_total
        self.seen += old_total
        for k, wobble, dispersion in zip(p.scales, self.wobble, self.dispersion, strict=True):
            window = self.recent[max(end - k, 0) : end]
            if len(window) < k or not all(x[2] for x in window):
                continue
            wobble.learn(sum(x[0] for x in window), sum(x[1] for x in window), base, p)
            if self.bins > k + longest:
                dispersion.learn(sum(x[1] for x in window), self.all_rate * k, p)
        self._learn_trend(end, base)
        if usual:
            self.rate_bins += 1
            step = max(1.0 / self.rate_bins, 1.0 / p.rate_memory_bins)
            self.neg_rate = (self.neg_rate or 0.0) + step * (old_negative - (self.neg_rate or 0.0))
