"""Early prediction of a single post's final reach (reposts).

Two layers, because neither alone is enough:

* SEISMIC (Zhao et al., KDD 2015): a self-exciting point process whose memory kernel is the human
  reaction-time distribution (constant for 5 minutes, then power-law decay). From the reposts seen so
  far and each reposter's follower count it estimates the post's infectiousness p_t (reposts per
  follower exposure), the exposures still to come, and the final size; p_t * n* >= 1 means supercritical.
  It needs no training, but its raw numbers are biased early on.
* A calibration learnt from data (`virality_params.json`, fitted by `monitor.detect.virality_fit`): a
  ridge regression of log final size on log features (observed reposts, SEISMIC estimate,
  infectiousness, the author's followers, recent velocity), with its residual spread, per observation
  horizon. P(final >= N) comes from that log-normal predictive distribution, so any threshold works.
* Who will cross a *given* size (the alert question) is ranked better by logistic models fitted
  directly for a ladder of thresholds (`exceed_features`: the author's followers, reposts so far, the
  reposters' reach, first-repost latency, acceleration) than by the regression mean, whose fit is
  dominated by the many cascades that stay tiny (repeated 5-fold CV on auspol: AUC 0.82 vs 0.79 at
  10 min for >= 20 reposts). P(final >= N) interpolates the ladder's logits in log N; outside the
  ladder (thresholds with too few positives to fit) the log-normal regression answers.
* When follower counts are unknown (many sources do not give them), the Szabo-Huberman log-linear
  model (log final = a + b log observed, per horizon) takes over.

Sizes are counted in reposts: events after the original post.
"""

from __future__ import annotations

import bisect
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

THETA = 0.242  # power-law exponent of the reaction-time kernel (SEISMIC)
S0 = 300.0  # seconds of constant kernel before the power-law decay
C0 = 6.49e-4  # kernel height per second, so that the kernel integrates to 1
MAX_FINAL = 1e7  # cap for supercritical estimates
PARAMS_RESOURCE = "virality_params.json"


@dataclass(frozen=True, slots=True)
class Prediction:
    observed: int  # reposts seen up to the horizon
    predicted_final: float  # calibrated estimate of final reposts (>= observed)
    p_exceed: float  # P(final reposts >= threshold)
    infectiousness: float | None  # SEISMIC p_t (None without follower counts)
    seismic_final: float | None  # raw SEISMIC estimate (inf when supercritical)
    supercritical: bool
    method: str  # "seismic+calibration" or "szabo-huberman"


def kernel_cdf(s: float) -> float:
    """Share of a post's eventual reactions that happen within s seconds of it being seen."""
    if s <= 0:
        return 0.0
    if s <= S0:
        return C0 * s
    return min(C0 * S0 + C0 * S0 / THETA * (1.0 - (s / S0) ** (-THETA)), 1.0)


@dataclass(frozen=True, slots=True)
class Seismic:
    reposts: int
    exposures: float  # sum of follower counts weighted by the share of reactions already due
    future_exposures: float  # follower exposures still to come
    infectiousness: float
    final: float  # inf when supercritical
    supercritical: bool


def seismic(times: Sequence[float], followers: Sequence[float], horizon: float, n_star: float) -> Seismic:
    """SEISMIC estimate from events with time <= horizon (times sorted, index 0 = the post itself)."""
    exposures = 0.0
    future = 0.0
    reposts = 0
    for i, (t, n) in enumerate(zip(times, followers, strict=True)):
        if t > horizon:
            break
        if i > 0:
            reposts += 1
        n = max(float(n), 1.0)
        done = kernel_cdf(horizon - t)
        exposures += n * done
        future += n * (1.0 - done)
    p = reposts / exposures if exposures > 0 else 0.0
    branching = p * n_star
    if branching >= 1.0:
        return Seismic(reposts, exposures, future, p, math.inf, True)
    final = reposts + p * future / (1.0 - branching)
    return Seismic(reposts, exposures, future, p, final, False)


