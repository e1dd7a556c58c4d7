"""The Numenta Anomaly Benchmark scorer, re-implemented from NAB's rules (nab/sweeper.py, optimizer.py).

Why our own: the published NAB code is Python 2-era and pulls in a large dependency tree, and the rules
are small and exact (see ../shared/data/nab/SCORING.md): a window per labelled anomaly, a probationary
period that is not scored, a scaled sigmoid that rewards early detections and charges every
false-positive row, one threshold per detector and profile optimised over the whole corpus, and
normalisation between the null detector (0) and the perfect one (100).
"""

from __future__ import annotations

import bisect
import csv
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Profile:
    a_tp: float
    a_fp: float
    a_fn: float


PROFILES: dict[str, Profile] = {
    "standard": Profile(a_tp=1.0, a_fp=0.11, a_fn=1.0),
    "reward_low_FP_rate": Profile(a_tp=1.0, a_fp=0.22, a_fn=1.0),
    "reward_low_FN_rate": Profile(a_tp=1.0, a_fp=0.11, a_fn=2.0),
}


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def scaled_sigmoid(y: float) -> float:
    """NAB's σ_s: +0.987 well before a window's end, 0 at it, -1 from three widths after."""
    return -1.0 if y > 3.0 else 2.0 * sigmoid(-5.0 * y) - 1.0


MAX_TP = scaled_sigmoid(-1.0)


def probationary_length(n_rows: int) -> int:
    return int(min(math.floor(0.15 * n_rows), 0.15 * 5000))


@dataclass(frozen=True, slots=True)
class FileWeights:
    """Per scorable row: its weight under one profile and its window (-1 outside every window)."""

    rows: list[int]  # row indices (probation removed)
    weights: list[float]
    window: list[int]
    n_windows: int  # windows with at least one scorable row


def row_weights(timestamps: Sequence[str], windows: Sequence[tuple[str, str]], profile: Profile) -> FileWeights:
    """Weight of a detection at each row (`Sweeper.calcSweepScore`), probation removed."""
    bounds = []
    for start, end in windows:
        left = bisect.bisect_left(timestamps, _strip(start))
        right = bisect.bisect_right(timestamps, _strip(end)) - 1
        if right >= left:
            bounds.append((left, right))
    bounds.sort()
    probation = probationary_length(len(timestamps))
    rows, weights, window_of = [], [], []
    current = -1  # index into bounds of the window we are in
    nxt = 0
    prev_right: int | None = None
    prev_width = 0
    counted: set[int] = set()
    for i in range(len(timestamps)):
        if nxt < len(bounds) and i == bounds[nxt][0]:
            current, nxt = nxt, nxt + 1
        if current >= 0:
            left, right = bounds[current]
            width = right - left + 1
            w = scaled_sigmoid(-(right - i + 1) / width) * profile.a_tp / MAX_TP
            win = current
        else:
            u = -1.0 if prev_right is None else scaled_sigmoid(abs(prev_right - i) / max(prev_width - 1, 1))
            w = u * profile.a_fp
            win = -1
        if i >= probation:
            rows.append(i)
            weights.append(w)
            window_of.append(win)
            if win >= 0:
                counted.add(win)
        if current >= 0 and i == bounds[current][1]:
            prev_right = i
            prev_width = bounds[current][1] - bounds[current][0] + 1
            current = -1
    # Renumber windows that have scorable rows 0..k-1 (windows inside probation are not counted).
    remap = {w: k for k, w in enumerate(sorted(counted))}
    return FileWeights(rows, weights, [remap.get(w, -1) for w in window_of], len(counted))


def _strip(ts: str) -> str:
    return ts.split(".")[0]


def score_at_threshold(
    files: Sequence[tuple[FileWeights, Sequence[float]]], threshold: float, profile: Profile
) -> tuple[float, int, int]:
    """Corpus score S, windows hit and FP rows at one threshold."""
    total, hits, fps = 0.0, 0, 0
    for fw, scores in files:
        best: dict[int, float] = {}
        for row, w, win in zip(fw.rows, fw.weights, fw.window, strict=True):
            if scores[row] < threshold:
                continue
            if win < 0:
                total += w
                fps += 1
            else:
                best[win] = max(best.get(win, -math.inf), w)
        total += sum(best.values()) - profile.a_fn * (fw.n_windows - len(best))
        hits += len(best)
    return total, hits, fps


def optimise_threshold(
    files: Sequence[tuple[FileWeights, Sequence[float]]], profile: Profile
) -> tuple[float, float]:
    """(threshold, S) maximising the pooled score: sweep downward through every distinct score value."""
    events = []  # (score, file index, weight, window)
    n_windows = 0
    for f, (fw, scores) in enumerate(files):
        n_windows += fw.n_windows
        for row, w, win in zip(fw.rows, fw.weights, fw.window, strict=True):
            events.append((scores[row], f, w, win))
    events.sort(key=lambda e: -e[0])
    s = -profile.a_fn * n_windows  # threshold 1.1: nothing detected
    best_s, best_t = s, 1.1
    window_best: dict[tuple[int, int], float] = {}
    i = 0
    while i < len(events):
        t = events[i][0]
        while i < len(events) and events[i][0] == t:
            _, f, w, win = events[i]
            if win < 0:
                s += w
            else:
                key = (f, win)
                old = window_best.get(key)
                if old is None:
                    s += w + profile.a_fn
                    window_best[key] = w
                elif w > old:
                    s += w - old
                    window_best[key] = w
            i += 1
        if s > best_s:
            best_s, best_t = s, t
    return best_t, best_s


