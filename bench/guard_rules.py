"""How often the sentiment guard's rules fire on real posts, and how often they are right.

    nice -n 10 .venv/bin/python bench/guard_rules.py [--data ../shared/data/sentiment/train] [--overrule N]

Only the training side of each shared file (our content-hash validation split excluded, the dev files
never read). For the complaint rule at several thresholds of negative evidence, and for the question
rule: per file, how many rows it fires on and the share of them whose gold label is negative (complaint
rule) or neutral (question rule): the rule's precision on its own. It is not the whole story: where
the encoder already agrees nothing changes, so what decides is how often the rule is right where it
overrules the encoder; that was measured on a scored sample of the same training side (docs/model.md)
and chose the thresholds. Binary review files have no neutral class: they are shown for
the complaint rule only. Needs no model: the rules read only the text.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from models import guard
from models.data import in_validation, is_binary, read_jsonl

THRESHOLDS = (1.0, 1.5, 2.0, 3.0)
SOCIAL = ("da_angrytweets", "sv_emoji", "en_airline")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=Path("../shared/data/sentiment/train"))
    ap.add_argument(
        "--overrule",
        type=int,
        default=0,
        help="Also score N rows per file (guard off) and count "
        "how often each rule is right where it changes the encoder's label.",
    )
    args = ap.parse_args()
    if args.overrule:
        overrule(args.data, args.overrule)
        return
    header = f"{'file':<18} {'rows':>6} " + " ".join(f"{'neg>=' + str(t):>16}" for t in THRESHOLDS)
    print(header + f" {'question rule':>18}")
    pooled = {t: [0, 0] for t in THRESHOLDS} | {"q": [0, 0]}
    for path in sorted(args.data.glob("*.jsonl")):
        rows = [e for e in read_jsonl(path) if not in_validation(e.text)]
        binary = is_binary(rows)
        cells = []
        for t in THRESHOLDS:
            fired = [e for e in rows if _complaint(guard.cues(e.text, e.lang), t)]
            hits = sum(e.label == "negative" for e in fired)
            cells.append(f"{hits:>5}/{len(fired):<5} {hits / max(len(fired), 1):>4.2f}")
            if path.stem in SOCIAL:
                pooled[t][0] += hits
                pooled[t][1] += len(fired)
        q = [e for e in rows if guard.cues(e.text, e.lang).plain_question]
        q_hits = sum(e.label == "neutral" for e in q)
        q_cell = "(binary)" if binary else f"{q_hits:>5}/{len(q):<5} {q_hits / max(len(q), 1):.2f}"
        if path.stem in SOCIAL:
            pooled["q"][0] += q_hits
            pooled["q"][1] += len(q)
        print(f"{path.stem:<18} {len(rows):>6} " + " ".join(f"{c:>16}" for c in cells) + f" {q_cell:>18}")
    cells = [f"{h:>5}/{n:<5} {h / max(n, 1):>4.2f}" for h, n in (pooled[t] for t in THRESHOLDS)]
    h, n = pooled["q"]
    print(
        f"{'social pooled':<18} {'':>6} "
        + " ".join(f"{c:>16}" for c in cells)
        + f" {h:>5}/{n:<5} {h / max(n, 1):.2f}"
    )
    print(
        f"guard: complaint rule at negative >= {guard.COMPLAINT_MIN_NEGATIVE}, floor {guard.COMPLAINT_FLOOR}; "
        f"question rule floor {guard.QUESTION_FLOOR}"
    )


def overrule(data: Path, per_file: int) -> None:
    """Where a rule changes the label of the shipped encoder (guard off), is the new label right?"""
    import random

    import numpy as np

    from models.config import ModelConfig
    from models.scorer import E5Scorer
    from monitor.kernel.types import SENTIMENTS, TextToScore

    rng = random.Random(3)
    rows = []
    for path in sorted(data.glob("*.jsonl")):
        side = [e for e in read_jsonl(path) if not in_validation(e.text)]
        rows += rng.sample(side, min(per_file, len(side)))
    scorer = E5Scorer(ModelConfig(scorer="e5", guard=False))
    results = []
    for start in range(0, len(rows), 256):
        results += scorer.score([TextToScore(i, e.text) for i, e in enumerate(rows[start : start + 256])])
    counts = {"complaint rule": [0, 0], "question rule": [0, 0]}
    for e, r in zip(rows, results, strict=True):
        c = guard.cues(e.text, r.language)
        label = SENTIMENTS[int(np.argmax([r.probabilities[s] for s in SENTIMENTS]))]
        if c.complaint and label != "negative":
            counts["complaint rule"][e.label != "negative"] += 1
        elif c.plain_question and label != "neutral" and not is_binary([e]):
            counts["question rule"][e.label != "neutral"] += 1
    for rule, (right, wrong) in counts.items():
        print(f"{rule}: changes {right + wrong} labels of {len(rows)} rows, right {right}, wrong {wrong}")


def _complaint(c: guard.Cues, threshold: float) -> bool:
    return (
        c.negative >= threshold
        and c.positive <= guard.COMPLAINT_MAX_POSITIVE_SHARE * c.negative
        and c.negative >= guard.COMPLAINT_MIN_DENSITY * c.tokens
    )


if __name__ == "__main__":
    main()
