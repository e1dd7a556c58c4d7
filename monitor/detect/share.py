"""Streaming detector for a rise in the *share* of negative mentions.

Why a share test and not a spike on the negative count alone: a launch buzz multiplies every kind of
mention, so the negative count rises with it although nothing went wrong. Conditioning on the total
(negatives among this window's mentions vs the brand's usual share) pages support only when customers
turn unhappy, however busy the channel is. The tail is beta-binomial: the usual share itself wobbles
from hour to hour, and a plain binomial would page on that wobble whenever volume is high.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from scipy.stats import betabinom, poisson

from monitor.detect.counts import squash
from monitor.kernel.types import Severity


@dataclass(frozen=True, slots=True)
class ShareParams:
    scales: tuple[int, ...] = (1, 3, 12, 36)
    prior_share: float = 0.15  # usual negative share before the brand has history
    prior_weight: float = 50.0  # mentions' worth of confidence in the prior
    memory: float = 2000.0  # mentions' worth of history the baseline share remembers
    concentration: float = 60.0  # beta-binomial concentration: how much the true share wobbles
    warmup_mentions: float = 100.0  # mentions seen before the first alert ...
    warmup_bins: int = 288  # ... or this many bins (a day): a 5-posts-a-day brand must not wait 3 weeks
    fire: float = 4.0  # -log10 tail probability (multiplicity corrected) that fires
    rearm: float = 1.5
    cooldown: int = 72  # bins (6 h at 5-min bins)
    min_negative: int = 5  # never page on fewer negative mentions than this in the window
    min_ratio: float = 1.5  # observed share must be at least this multiple of the usual share
    rate_gate: float = 1.5  # share surprise (-log10) above which the negative *rate* is also consulted
    rate_peak: float = 3.0  # the rate test allows this multiple of the usual rate (busy hours)
    rate_memory_bins: int = 2016  # the usual rate remembers about a week


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
class ShareDetector:
    params: ShareParams = field(default_factory=ShareParams)
    neg_weight: float = 0.0  # exponentially weighted negative mentions
    all_weight: float = 0.0  # exponentially weighted mentions
    seen: float = 0.0
    bins: int = 0  # bins seen (time-based warm-up)
    neg_rate: float | None = None  # usual negatives per bin (EW mean)
    recent: list[tuple[int, int]] = field(default_factory=list)
    since_alert: int = 10**9
    armed: bool = True

    def state(self) -> dict[str, Any]:
        return {
            "v": 1,
            "neg_weight": self.neg_weight,
            "all_weight": self.all_weight,
            "seen": self.seen,
            "bins": self.bins,
            "neg_rate": self.neg_rate,
            "recent": [list(x) for x in self.recent],
            "since_alert": self.since_alert,
            "armed": self.armed,
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any] | None, params: ShareParams | None = None) -> ShareDetector:
        params = params or ShareParams()
        if not state or state.get("v") != 1:
            return cls(params)
        return cls(
            params,
            neg_weight=float(state["neg_weight"]),
            all_weight=float(state["all_weight"]),
            seen=float(state["seen"]),
            bins=int(state.get("bins", 0)),
            neg_rate=None if state.get("neg_rate") is None else float(state["neg_rate"]),
            recent=[(int(a), int(b)) for a, b in state["recent"]],
            since_alert=int(state["since_alert"]),
            armed=bool(state["armed"]),
        )

    def mark_alerted(self) -> None:
        """Enter the after-alert state (quiet until re-armed and cooled down) without a settled alert.

        Why: an open bin that was already alerted on early (`peek`) must start the cooldown when the
        settled pass reaches it, so the same storm is not alerted twice.
        """
        self.armed, self.since_alert = False, 0

    def peek(self, bins: list[tuple[int, int]]) -> tuple[int, ShareResult] | None:
        """(index, result) of the first of these not-yet-settled bins that would fire, judged on a copy.

        Why a copy: the open bins' counts are incomplete (late arrivals, unscored mentions), so they may
        raise an alert early but must never be learnt; the settled pass counts them in full later.
        """
        probe = ShareDetector.from_state(self.state(), self.params)
        for i, (negative, total) in enumerate(bins):
            res = probe.update(negative, total)
            if res.fired:
                return i, res
        return None

    def baseline_share(self) -> float:
        p = self.params
        return (self.neg_weight + p.prior_share * p.prior_weight) / (self.all_weight + p.prior_weight)

    def _rate_surprise(self, negative: int, k: int) -> float:
        """-log10 P(>= negative in k bins) against `rate_peak` x the usual negatives per bin (Poisson).

        Why: when a window holds only the storm (a brand with 5 posts a day gets 10 angry posts in half
        an hour), "10 of 10 negative" is all the share test sees, and the wobble it must allow for keeps
        that near the fire level. That ten negatives arrived at all, at a brand that sees one a day, is
        the evidence. It is only consulted once the share itself is up (`rate_gate`), so a launch buzz
        (more of everything, usual share) never pages on its negative count; and `rate_peak` allows for
        busy hours (daily peaks reach about 3x the mean rate), since the rate has no time-of-day profile.
        """
        assert self.neg_rate is not None
        expected = max(self.neg_rate, 1e-4) * k * self.params.rate_peak
        tail = float(poisson.sf(negative - 1, expected))
        return 300.0 if tail <= 0 else -math.log10(tail)

    def update(self, negative: int, total: int) -> ShareResult:
        """Score one bin's (negative, total) counts, then learn from them."""
        p = self.params
        negative, total = int(negative), int(total)
        if negative < 0 or total < negative:
            raise ValueError(f"need 0 <= negative <= total, got {negative}/{total}")
        base = min(max(self.baseline_share(), 1e-3), 0.999)
        self.recent.append((negative, total))
        leaving = self.recent[: max(len(self.recent) - max(p.scales), 0)]
        del self.recent[: len(leaving)]
        a, b = base * p.concentration, (1 - base) * p.concentration
        correction = math.log10(len(p.scales))
        best = (0.0, p.scales[0], negative, total)
        for k in p.scales:
            window = self.recent[-k:]
            neg = sum(x for x, _ in window)
            tot = sum(t for _, t in window)
            if tot == 0 or neg < p.min_negative or neg / tot < p.min_ratio * base:
                continue
            tail = float(betabinom.sf(neg - 1, tot, a, b))
            surprise = 300.0 if tail <= 0 else -math.log10(tail)
            if surprise >= p.rate_gate and self.neg_rate is not None:
                surprise = max(surprise, self._rate_surprise(neg, k))
            surprise -= correction
            if surprise > best[0]:
                best = (surprise, k, neg, tot)
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

        # Learn the usual share; during an event only slowly, so an incident does not become "usual".
        decay = math.exp(-total / p.memory)
        weight = 1.0 if self.armed else 0.1
        self.neg_weight = self.neg_weight * decay + weight * negative
        self.all_weight = self.all_weight * decay + weight * total
        self.seen += total
        self.bins += 1
        # The usual rate of negatives per bin learns a bin only once it has left the longest window, so
        # a storm's leading edge never raises the rate it is tested against; an incident is not learnt.
        if self.neg_rate is None and self.recent:
            self.neg_rate = sum(x for x, _ in self.recent) / len(self.recent)
        for old_negative, _ in leaving if self.armed else ():
            assert self.neg_rate is not None
            step = max(1.0 / max(self.bins - len(self.recent), 1), 1.0 / p.rate_memory_bins)
            self.neg_rate += step * (old_negative - self.neg_rate)
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
