"""Nested leave-one-series-out comparison of spike detectors on NAB (`repmon eval spikes --compare`).

Why nested: a detector and its fire level picked on the same series they are scored on look better than
they are (the shipped detector: 77.3 in-sample, 67.4 on a held-out file). Here every choice — which
detector, its parameters, its fire level — is made on the other series only, and the figure reported is
the sum of held-out-series scores at the configuration chosen without them. Every configuration emits
0/1 alerts (`baselines.alerts_from_evidence`), so "the shipped default threshold" is the alert itself
(0.5): no threshold is fitted after the fact and there is nothing per series to tune.

The inner loop: with 0/1 alerts a configuration's inner leave-one-out score equals its pooled score on
the inner series (nothing is fitted per inner fold), so the inner choice is the configuration with the
best pooled score on the series outside the outer fold. The choice among detectors is in that same
argmax, so the "selected by the protocol" row is honest too.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from monitor.detect import baselines, nab

FIRE_Z = (2.5, 3.0, 3.5, 4.0, 5.0, 6.0, 8.0, 10.0)
FIRE_LOG10 = (2.0, 2.5, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0, 24.0, 32.0)
FIRE_RATIO = (0.8, 0.9, 1.0, 1.1, 1.25, 1.5, 2.0)


@dataclass(frozen=True, slots=True)
class Config:
    """One fully specified detector: evidence parameters plus the fire level of the shared alert rule."""

    detector: str
    params: tuple[tuple[str, object], ...]
    fire: float

    def label(self) -> str:
        inner = ", ".join(f"{k}={v}" for k, v in self.params)
        return f"{self.detector}({inner}{', ' if inner else ''}fire={self.fire:g})"


@dataclass(frozen=True, slots=True)
class Family:
    """A detector with its small parameter grid; `evidence(series, **params)` -> (evidence, gate)."""

    name: str
    evidence: Callable[..., tuple[np.ndarray, np.ndarray | None]]
    grid: Mapping[str, Sequence[object]]
    fires: Sequence[float]
    reference: str = ""

    def param_sets(self) -> Iterable[tuple[tuple[str, object], ...]]:
        keys = list(self.grid)
        for combo in itertools.product(*(self.grid[k] for k in keys)):
            yield tuple(zip(keys, combo, strict=True))


def _on_rows(fn: Callable[..., np.ndarray]) -> Callable[..., tuple[np.ndarray, None]]:
    """Run a grid-based detector and map its evidence back to the series' rows."""

    def run(series: nab.Series, **params: object) -> tuple[np.ndarray, None]:
        grid = baselines.to_grid(series.timestamps, series.values)
        return fn(grid, **params)[grid.rows], None

    return run


_CURRENT: dict[tuple[str, int], tuple[np.ndarray, np.ndarray]] = {}


def _current(series: nab.Series) -> tuple[np.ndarray, np.ndarray]:
    """The shipped detector's evidence, computed once per series (it is pure Python, the slow one)."""
    key = (series.name, len(series.values))
    if key not in _CURRENT:
        _CURRENT[key] = baselines.current_evidence(series.timestamps, series.values)
    return _CURRENT[key]


def _ensemble(series: nab.Series, how: str, glm_fire: float) -> tuple[np.ndarray, None]:
    """Shipped detector and NB GLM, each scaled to its own fire level: "and" needs both, "or" either."""
    cur, gate = _current(series)
    mine = np.where(gate, cur / 2.5, np.minimum(cur / 2.5, 0.99))
    grid = baselines.to_grid(series.timestamps, series.values)
    other = baselines.glm_tail(grid, 12, "negbin")[grid.rows] / glm_fire
    return (np.fmin(mine, other) if how == "and" else np.fmax(mine, other)), None


FAMILIES: tuple[Family, ...] = (
    Family("current", _current, {}, (2.0, 2.25, 2.5, 2.75, 3.0, 3.5), "shipped counts.SpikeDetector"),
    Family(
        "robust_z",
        _on_rows(baselines.robust_z),
        {"smooth": (6,), "profile": ("none",)},
        FIRE_Z,
        "SCORING.md recipe",
    ),
    Family(
        "robust_z_profile",
        _on_rows(baselines.robust_z),
        {"smooth": (3, 6, 12), "profile": ("day", "week")},
        FIRE_Z,
        "log counts, time-of-day/week median",
    ),
    Family(
        "glm",
        _on_rows(baselines.glm_tail),
        {"scale": (3, 12), "family": ("poisson", "negbin")},
        FIRE_LOG10,
        "Poisson/NB, slot means of the past week",
    ),
    Family(
        "windowed_gaussian",
        _on_rows(baselines.windowed_gaussian),
        {"window": (576, 2016, 6400)},
        FIRE_Z,
        "NAB windowedGaussian",
    ),
    Family(
        "relative_entropy", _on_rows(baselines.relative_entropy), {"window": (52,)}, FIRE_LOG10, "Wang et al. 2011"
    ),
    Family(
        "ensemble",
        _ensemble,
        {"how": ("and", "or"), "glm_fire": (8.0, 16.0)},
        FIRE_RATIO,
        "current + NB GLM, each over its fire level",
    ),
    Family(
        "knn_cad",
        _on_rows(baselines.knn_cad),
        {"dim": (19,), "k": (27,)},
        (1.5, 2.0, 2.5, 2.7),
        "Burnaev & Ishimtsev 2016",
    ),
)