def normalise(s: float, n_windows: int, profile: Profile) -> float:
    perfect = n_windows * profile.a_tp
    null = -profile.a_fn * n_windows
    return 100.0 * (s - null) / (perfect - null)


# --------------------------------------------------------------------------- corpus handling


@dataclass(frozen=True, slots=True)
class Series:
    name: str  # key in windows.json, e.g. "realTweets/Twitter_volume_AAPL.csv"
    timestamps: list[str]
    values: list[float]
    windows: list[tuple[str, str]]


def read_series_csv(path: Path) -> tuple[list[str], list[float]]:
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if reader.fieldnames is None or not {"timestamp", "value"} <= set(reader.fieldnames):
            raise ValueError(f"{path}: expected columns timestamp,value; got {reader.fieldnames}")
        ts, vals = [], []
        for line, row in enumerate(reader, start=2):
            try:
                vals.append(float(row["value"]))
            except ValueError as exc:
                raise ValueError(f"{path}:{line}: bad value {row['value']!r}") from exc
            ts.append(row["timestamp"].strip())
    return ts, vals


def load_corpus(nab_dir: Path) -> list[Series]:
    """Series listed in `windows.json` whose data file exists under `nab_dir`, sorted by name."""
    windows_path = nab_dir / "windows.json"
    if not windows_path.is_file():
        raise FileNotFoundError(f"{windows_path} not found (NAB windows file)")
    windows: Mapping[str, list[list[str]]] = json.loads(windows_path.read_text(encoding="utf-8"))
    out = []
    for name in sorted(windows):
        path = nab_dir / name
        if not path.is_file():
            continue
        ts, vals = read_series_csv(path)
        out.append(Series(name, ts, vals, [(a, b) for a, b in windows[name]]))
    if not out:
        raise FileNotFoundError(f"no series of {windows_path} found under {nab_dir}")
    return out


def evaluate(
    corpus: Sequence[Series], scores: Mapping[str, Sequence[float]], profiles: Sequence[str] = tuple(PROFILES)
) -> dict[str, dict[str, float]]:
    """NAB score per profile, each with its own corpus-wide optimised threshold."""
    out: dict[str, dict[str, float]] = {}
    n_windows = sum(len(s.windows) for s in corpus)
    for name in profiles:
        profile = PROFILES[name]
        files = [(row_weights(s.timestamps, s.windows, profile), scores[s.name]) for s in corpus]
        threshold, s = optimise_threshold(files, profile)
        _, hits, fps = score_at_threshold(files, threshold, profile)
        out[name] = {
            "score": normalise(s, n_windows, profile),
            "raw": s,
            "threshold": threshold,
            "windows": n_windows,
            "windows_hit": hits,
            "fp_rows": fps,
        }
    return out


def run_detector(
    corpus: Sequence[Series], detector: Callable[[Series], Sequence[float]]
) -> dict[str, list[float]]:
    return {s.name: list(detector(s)) for s in corpus}


def leave_one_file_out(
    corpus: Sequence[Series], scores: Mapping[str, Sequence[float]], profile_name: str = "standard"
) -> float:
    """NAB score when each file is scored at the threshold optimised on the *other* files.

    Why: the corpus threshold is itself fitted on the labels; this shows how much of the score
    survives on a series the threshold never saw (the hidden-series situation).
    """
    profile = PROFILES[profile_name]
    files = [(row_weights(s.timestamps, s.windows, profile), scores[s.name]) for s in corpus]
    total = 0.0
    for i in range(len(files)):
        threshold, _ = optimise_threshold([f for j, f in enumerate(files) if j != i], profile)
        total += score_at_threshold([files[i]], threshold, profile)[0]
    return normalise(total, sum(len(s.windows) for s in corpus), profile)


def at_fixed_threshold(
    corpus: Sequence[Series],
    scores: Mapping[str, Sequence[float]],
    threshold: float = 0.5,
    profile_name: str = "standard",
) -> float:
    """NAB score at a threshold chosen without the labels (the detector's own alert level, 0.5).

    Why: the corpus-optimised threshold is fitted on the labels; at 0.5 every alert the detector
    raised counts and nothing is fitted, so this figure carries no threshold over-fitting at all.
    """
    profile = PROFILES[profile_name]
    files = [(row_weights(s.timestamps, s.windows, profile), scores[s.name]) for s in corpus]
    total, _, _ = score_at_threshold(files, threshold, profile)
    return normalise(total, sum(len(s.windows) for s in corpus), profile)
