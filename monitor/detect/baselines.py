"""Spike detectors compared with the shipped count detector on NAB (`repmon eval spikes --compare`).

Why this module: a detector is only worth shipping if it beats simple, published alternatives under the
same scorer and the same honest protocol (`monitor.detect.compare`). Each function here turns one series
into a per-row *evidence* array (higher = more anomalous, NaN while warming up), computed causally:
row i uses rows <= i only. The alerting rule (fire level, re-arm, cooldown) is shared by all of them
(`alerts_from_evidence`), so the table compares evidence, not alerting tricks.

Vectorised with numpy where the method allows, so a parameter grid over six 16 k-row series runs in
seconds; the relative-entropy detector is a short Python loop by nature (its hypothesis set grows).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy import stats

from monitor.detect.counts import SpikeDetector, SpikeParams
from monitor.detect.series import bin_in_day

BINS_PER_DAY = 288
WARMUP = 288  # no alert on a series' first day, for every detector alike


@dataclass(frozen=True, slots=True)
class Grid:
    """A series on a regular 5-minute grid: `values[k]` is NaN for a missing row; `rows` maps back."""

    values: np.ndarray
    rows: np.ndarray  # grid index of each original row
    first_bin: int  # absolute 5-minute bin number of grid index 0


def to_grid(timestamps: Sequence[str], values: Sequence[float]) -> Grid:
    """Place rows on the absolute 5-minute grid (NAB realTweets has gaps; seasonal lags need real time)."""
    epoch = datetime(1970, 1, 1)
    seconds = [(datetime.fromisoformat(t.strip()) - epoch).total_seconds() for t in timestamps]
    absolute = np.array([int(x // 300) for x in seconds], dtype=np.int64)
    first = int(absolute[0])
    idx = absolute - first
    grid = np.full(int(idx[-1]) + 1, np.nan)
    grid[idx] = np.asarray(values, dtype=float)
    return Grid(grid, idx, first)


def _causal_mean(x: np.ndarray, k: int) -> np.ndarray:
    """Mean of x[t-k+1..t], NaN-aware (missing rows ignored), NaN until k rows exist."""
    out = np.full(len(x), np.nan)
    if len(x) < k:
        return out
    win = sliding_window_view(x, k)
    with np.errstate(invalid="ignore"), _quiet():
        out[k - 1 :] = np.nanmean(win, axis=1)
    return out


def _lagged(x: np.ndarray, lags: np.ndarray) -> np.ndarray:
    """Matrix [t, j] = x[t - lags[j]] (NaN where t - lag < 0)."""
    n = len(x)
    t = np.arange(n)[:, None] - lags[None, :]
    out = np.where(t >= 0, x[np.clip(t, 0, n - 1)], np.nan)
    return out


class _quiet:
    """Silence numpy's all-NaN-slice warnings (warm-up rows are NaN by design)."""

    def __enter__(self) -> None:
        import warnings

        self._ctx = warnings.catch_warnings()
        self._ctx.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, *exc: object) -> None:
        self._ctx.__exit__(*exc)


def _profile_lags(kind: str) -> np.ndarray:
    """Lags (in bins) whose values form the seasonal baseline of one bin: ±30 min of the same time of day
    on the previous 7 days ("day"), or of the same time of the week on the previous 4 weeks ("week")."""
    around = np.arange(-6, 6)
    if kind == "day":
        periods = np.arange(1, 8) * BINS_PER_DAY
    elif kind == "week":
        periods = np.arange(1, 5) * 7 * BINS_PER_DAY
    else:
        raise ValueError(f"unknown profile {kind!r}")
    return (periods[:, None] + around[None, :]).ravel()


# --------------------------------------------------------------------------- the detectors