@dataclass
class Table:
    """Per configuration and series: raw NAB score S (per profile) of its 0/1 alerts."""

    corpus: Sequence[nab.Series]
    configs: list[Config] = field(default_factory=list)
    raw: dict[str, np.ndarray] = field(default_factory=dict)  # profile -> (n_configs, n_series)


def build_table(
    corpus: Sequence[nab.Series], families: Sequence[Family] = FAMILIES, log: Callable[[str], None] | None = None
) -> Table:
    """Compute each detector's evidence once per parameter set and series, then score every fire level."""
    weights = {
        p: [nab.row_weights(s.timestamps, s.windows, nab.PROFILES[p]) for s in corpus] for p in nab.PROFILES
    }
    table = Table(corpus)
    rows: dict[str, list[list[float]]] = {p: [] for p in nab.PROFILES}
    for fam in families:
        for params in fam.param_sets():
            evidence = [fam.evidence(s, **dict(params)) for s in corpus]
            if log:
                log(f"{fam.name} {dict(params)} done")
            for fire in fam.fires:
                table.configs.append(Config(fam.name, params, fire))
                alerts = [baselines.alerts_from_evidence(ev, fire, gate) for ev, gate in evidence]
                for p, profile in nab.PROFILES.items():
                    rows[p].append(
                        [
                            nab.score_at_threshold([(w, a)], 0.5, profile)[0]
                            for w, a in zip(weights[p], alerts, strict=True)
                        ]
                    )
    table.raw = {p: np.array(r) for p, r in rows.items()}
    return table


def nested_loso(table: Table, profile: str, families: Sequence[str] | None = None) -> dict[str, object]:
    """Held-out-series NAB score with every choice made on the other series, plus the in-sample figure."""
    raw = table.raw[profile]
    pool = [i for i, c in enumerate(table.configs) if families is None or c.detector in families]
    n_windows = [len(s.windows) for s in table.corpus]
    prof = nab.PROFILES[profile]
    held_out, chosen = 0.0, []
    for j in range(len(table.corpus)):
        inner = [i for i in range(len(table.corpus)) if i != j]
        best = max(pool, key=lambda c: raw[c, inner].sum())
        held_out += raw[best, j]
        chosen.append(table.configs[best].label())
    in_best = max(pool, key=lambda c: raw[c].sum())
    total = sum(n_windows)
    return {
        "held_out": nab.normalise(held_out, total, prof),
        "in_sample": nab.normalise(raw[in_best].sum(), total, prof),
        "in_sample_config": table.configs[in_best].label(),
        "chosen_per_fold": chosen,
    }


def compare(table: Table) -> dict[str, dict[str, dict[str, object]]]:
    """{detector or "selected": {profile: nested_loso(...)}}; "selected" chooses among all detectors."""
    names = list(dict.fromkeys(c.detector for c in table.configs))
    out: dict[str, dict[str, dict[str, object]]] = {}
    for name in [*names, "selected"]:
        fams = None if name == "selected" else [name]
        out[name] = {p: nested_loso(table, p, fams) for p in nab.PROFILES}
    return out


def markdown(result: Mapping[str, Mapping[str, Mapping[str, object]]]) -> str:
    """The side-by-side table of docs/detection.md."""
    lines = [
        "| detector | held-out std | held-out low FP | held-out low FN | in-sample std | in-sample config (std) |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in result.items():
        s, fp, fn = r["standard"], r["reward_low_FP_rate"], r["reward_low_FN_rate"]
        lines.append(
            f"| {name} | {s['held_out']:.1f} | {fp['held_out']:.1f} | {fn['held_out']:.1f} "
            f"| {s['in_sample']:.1f} | `{s['in_sample_config']}` |"
        )
    return "\n".join(lines)
