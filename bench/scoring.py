"""Scoring speed, memory and quality of each encoder runtime, side by side in one run.

    nice -n 10 .venv/bin/python bench/scoring.py [--n 1000] [--repeats 3] [--layers K]
        [--variants torch-bf16,torch-int8,ort-fp32,ort-int8] [--data ../shared/data/sentiment/train]
        [--weights models/weights]

Variants: torch-fp32, torch-bf16 (today's default where the CPU has native bf16), torch-int8 (dynamic
int8 Linear layers), ort-fp32 and ort-int8 (ONNX Runtime; the encoder exported by models/onnx_export.py,
int8 = `onnxruntime.quantization.quantize_dynamic`; needs `pip install '.[onnx]'`). Each variant runs
in a fresh subprocess, so its peak RSS is its own, and the ONNX Runtime ones never import torch.

Per variant: encoder forward only (pre-tokenised, length-bucketed batches: the floor any scorer pays),
full scoring path (`E5Scorer.score()`: tokenising, forward, py3langid, heads, guard, result objects),
medians over repeats, peak RSS, and quality against torch fp32 on the same texts: cosine of the
sentence vectors (min / median) and the fraction of sentiment labels that flip.

--layers K adds the same rows for the encoder's first K layers (the speed of a K-layer distilled
student before one is trained; quality is then measured against torch fp32 cut the same way). Torch
rows of a cut encoder still load all 12 layers first, so their peak RSS is the 12-layer one; ONNX
Runtime rows load only the exported K layers.
Texts: an even mix of the four languages from the shared training files (read in place), or the
hand-written probe sentences repeated when the shared data is absent.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.config import ModelConfig
from models.scorer import SHIPPED_WEIGHTS, E5Scorer
from monitor.kernel.types import TextToScore

FILES = ("da_angrytweets", "sv_emoji", "no_norec", "en_airline")
VARIANTS = ("torch-fp32", "torch-bf16", "torch-int8", "ort-fp32", "ort-int8")
DEFAULT_VARIANTS = "torch-bf16,torch-int8,ort-fp32,ort-int8"


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


# --------------------------------------------------------------------------- one variant (subprocess)


def torch_setup(variant: str, weights: Path, checkpoint: Path, layers: int | None):
    """(scorer, forward(batches), batches) for a torch variant, the encoder cut to `layers`."""
    import torch

    from models import encoder

    precision = {"torch-fp32": "fp32", "torch-bf16": "bf16", "torch-int8": "fp32"}[variant]
    config = ModelConfig(
        scorer="e5", quantize=variant == "torch-int8", weights_dir=str(weights), precision=precision
    )
    scorer = E5Scorer(config, checkpoint=checkpoint)
    runtime = scorer.prepare()
    if layers and layers < len(runtime.model.encoder.layer):
        runtime.model.encoder.layer = runtime.model.encoder.layer[:layers]
        runtime.model.config.num_hidden_layers = layers

    def batches(texts: list[str]):
        ids = encoder.tokenize(runtime.tokenizer, texts, runtime.max_length)
        return [
            encoder.pad_batch([ids[i] for i in b], runtime.tokenizer.pad_token_id)
            for b in encoder.length_buckets([len(x) for x in ids], runtime.max_tokens, 256)
        ]

    def forward(prepared) -> None:
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=runtime.bf16):
            for input_ids, mask in prepared:
                runtime.model(input_ids=input_ids, attention_mask=mask)

    return scorer, batches, forward


def ort_setup(variant: str, weights: Path, checkpoint: Path, onnx_file: Path):
    """The same for an ONNX Runtime variant: forward = embedding lookup + the exported graph."""
    from models.encoding import length_buckets
    from models.onnx_runtime import OrtRuntime

    built: list[OrtRuntime] = []

    def build(ck: Path) -> OrtRuntime:
        built.append(OrtRuntime(ck, weights, onnx_file))
        return built[-1]

    scorer = E5Scorer(ModelConfig(scorer="e5", weights_dir=str(weights)), checkpoint=checkpoint, runtime=build)
    scorer.prepare()
    runtime = built[0]

    def batches(texts: list[str]):
        ids = runtime.token_ids(texts)
        return [[ids[i] for i in b] for b in length_buckets([len(x) for x in ids], runtime.max_tokens, 256)]

    def forward(prepared) -> None:
        for ids in prepared:
            runtime.forward(*runtime.embed(ids))

    return scorer, batches, forward


def run_variant(args: argparse.Namespace) -> None:
    """Worker: time one variant, save its vectors and labels, print one JSON line."""
    texts = json.loads(Path(args.texts).read_text(encoding="utf-8"))
    t0 = time.perf_counter()
    if args.worker.startswith("ort-"):
        scorer, batches, forward = ort_setup(args.worker, args.weights, args.checkpoint, args.onnx)
    else:
        scorer, batches, forward = torch_setup(args.worker, args.weights, args.checkpoint, args.layers)
    prepare_s = time.perf_counter() - t0
    prepared = batches(texts)
    items = [TextToScore(i, t) for i, t in enumerate(texts)]
    scorer.score(items[:32])  # warm-up
    forward_rates, full_rates = [], []
    results = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        forward(prepared)
        forward_rates.append(len(texts) / (time.perf_counter() - t0))
        t0 = time.perf_counter()
        results = scorer.score(items)
        full_rates.append(len(texts) / (time.perf_counter() - t0))
    if not results:  # --repeats 0: the reference only needs its vectors and labels
        results = scorer.score(items)
    np.save(args.save, np.array([r.embedding for r in results], dtype=np.float32))
    Path(args.save).with_suffix(".labels.json").write_text(json.dumps([r.label for r in results]))
    out = {
        "variant": args.worker,
        "layers": args.layers,
        "prepare_s": round(prepare_s, 1),
        "forward": forward_rates,
        "full": full_rates,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "torch_imported": "torch" in sys.modules,
    }
    print("RESULT " + json.dumps(out), flush=True)


# --------------------------------------------------------------------------- the run (parent)


def spawn(args: argparse.Namespace, variant: str, layers: int | None, work: Path, onnx: Path | None) -> dict:
    save = work / f"{variant}-L{layers or 0}.npy"
    worker = "torch-fp32" if variant == "reference" else variant
    cmd = [sys.executable, __file__, "--worker", worker, "--texts", str(work / "texts.json")]
    cmd += ["--weights", str(args.weights), "--checkpoint", str(args.checkpoint), "--save", str(save)]
    cmd += ["--repeats", str(0 if variant == "reference" else args.repeats)]
    if layers:
        cmd += ["--layers", str(layers)]
    if onnx:
        cmd += ["--onnx", str(onnx)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT ")), None)
    if proc.returncode or line is None:
        raise SystemExit(f"{variant} (layers {layers}) failed:\n{proc.stderr[-3000:]}")
    result = json.loads(line[len("RESULT ") :])
    result["vectors"] = np.load(save)
    result["labels"] = json.loads(save.with_suffix(".labels.json").read_text())
    return result


def export(args: argparse.Namespace, layers: int | None, int8: bool) -> Path:
    """The cached ONNX export (made in a subprocess: this process stays small and torch-free)."""
    code = (
        "import sys; from pathlib import Path; from models.onnx_export import ensure_export; "
        "print(ensure_export(Path(sys.argv[1]), Path(sys.argv[2]), layers=int(sys.argv[3]) or None, "
        "int8=sys.argv[4] == '1'))"
    )
    cmd = [sys.executable, "-c", code, str(args.checkpoint), str(args.weights), str(layers or 0), str(int(int8))]
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=root)
    if proc.returncode:
        raise SystemExit(
            f"ONNX export failed (is onnxruntime installed? pip install '.[onnx]'):\n{proc.stderr[-3000:]}"
        )
    return Path(proc.stdout.strip().splitlines()[-1])


def quality(result: dict, reference: dict) -> tuple[float, float, float]:
    """(min cosine, median cosine, fraction of labels flipped) against the reference's vectors."""
    a, b = result["vectors"], reference["vectors"]
    cos = (a * b).sum(1) / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-12)
    flips = np.mean([x != y for x, y in zip(result["labels"], reference["labels"], strict=True)])
    return float(cos.min()), float(np.median(cos)), float(flips)


