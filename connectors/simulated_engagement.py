"""Self-exciting engagement for simulated posts: likes, reposts and replies as branching (Hawkes) cascades.

Real engagement is self-exciting: each repost exposes the post to new people, who react in turn, so
counts rise fast and then flatten. We simulate that with the cluster representation of a Hawkes
process: `mu` direct reactions arrive with exponential delays, and each reaction triggers on average
`branching` (< 1) further ones after another exponential delay. The whole cascade is drawn once from
a seed derived from the post, so re-polling at any moment gives a count that only ever grows and is
the same however often or rarely one polls: the input virality detection is built for.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

MAX_EVENTS = 50_000


@dataclass(frozen=True, slots=True)
class CascadeParams:
    mu: float  # expected direct reactions
    branching: float  # expected reactions triggered by each reaction (< 1: the cascade dies out)
    timescale_s: float  # mean delay between a reaction and the ones it triggers


@dataclass(frozen=True, slots=True)
class EngagementParams:
    likes: CascadeParams
    reposts: CascadeParams
    replies: CascadeParams


def simulate_cascade(rng: np.random.Generator, params: CascadeParams) -> np.ndarray:
    """Sorted reaction times in seconds after the post."""
    generation = rng.exponential(params.timescale_s, rng.poisson(params.mu))
    parts = [generation]
    total = generation.size
    while generation.size and total < MAX_EVENTS:
        children = rng.poisson(params.branching, generation.size)
        parents = np.repeat(generation, children)
        generation = parents + rng.exponential(params.timescale_s, parents.size)
        parts.append(generation)
        total += generation.size
    return np.sort(np.concatenate(parts))[:MAX_EVENTS]


@lru_cache(maxsize=8192)
def cascades(seed_key: tuple[int, ...], params: EngagementParams) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The three cascades of one post (cached: re-polls of the same post are frequent)."""
    rng = np.random.default_rng(seed_key)
    return (
        simulate_cascade(rng, params.likes),
        simulate_cascade(rng, params.reposts),
        simulate_cascade(rng, params.replies),
    )


def counts_at(seed_key: tuple[int, ...], params: EngagementParams, age_s: float) -> tuple[int, int, int]:
    """(likes, reposts, replies) seen `age_s` seconds after the post was created."""
    if age_s <= 0:
        return 0, 0, 0
    likes, reposts, replies = cascades(seed_key, params)
    return tuple(int(np.searchsorted(c, age_s, side="right")) for c in (likes, reposts, replies))  # type: ignore[return-value]


def params_for(kind: str, rng: np.random.Generator) -> EngagementParams:
    """Engagement shape by kind of post: the viral storm complaint is far more contagious than the rest."""
    if kind == "viral":
        return EngagementParams(
            CascadeParams(80.0, 0.8, 1200.0), CascadeParams(35.0, 0.85, 900.0), CascadeParams(25.0, 0.6, 900.0)
        )
    base = float(min(rng.lognormal(1.2 if kind == "retelling" else 0.4, 0.9), 60.0))
    branching = float(rng.uniform(0.1, 0.6))
    timescale = float(rng.uniform(600.0, 3600.0))
    reply_share = 0.5 if kind in ("complaint", "retelling") else 0.2
    return EngagementParams(
        CascadeParams(base, branching, timescale),
        CascadeParams(base * 0.2, branching, timescale),
        CascadeParams(base * reply_share, branching * 0.5, timescale),
    )
