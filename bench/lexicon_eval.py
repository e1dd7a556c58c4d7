"""Measure the lexicon scorer on the shared sentiment training files (read in place, never copied).

Each file is split deterministically by a hash of the text: 80% "tune" (used to choose ALPHA and
NEUTRAL_BIAS by grid search), 20% "check" (reported). Three-class files are scored on macro-F1 over
negative/neutral/positive; binary files (no neutral class) on macro-F1 over negative/positive, taking
the larger of the two probabilities (a tie counts as positive). Language identification accuracy is
reported against each row's `lang`. The scorer sees no language hint, as with untagged posts.

    nice -n 10 .venv/bin/python bench/lexicon_eval.py [--data ../shared/data/sentiment/train] [--grid]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import time
from collections import Counter
from pathlib import Path

from sklearn.metrics import f1_score

from models.lexicon import ALPHA, NEUTRAL_BIAS, Evidence, detect_language, probabilities, sentiment_evidence

BINARY = {"sv_reviews.jsonl", "en_scandisent_mt.jsonl"}


def is_check(text: str) -> bool:
    return hashlib.sha1(text.encode()).digest()[0] % 5 == 0


def load(path: Path) -> list[tuple[str, str, str, Evidence, bool]]:
    rows = []
    for line in path.open(encoding="utf-8"):
        item = json.loads(line)
        lang = detect_language(item["text"], None)
        rows.append(
            (item["label"], item["lang"], lang, sentiment_evidence(item["text"], lang), is_check(item["text"]))
        )
    return rows


def predict(ev: Evidence, binary: bool, alpha: float, bias: float) -> str:
    p = probabilities(ev, alpha, bias)
    if binary:
        return "negative" if p["negative"] > p["positive"] else "positive"
    return max(p, key=p.__getitem__)


def macro_f1(rows, binary: bool, alpha: float, bias: float) -> float:
    labels = ["negative", "positive"] if binary else ["negative", "neutral", "positive"]
    gold = [r[0] for r in rows]
    pred = [predict(r[3], binary, alpha, bias) for r in rows]
    return float(f1_score(gold, pred, labels=labels, average="macro", zero_division=0))


def log_loss(rows, alpha: float, bias: float) -> float:
    return -sum(math.log(max(probabilities(r[3], alpha, bias)[r[0]], 1e-9)) for r in rows) / len(rows)


# en_airline complaint reasons that correspond to one of our aspects (the others are left out).
REASON_TO_ASPECT = {
    "longlines": "availability_wait",
    "Flight Attendant Complaints": "staff_attitude",
    "Late Flight": "product_delivery_fault",
    "Cancelled Flight": "product_delivery_fault",
    "Lost Luggage": "product_delivery_fault",
    "Damaged Luggage": "product_delivery_fault",
}


def aspect_check(path: Path) -> None:
    """Top aspect vs the annotated complaint reason, on negative airline tweets with a mappable reason."""
    from models.lexicon import LexiconScorer
    from monitor.kernel.types import TextToScore

    rows = [json.loads(line) for line in path.open(encoding="utf-8")]
    rows = [r for r in rows if r["label"] == "negative" and r.get("reason") in REASON_TO_ASPECT]
    results = LexiconScorer().score([TextToScore(i, r["text"]) for i, r in enumerate(rows)])
    per: dict[str, list[int]] = {}
    for row, result in zip(rows, results, strict=True):
        want = REASON_TO_ASPECT[row["reason"]]
        top = max(result.aspects, key=result.aspects.__getitem__)
        found = result.aspects[top] > 0
        per.setdefault(want, [0, 0, 0])
        per[want][0] += 1
        per[want][1] += found and top == want
        per[want][2] += not found
    print(f"\naspects on {path.name} (negative rows with a mappable reason)")
    print(f"{'aspect':24} {'rows':>5} {'top=gold':>9} {'no aspect':>10}")
    for aspect, (n, hit, none) in sorted(per.items()):
        print(f"{aspect:24} {n:5d} {hit / n:9.3f} {none / n:10.3f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default="../shared/data/sentiment/train")
    parser.add_argument("--grid", action="store_true", help="search ALPHA/NEUTRAL_BIAS on the tune split")
    parser.add_argument("--aspects", action="store_true", help="also check aspects on en_airline reasons")
    args = parser.parse_args()
    started = time.perf_counter()
    files = {p.name: load(p) for p in sorted(Path(args.data).glob("*.jsonl"))}
    print(f"loaded and scored {sum(map(len, files.values()))} rows in {time.perf_counter() - started:.1f}s")

    alpha, bias = ALPHA, NEUTRAL_BIAS
    if args.grid:
        # The label depends only on the threshold bias/alpha; alpha alone sets how confident the
        # probabilities are. So: threshold for macro-F1, then alpha for log-loss (calibration).
        three = {n: [r for r in rows if not r[4]] for n, rows in files.items() if n not in BINARY}
        best_t = max(
            (sum(macro_f1(rows, False, 1.0, t) for rows in three.values()) / len(three), t)
            for t in (0.3, 0.5, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.4, 1.7, 2.0)
        )
        best_a = min(
            (sum(log_loss(rows, a, a * best_t[1]) for rows in three.values()) / len(three), a)
            for a in (0.3, 0.5, 0.7, 0.9, 1.1, 1.4, 1.8, 2.4, 3.0)
        )
        print(
            f"tune split: threshold {best_t[1]} (mean 3-class macro-F1 {best_t[0]:.3f}), "
            f"alpha {best_a[1]} (mean log-loss {best_a[0]:.3f})"
        )
        alpha, bias = best_a[1], round(best_a[1] * best_t[1], 3)

    print(f"\nALPHA={alpha} NEUTRAL_BIAS={bias}")
    print(
        f"{'file':28} {'task':8} {'rows':>6} {'check':>6} {'F1 check':>9} {'F1 all':>7} "
        f"{'majority':>9} {'langid':>7}"
    )
    for name, rows in files.items():
        binary = name in BINARY
        check = [r for r in rows if r[4]]
        scored = [r for r in rows if not binary or r[0] != "neutral"]
        majority = Counter(r[0] for r in scored).most_common(1)[0][0]
        labels = ["negative", "positive"] if binary else ["negative", "neutral", "positive"]
        base = f1_score(
            [r[0] for r in scored], [majority] * len(scored), labels=labels, average="macro", zero_division=0
        )
        langid = sum(r[1] == r[2] for r in rows) / len(rows)
        print(
            f"{name:28} {'binary' if binary else '3-class':8} {len(rows):6d} {len(check):6d} "
            f"{macro_f1(check, binary, alpha, bias):9.3f} {macro_f1(scored, binary, alpha, bias):7.3f} "
            f"{base:9.3f} {langid:7.3f}"
        )

    airline = Path(args.data) / "en_airline.jsonl"
    if args.aspects and airline.exists():
        aspect_check(airline)


if __name__ == "__main__":
    main()