def _normal_sf(z: float) -> float:
    return 0.5 * math.erfc(z / math.sqrt(2.0))


@cache
def load_params() -> dict[str, Any]:
    """The calibration shipped with the package (learnt from data; see virality_fit)."""
    text = resources.files("monitor.detect").joinpath(PARAMS_RESOURCE).read_text(encoding="utf-8")
    params: dict[str, Any] = json.loads(text)
    return params


def _nearest(models: list[dict[str, Any]], horizon: float) -> dict[str, Any]:
    """The model fitted at the horizon closest to `horizon` on a log scale."""
    hs = [m["horizon"] for m in models]
    i = bisect.bisect_left(hs, horizon)
    candidates = [j for j in (i - 1, i) if 0 <= j < len(hs)]
    return min((models[j] for j in candidates), key=lambda m: abs(math.log(m["horizon"] / max(horizon, 1.0))))


def features(
    times: Sequence[float], followers: Sequence[float] | None, horizon: float, n_star: float
) -> tuple[list[float], Seismic | None]:
    """Log features of a cascade observed up to `horizon`; the first is the intercept."""
    seen = [t for t in times if t <= horizon]
    reposts = max(len(seen) - 1, 0)
    recent = sum(1 for t in seen[1:] if t > horizon / 2)
    base = [1.0, math.log1p(reposts), math.log1p(recent)]
    if followers is None:
        return base, None
    est = seismic(times, followers, horizon, n_star)
    final = min(est.final, MAX_FINAL)
    reposter_followers = [max(float(n), 1.0) for n in followers[1 : len(seen)]]
    mean_log_reposter = (
        sum(math.log(n) for n in reposter_followers) / len(reposter_followers) if reposter_followers else 0.0
    )
    first_latency = seen[1] if len(seen) > 1 else 2.0 * horizon
    extra = [
        math.log1p(sum(max(float(n), 0.0) for n in followers[: len(seen)])),  # exposure so far
        math.log1p(first_latency),
        math.log1p(final),
        # Expected direct reposts still to come (SEISMIC's numerator): finite even when the cascade
        # looks supercritical early on, so big cascades extrapolate instead of hitting the cap.
        math.log1p(est.reposts + est.infectiousness * est.future_exposures),
        math.log(max(est.infectiousness * n_star, 1e-4)),
        math.log1p(max(float(followers[0]), 0.0)) if followers else 0.0,
        mean_log_reposter,
        math.log1p(est.future_exposures) - math.log1p(est.exposures + est.future_exposures),
    ]
    return base + extra, est


def exceed_features(times: Sequence[float], followers: Sequence[float], horizon: float) -> list[float]:
    """Raw (unstandardised) features of the exceedance models; needs follower counts.

    Why these: early on most cascades have no repost at all, so the author's audience carries most of
    the signal; the reposters' combined and largest audience say how far the post already reaches, the
    first-repost latency and the late-vs-early repost ratio say whether it is still accelerating.
    """
    seen = sum(1 for t in times if t <= horizon)
    reposts = max(seen - 1, 0)
    reposter = [max(float(n), 1.0) for n in followers[1:seen]]
    early = sum(1 for t in times[1:seen] if t <= horizon / 2)
    first = times[1] if reposts else 2.0 * horizon
    return [
        math.log1p(max(float(followers[0]), 0.0)) if followers else 0.0,
        math.log1p(reposts),
        math.log1p(sum(reposter)),
        math.log1p(max(reposter)) if reposter else 0.0,
        math.log1p(first),
        math.log1p(reposts - early) - math.log1p(early),
        1.0 if reposts else 0.0,
    ]


