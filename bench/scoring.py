"""Scoring speed: encoder forward only vs the full e5 scoring path, on the same 2,000 mentions.

    nice -n 10 .venv/bin/python bench/scoring.py [--n 2000] [--repeats 3] [--quantize]
        [--precision auto|fp32|bf16] [--data ../shared/data/sentiment/train] [--weights models/weights]
        [--layers K]

Forward-only = the encoder on pre-tokenised, length-bucketed batches (the floor any scorer pays).
Full path = `E5Scorer.score()` on TextToScore items: tokenising, the same forward pass, py3langid,
all heads, calibration and result objects. Prints medians over repeats, their ratio, and peak RSS.
Texts: an even mix of the four languages from the shared training files (read in place), or the
hand-written probe sentences repeated when the shared data is absent.

--layers K keeps only the encoder's first K layers after loading: the cost of a K-layer distilled
student (models/fulltrain.py) before one is trained. Its scores are meaningless and its peak RSS still
includes loading all 12 layers; only the two speed figures are a student's.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import statistics
import time
from pathlib import Path

import torch

from models import encoder
from models.config import ModelConfig
from models.scorer import E5Scorer
from monitor.kernel.types import TextToScore

FILES = ("da_angrytweets", "sv_emoji", "no_norec", "en_airline")


def sample_texts(data_dir: Path, n: int) -> list[str]:
    rng = random.Random(7)
    if not data_dir.is_dir():
        from models.seeds import PROBES

        return [PROBES[i % len(PROBES)][1] for i in range(n)]
    texts: list[str] = []
    for name in FILES:
        rows = [json.loads(line)["text"] for line in (data_dir / f"{name}.jsonl").open(encoding="utf-8")]
        texts += rng.sample(rows, n // len(FILES))
    rng.shuffle(texts)
    return texts[:n]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--quantize", action="store_true", help="dynamic int8 Linear layers (not the default)")
    ap.add_argument("--precision", choices=("auto", "fp32", "bf16"), default="auto")
    ap.add_argument("--data", type=Path, default=Path("../shared/data/sentiment/train"))
    ap.add_argument("--weights", type=str, default=None)
    ap.add_argument("--layers", type=int, default=None, help="keep the first K layers (student speed)")
    args = ap.parse_args()

    texts = sample_texts(args.data, args.n)
    config = ModelConfig(scorer="e5", quantize=args.quantize, weights_dir=args.weights, precision=args.precision)
    scorer = E5Scorer(config)
    t0 = time.perf_counter()
    runtime = scorer.prepare()
    took = time.perf_counter() - t0
    if args.layers and args.layers < len(runtime.model.encoder.layer):
        runtime.model.encoder.layer = runtime.model.encoder.layer[: args.layers]
        runtime.model.config.num_hidden_layers = args.layers
        print(f"encoder cut to its first {args.layers} layers: speed of a {args.layers}-layer student only")
    print(f"prepare (load, merge, quantise): {took:.1f}s; threads={runtime.threads}, bf16={runtime.bf16}")
    ids = encoder.tokenize(runtime.tokenizer, texts, runtime.max_length)
    batches = [
        encoder.pad_batch([ids[i] for i in b], runtime.tokenizer.pad_token_id)
        for b in encoder.length_buckets([len(x) for x in ids], runtime.max_tokens, 256)
    ]
    print(f"{len(texts)} texts, mean {sum(map(len, ids)) / len(ids):.1f} tokens, {len(batches)} batches")
    scorer.score([TextToScore(i, t) for i, t in enumerate(texts[:32])])  # warm-up

    forward, full = [], []
    items = [TextToScore(i, t) for i, t in enumerate(texts)]
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=runtime.bf16):
            for input_ids, mask in batches:
                runtime.model(input_ids=input_ids, attention_mask=mask)
        forward.append(len(texts) / (time.perf_counter() - t0))
        t0 = time.perf_counter()
        scorer.score(items)
        full.append(len(texts) / (time.perf_counter() - t0))
    f, s = statistics.median(forward), statistics.median(full)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"model {scorer.version}")
    print(f"encoder forward only : {f:8.1f} texts/s (median of {args.repeats}: {[round(x, 1) for x in forward]})")
    print(f"full scoring path    : {s:8.1f} texts/s (median of {args.repeats}: {[round(x, 1) for x in full]})")
    print(f"full / forward       : {s / f:8.1%}")
    print(f"peak RSS             : {rss_mb:8.0f} MB")


if __name__ == "__main__":
    main()