def report(rows: list[dict], repeats: int) -> None:
    print("\n| variant | layers | forward (texts/s) | full path (texts/s) | peak RSS | cos min / median | flips |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        f, s = statistics.median(r["forward"]), statistics.median(r["full"])
        lo, med, flips = r["quality"]
        print(
            f"| {r['variant']} | {r['layers'] or 12} | {f:.1f} | {s:.1f} | {r['peak_rss_mb']:,.0f} MB"
            f"{'' if r['torch_imported'] else ' (no torch)'} | {lo:.4f} / {med:.5f} | {flips:.1%} |"
        )
    print(f"\nmedians of {repeats}; every repeat:")
    for r in rows:
        fwd = [round(x, 1) for x in r["forward"]]
        full = [round(x, 1) for x in r["full"]]
        print(f"  {r['variant']:10} L{r['layers'] or 12}: prepare {r['prepare_s']}s, forward {fwd}, full {full}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--variants", default=DEFAULT_VARIANTS, help=f"comma-separated, of {', '.join(VARIANTS)}")
    ap.add_argument("--data", type=Path, default=Path("../shared/data/sentiment/train"))
    ap.add_argument("--weights", type=Path, default=SHIPPED_WEIGHTS)
    ap.add_argument("--layers", type=int, default=None, help="also the first K layers (student speed)")
    ap.add_argument("--checkpoint", type=Path, default=None, help="converted encoder (default: prepare it)")
    ap.add_argument("--worker", choices=VARIANTS, help=argparse.SUPPRESS)
    ap.add_argument("--texts", help=argparse.SUPPRESS)
    ap.add_argument("--save", help=argparse.SUPPRESS)
    ap.add_argument("--onnx", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return run_variant(args)

    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown:
        raise SystemExit(f"unknown variants {unknown}; choose from {', '.join(VARIANTS)}")
    from models.convert import ensure_checkpoint

    args.checkpoint = args.checkpoint or ensure_checkpoint()
    texts = sample_texts(args.data, args.n)
    depths = [None] + ([args.layers] if args.layers else [])
    rows = []
    with tempfile.TemporaryDirectory(prefix="repmon-bench-") as tmp:
        work = Path(tmp)
        (work / "texts.json").write_text(json.dumps(texts, ensure_ascii=False), encoding="utf-8")
        print(
            f"{len(texts)} texts; variants {', '.join(variants)}; layers {[d or 12 for d in depths]}", flush=True
        )
        for layers in depths:
            reference = spawn(args, "reference", layers, work, None)
            for variant in variants:
                onnx = export(args, layers, variant == "ort-int8") if variant.startswith("ort-") else None
                row = spawn(args, variant, layers, work, onnx)
                row["quality"] = quality(row, reference)
                rows.append(row)
                print(f"  done {variant} L{layers or 12}", flush=True)
    report(rows, args.repeats)


if __name__ == "__main__":
    main()