def exceed_probability(model: dict[str, Any], raw: Sequence[float], threshold: float) -> float | None:
    """P(final >= threshold) from the ladder of logistic models; None outside the ladder.

    The logit is interpolated linearly in log threshold between the two nearest fitted thresholds, and
    the ladder's probabilities are made non-increasing in the threshold first (a bigger size can never
    be more likely than a smaller one, whatever the separately fitted models say).
    """
    ladder = model["thresholds"]
    if not ladder or not ladder[0] <= threshold <= ladder[-1]:
        return None
    x = [1.0] + [(v - m) / s for v, m, s in zip(raw, model["mean"], model["sd"], strict=True)]
    logits = [sum(c * v for c, v in zip(coef, x, strict=True)) for coef in model["coef"]]
    for i in range(1, len(logits)):
        logits[i] = min(logits[i], logits[i - 1])
    i = bisect.bisect_left(ladder, threshold)
    if ladder[i] == threshold:
        z = logits[i]
    else:
        lo, hi = ladder[i - 1], ladder[i]
        w = math.log(threshold / lo) / math.log(hi / lo)
        z = (1.0 - w) * logits[i - 1] + w * logits[i]
    return 1.0 / (1.0 + math.exp(-max(min(z, 50.0), -50.0)))


def predict(
    times: Sequence[float],
    followers: Sequence[float] | None,
    horizon: float,
    threshold: float,
    params: dict[str, Any] | None = None,
) -> Prediction:
    """Predict final reposts of one cascade from its events up to `horizon` (times sorted ascending)."""
    params = params or load_params()
    if followers is not None and any(n is None for n in followers):
        followers = None
    kind = "seismic" if followers is not None else "sh"
    model = _nearest(params[kind], horizon)
    x, est = features(times, followers, horizon, params["n_star"])
    observed = max(sum(1 for t in times if t <= horizon) - 1, 0)
    mu = sum(c * v for c, v in zip(model["coef"], x, strict=True))  # log1p(final reposts)
    sigma = model["sigma"]
    predicted = max(math.expm1(mu), float(observed))
    p_exceed = _normal_sf((math.log1p(threshold - 0.5) - mu) / sigma)
    if followers is not None and params.get("exceed"):
        laddered = exceed_probability(
            _nearest(params["exceed"], horizon), exceed_features(times, followers, horizon), threshold
        )
        p_exceed = p_exceed if laddered is None else laddered
    if observed >= threshold:
        p_exceed = 1.0
    return Prediction(
        observed=observed,
        predicted_final=predicted,
        p_exceed=p_exceed,
        infectiousness=est.infectiousness if est else None,
        seismic_final=est.final if est else None,
        supercritical=est.supercritical if est else False,
        method="seismic+calibration" if est else "szabo-huberman",
    )


def predict_from_counts(
    age_seconds: Sequence[float],
    reposts: Sequence[int],
    author_followers: int | None,
    threshold: float,
    params: dict[str, Any] | None = None,
) -> Prediction:
    """Predict from engagement snapshots (cumulative repost counts at post ages), as stored data has them.

    Snapshots do not say who reposted, so each repost increment becomes events spread evenly over the
    interval in which it happened; reposters' followers are unknown, so SEISMIC is run with the typical
    reposter (the fitted n*) only when the author's followers are known, else Szabo-Huberman.
    """
    params = params or load_params()
    pairs = sorted((float(a), max(int(r), 0)) for a, r in zip(age_seconds, reposts, strict=True) if a >= 0)
    if not pairs:
        raise ValueError("need at least one snapshot")
    horizon = pairs[-1][0]
    times: list[float] = [0.0]
    prev_age, prev_count = 0.0, 0
    for age, count in pairs:
        new = max(count - prev_count, 0)
        for j in range(new):
            times.append(prev_age + (age - prev_age) * (j + 1) / (new + 1))
        prev_age, prev_count = age, max(count, prev_count)
    followers: list[float] | None = None
    if author_followers is not None:
        followers = [float(author_followers)] + [float(params["n_star"])] * (len(times) - 1)
    return predict(times, followers, horizon, threshold, params)
