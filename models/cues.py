"""Aspect and needs_help evidence from words, for sv/da/no/en, combined with the heads' probabilities.

WHY: the aspect and needs_help heads learnt their labels from English airline complaint reasons only.
On Nordic posts they transfer poorly (the probe sets: almost no aspect reaches 0.5 in sv/da/no, and
`not_resolved` leads everywhere), and "charged twice" is a billing complaint in any language. Keyword
lists per aspect and language (models/lexicon_words.ASPECT_KEYWORDS, matched with the lexicon's
morphology: inflections, compound tails like "telefonkö", "purregebyr") give evidence the heads lack.

Combination (no fitted constants beyond HIT_DECAY, kept from the lexicon scorer): an aspect's word
evidence is 1 - HIT_DECAY**hits, scaled by how complaint-like the post is after the guard,
P(negative) + P(neutral)/2 (praise that mentions the price is no billing complaint), and joined to the
head by noisy-OR, so either source can raise an aspect and neither can lower the other. needs_help
rises to that complaint weight when the post names a concrete aspect, and a plain information question
never needs help.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from functools import cache, lru_cache

import numpy as np

from models import lexicon
from models import lexicon_words as W
from monitor.kernel.textfold import fold, words
from monitor.kernel.types import ASPECTS

HIT_DECAY = 0.4  # 1 hit -> 0.6, 2 -> 0.84 (as the lexicon scorer)
MAX_SUFFIX = 4
MIN_STEM = 4
MIN_TAIL = 4


@cache
def _keywords() -> list[tuple[frozenset[str], frozenset[str]]]:
    """Per aspect: (single folded stems of all four languages, two-word phrases)."""
    out = []
    for aspect in ASPECTS:
        entries = {
            fold(w).replace("_", " ") for lang in lexicon.LANGS for w in W.ASPECT_KEYWORDS[aspect][lang].split()
        }
        out.append((frozenset(e for e in entries if " " not in e), frozenset(e for e in entries if " " in e)))
    return out


@cache
def _stem_table() -> dict[str, tuple[int, ...]]:
    """folded stem or word -> indices of the aspects that list it (single words only)."""
    table: dict[str, set[int]] = {}
    for k, (stems, _) in enumerate(_keywords()):
        for stem in stems:
            table.setdefault(stem, set()).add(k)
    return {stem: tuple(sorted(ks)) for stem, ks in table.items()}


@lru_cache(maxsize=200_000)
def _token_aspects(token: str) -> tuple[int, ...]:
    """Aspects a folded token names: exactly, inflected ("fakturan", "refunded") or as a compound tail
    ("telefonkøen" -> "kø", "purregebyr" -> "gebyr"; first part of 3+ letters, tail of 4+)."""
    table = _stem_table()
    found = set(table.get(token, ()))
    for cut in range(1, MAX_SUFFIX + 1):
        stem = token[:-cut]
        if len(stem) < MIN_STEM:
            break
        found.update(table.get(stem, ()))
    for start in range(3, len(token) - MIN_TAIL + 1):
        found.update(table.get(token[start:], ()))
    return tuple(sorted(found))


def aspect_hits(texts: Sequence[str]) -> np.ndarray:
    """[N, len(ASPECTS)] number of keyword matches per aspect."""
    phrases = [p for _, p in _keywords()]
    out = np.zeros((len(texts), len(ASPECTS)), dtype=np.float64)
    for row, text in enumerate(texts):
        tokens = words(text)
        for token in tokens:
            for k in _token_aspects(token):
                out[row, k] += 1
        pairs = {f"{a} {b}" for a, b in itertools.pairwise(tokens)}
        for k, phrase_set in enumerate(phrases):
            out[row, k] += len(pairs & phrase_set)
    return out


def combine(
    texts: Sequence[str], probs: np.ndarray, head_aspects: np.ndarray, head_needs: np.ndarray, plain: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(aspects [N, 6], needs_help [N]) from the heads plus word evidence gated by how complaint-like."""
    hits = aspect_hits(texts)
    complaint = probs[:, 0] + 0.5 * probs[:, 1]  # negative, plus half of neutral (as the lexicon scorer)
    evidence = (1.0 - HIT_DECAY**hits) * complaint[:, None]
    aspects = 1.0 - (1.0 - head_aspects) * (1.0 - evidence)
    named = hits.sum(1) > 0
    needs = np.where(named, np.maximum(head_needs, complaint), head_needs)
    needs = np.where(plain, np.minimum(needs, 0.05), needs)
    aspects = np.where(plain[:, None], np.minimum(aspects, 0.05), aspects)
    return aspects, needs