def current_evidence(timestamps: Sequence[str], values: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """The shipped streaming count detector (`counts.SpikeDetector`): surprise, and where it may fire
    (sustained CUSUM and enough excess counts); its own alert rule is reproduced by the shared one."""
    params = SpikeParams()
    det = SpikeDetector(params)
    ev = np.empty(len(values))
    gate = np.zeros(len(values), dtype=bool)
    for i, (t, v) in enumerate(zip(timestamps, values, strict=True)):
        r = det.update(v, bin_in_day(t))
        ev[i] = r.surprise
        gate[i] = det.cusum >= params.cusum_h and r.observed - r.expected >= params.min_excess
    return ev, gate


def robust_z(grid: Grid, smooth: int, profile: str) -> np.ndarray:
    """Robust z of log counts: the smoothed residual against a seasonal median, standardised by the median
    and MAD of the previous two days' residuals (SCORING.md's reference recipe, plus a profile).

    profile "none" is the plain recipe; "day" subtracts the median of the same time of day over the past
    week; "week" the same time of week over the past four weeks (the day profile until four weeks exist).
    """
    x = np.log1p(grid.values)
    if profile == "none":
        resid = x
    else:
        with _quiet():
            base = np.nanmedian(_lagged(x, _profile_lags("day")), axis=1)
            if profile == "week":
                week = np.nanmedian(_lagged(x, _profile_lags("week")), axis=1)
                have = np.sum(~np.isnan(_lagged(x, _profile_lags("week"))), axis=1) >= 36
                base = np.where(have, week, base)
        resid = x - base
    s = _causal_mean(resid, smooth)
    hist = 576
    z = np.full(len(x), np.nan)
    if len(s) > hist:
        past = sliding_window_view(s[:-1], hist)  # rows t-hist .. t-1 for t = hist ..
        with _quiet():
            med = np.nanmedian(past, axis=1)
            mad = np.nanmedian(np.abs(past - med[:, None]), axis=1)
        z[hist:] = (s[hist:] - med) / np.maximum(1.4826 * mad, 0.05)
    return z


def glm_tail(grid: Grid, scale: int, family: str) -> np.ndarray:
    """Poisson / negative-binomial GLM baseline: log mu = time-of-day effect, refitted causally each bin
    on the previous week (with a saturated slot factor the MLE is the slot mean, so the fit is closed form);
    evidence = -log10 upper tail of the count summed over `scale` bins. The NB dispersion comes from the
    same 84 values by the method of moments."""
    c = grid.values
    lagged = _lagged(c, _profile_lags("day"))
    with _quiet():
        mu = np.nanmean(lagged, axis=1)
        var = np.nanvar(lagged, axis=1)
    mu_sum = _causal_mean(mu, scale) * scale
    obs_sum = np.round(_causal_mean(c, scale) * scale)
    mu_sum = np.maximum(mu_sum, 0.1)
    if family == "poisson":
        p = stats.poisson.sf(obs_sum - 1, mu_sum)
    else:
        # var = mu + mu^2 / r for one bin; a sum of `scale` bins keeps r * scale (independent bins).
        excess = np.maximum(var - mu, 1e-6)
        r = np.clip(mu**2 / excess, 0.5, 1e6) * scale
        p = stats.nbinom.sf(obs_sum - 1, r, r / (r + mu_sum))
    with np.errstate(divide="ignore", invalid="ignore"):
        ev = -np.log10(np.maximum(p, 1e-300))
    ev[np.isnan(mu_sum) | np.isnan(obs_sum)] = np.nan
    return ev


def windowed_gaussian(grid: Grid, window: int) -> np.ndarray:
    """NAB's windowed Gaussian: z of the value against the mean and sd of the previous `window` rows."""
    x = grid.values
    z = np.full(len(x), np.nan)
    if len(x) <= window:
        return z
    past = sliding_window_view(x[:-1], window)
    with _quiet():
        mean = np.nanmean(past, axis=1)
        sd = np.nanstd(past, axis=1)
    z[window:] = (x[window:] - mean) / np.maximum(sd, 1e-6)
    return z


def relative_entropy(grid: Grid, window: int = 52, n_bins: int = 5, c_th: int = 1) -> np.ndarray:
    """Relative-entropy detector (Wang et al., "Statistical techniques for online anomaly detection in
    data centers", IM 2011), as in NAB: the histogram of the last `window` log counts is compared with every
    stored hypothesis; evidence = -log10 chi2 tail of 2W*KL to the closest hypothesis that has been seen
    more than `c_th` times (a window unlike any recurring one is anomalous). Bin edges span the previous
    two days' range (causal, where NAB used the file's min/max)."""
    x = np.log1p(grid.values)
    ev = np.full(len(x), np.nan)
    hyps: list[np.ndarray] = []
    counts: list[int] = []
    dof = n_bins - 1
    for t in range(max(window, 576), len(x)):
        cur = x[t - window + 1 : t + 1]
        cur = cur[~np.isnan(cur)]
        ref = x[t - 576 : t - window + 1]
        ref = ref[~np.isnan(ref)]
        if len(cur) < window // 2 or len(ref) < 10:
            continue
        lo, hi = float(ref.min()), float(ref.max())
        edges = np.linspace(lo, hi if hi > lo else lo + 1.0, n_bins + 1)
        hist = np.histogram(np.clip(cur, lo, edges[-1]), bins=edges)[0].astype(float)
        p_hat = (hist + 1e-3) / (hist.sum() + 1e-3 * n_bins)
        if not hyps:
            hyps.append(p_hat)
            counts.append(1)
            continue
        h = np.array(hyps)
        kl = np.sum(p_hat * np.log(p_hat / h), axis=1)
        g = 2 * window * kl
        best = int(np.argmin(g))
        recurring = np.array(counts) > c_th
        g_rec = float(np.min(g[recurring])) if recurring.any() else math.inf
        ev[t] = -math.log10(max(float(stats.chi2.sf(g_rec, dof)), 1e-300)) if math.isfinite(g_rec) else 300.0
        if stats.chi2.sf(g[best], dof) > 0.01:
            counts[best] += 1
        else:
            hyps.append(p_hat)
            counts.append(1)
            if len(hyps) > 200:  # forget the least-used hypothesis, so the loop stays bounded
                drop = int(np.argmin(counts))
                del hyps[drop], counts[drop]
    return ev


def knn_cad(grid: Grid, dim: int = 19, k: int = 27, train: int = 576, calib: int = 576) -> np.ndarray:
    """KNN-CAD (Burnaev & Ishimtsev, "Conformalized density- and distance-based anomaly detection in
    time-series data", 2016): non-conformity of the last `dim` log counts = sum of distances to its `k`
    nearest neighbours among the `train` embeddings before it; evidence = -log10 of the conformal p-value
    against the previous `calib` non-conformity scores (at most log10(calib + 1))."""
    x = np.log1p(grid.values)
    x = np.where(np.isnan(x), np.nan, x)
    # Missing rows are filled with the previous value, so embeddings stay defined across gaps.
    filled = x.copy()
    for i in range(1, len(filled)):
        if np.isnan(filled[i]):
            filled[i] = filled[i - 1]
    filled = np.nan_to_num(filled)
    n = len(filled)
    ev = np.full(n, np.nan)
    if n < dim + train + calib:
        return ev
    emb = sliding_window_view(filled, dim)  # emb[j] ends at row j + dim - 1
    alpha = np.full(n, np.nan)
    start = train  # first embedding index with `train` embeddings before it
    chunk = 256
    for a in range(start, len(emb), chunk):
        b = min(a + chunk, len(emb))
        q = emb[a:b]  # (m, dim)
        ref = sliding_window_view(emb, (train, dim))[a - train : b - train, 0]  # (m, train, dim)
        d = np.sqrt(np.sum((ref - q[:, None, :]) ** 2, axis=2))
        alpha[a + dim - 1 : b + dim - 1] = np.sum(np.partition(d, k, axis=1)[:, :k], axis=1)
    for t in range(start + dim - 1 + calib, n):
        past = alpha[t - calib : t]
        ge = int(np.sum(past >= alpha[t]))
        ev[t] = -math.log10((ge + 1) / (calib + 1))
    return ev


# --------------------------------------------------------------------------- the shared alert rule


def alerts_from_evidence(
    evidence: np.ndarray,
    fire: float,
    gate: np.ndarray | None = None,
    rearm: float = 0.8,
    cooldown: int = BINS_PER_DAY,
    warmup: int = WARMUP,
) -> np.ndarray:
    """0/1 per row: fire when the evidence reaches `fire` (and the gate allows), then stay quiet until it
    falls below `rearm * fire` and `cooldown` rows have passed. Why one rule for all: NAB charges every
    alerting row, so each detector must say one event once; giving them all the same rule isolates the
    quality of the evidence. With fire 2.5 it reproduces the shipped detector's alerts exactly."""
    out = np.zeros(len(evidence))
    since = 10**9
    armed = True
    ev = np.nan_to_num(evidence, nan=-np.inf)
    allowed = np.ones(len(ev), dtype=bool) if gate is None else gate
    for i in range(len(ev)):
        since += 1
        e = ev[i]
        if not armed and e < rearm * fire:
            armed = True
        if i >= warmup and armed and since > cooldown and e >= fire and allowed[i]:
            out[i] = 1.0
            armed = False
            since = 0
    return out
