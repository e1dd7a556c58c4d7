"""`repmon eval sentiment`: score labelled files and report accuracy, macro-F1, per-class F1, confusion.

Contract (stable, consumed by scripts): one JSON object keyed by each path as given,
{"n", "accuracy", "macro_f1", "per_class_f1": {label: f1}, "confusion": [[...]]}. Confusion rows are
true labels, columns predictions, in the order negative, neutral, positive. A file whose labels are
only negative/positive is scored as binary: rows/columns negative, positive, and a neutral prediction
is resolved by comparing the negative and positive probabilities.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from models.data import LABEL_INDEX, is_binary, read_jsonl
from monitor.kernel.types import SENTIMENTS, Scorer, TextToScore

BINARY_LABELS = ("negative", "positive")
CHUNK = 256


def metrics(true: Sequence[str], probs: np.ndarray, binary: bool) -> dict:
    """Figures for one file from true labels and [N, 3] probabilities (SENTIMENTS order)."""
    labels = BINARY_LABELS if binary else SENTIMENTS
    if binary:
        neg, pos = LABEL_INDEX["negative"], LABEL_INDEX["positive"]
        pred = ["negative" if p[neg] >= p[pos] else "positive" for p in probs]
    else:
        pred = [SENTIMENTS[int(np.argmax(p))] for p in probs]
    index = {label: i for i, label in enumerate(labels)}
    confusion = np.zeros((len(labels), len(labels)), dtype=int)
    for t, p in zip(true, pred, strict=True):
        confusion[index[t], index[p]] += 1
    per_class = {}
    for i, label in enumerate(labels):
        tp = confusion[i, i]
        precision = tp / confusion[:, i].sum() if confusion[:, i].sum() else 0.0
        recall = tp / confusion[i].sum() if confusion[i].sum() else 0.0
        per_class[label] = float(2 * precision * recall / (precision + recall)) if precision + recall else 0.0
    n = len(true)
    return {
        "n": n,
        "accuracy": float(np.trace(confusion) / n) if n else 0.0,
        "macro_f1": float(np.mean(list(per_class.values()))),
        "per_class_f1": per_class,
        "confusion": confusion.tolist(),
    }


def score_texts(scorer: Scorer, texts: Sequence[str]) -> np.ndarray:
    probs = np.zeros((len(texts), len(SENTIMENTS)), dtype=np.float64)
    for start in range(0, len(texts), CHUNK):
        chunk = texts[start : start + CHUNK]
        results = scorer.score([TextToScore(mention_id=start + i, text=t) for i, t in enumerate(chunk)])
        for r in results:
            probs[r.mention_id] = [r.probabilities[s] for s in SENTIMENTS]
    return probs


def evaluate_files(paths: Sequence[str], scorer: Scorer | Callable[[], Scorer]) -> dict:
    """Read every file first (a bad file fails before any slow scoring), then score each.

    `scorer` may be a factory, called only once every file has been read, so a typo in a path fails
    before the model is loaded. Which scorer (and which weights: `repmon model train --out` folders are
    compared with the shipped model this way) is the caller's business: the CLI builds it from the
    configuration through `monitor.wiring`, which this stage package must not import.
    """
    data = {path: read_jsonl(path) for path in paths}
    if not isinstance(scorer, Scorer):
        scorer = scorer()
    report = {}
    for path, examples in data.items():
        probs = score_texts(scorer, [e.text for e in examples])
        report[path] = metrics([e.label for e in examples], probs, is_binary(examples))
    return report


def format_table(report: dict) -> str:
    lines = [f"{'file':<50} {'n':>6} {'accuracy':>9} {'macro_f1':>9}"]
    for path, m in report.items():
        lines.append(f"{path:<50} {m['n']:>6} {m['accuracy']:>9.4f} {m['macro_f1']:>9.4f}")
    return "\n".join(lines)
