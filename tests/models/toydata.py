"""Labelled toy rows in the shared data's JSONL shape, for training tests on the tiny random encoder.

Each label draws from its own words (all in the tiny vocabulary), so a few epochs can learn them."""

from __future__ import annotations

import json
import random
from pathlib import Path

WORDS = {"positive": ["good", "hello"], "negative": ["bad", "slow", "wait", "refund"], "neutral": ["world", "hej"]}
THREE = ("negative", "neutral", "positive")
REASONS = ["Late Flight", "Lost Luggage", "Customer Service Issue", "Can't Tell"]


def toy_rows(n: int, lang: str, labels: tuple[str, ...], rng: random.Random, reason: bool = False) -> list[dict]:
    """`n` rows cycling through `labels`; negatives get an airline-style `reason` when asked."""
    rows = []
    for i in range(n):
        label = labels[i % len(labels)]
        words = rng.choices(WORDS[label], k=rng.randint(2, 6))
        row = {"text": " ".join(words) + f" {i}", "label": label, "lang": lang}
        if reason and label == "negative":
            row["reason"] = rng.choice(REASONS)
        rows.append(row)
    return rows


def write_files(root: Path, files: dict[str, list[dict]]) -> None:
    """Write `{relative name: rows}` as `<root>/<name>.jsonl`, creating folders."""
    for name, rows in files.items():
        path = root / f"{name}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
