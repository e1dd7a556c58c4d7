"""The torch-free half of the encoder recipe: prefix, length, length buckets, memory-mapped tensors.

WHY a module of its own: the ONNX Runtime path (`models.onnx_runtime`) scores without importing torch
(importing torch + transformers alone is ~240 MB resident), yet must tokenise, bucket and look up the
word embeddings exactly as the torch path does. `models.encoder` re-exports these names.
"""

from __future__ import annotations

import ctypes
import json
import os
import struct
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

PREFIX = "query: "
DEFAULT_MAX_LENGTH = 128


def available_cores() -> int:
    """CPU cores this process may really use (cgroup/affinity aware), for intra-op threads (torch or ORT)."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - non-Linux
        n = os.cpu_count() or 1
    quota = _cgroup_cpu_quota()
    return max(1, min(n, quota) if quota else n)


def _cgroup_cpu_quota() -> int | None:
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()
        if quota != "max":
            return max(1, int(int(quota) / int(period)))
    except (OSError, ValueError):
        pass
    return None


def return_freed_memory_promptly() -> None:
    """Make glibc give large freed blocks back to the system at once (no-op elsewhere).

    WHY: a forward pass allocates and frees activation tensors of a few MB each, of shapes that change
    with every length bucket. glibc's default raises its mmap threshold after such frees, so later ones
    come from the heap, which fragments and never shrinks: resident memory grew ~250-350 MB after the
    first thousand posts and stayed there. With a fixed 128 KB threshold the same work stays ~150 MB
    lower (bench/scoring.py's peak RSS), for a few hundred extra mmap calls per batch.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(_M_MMAP_THRESHOLD, 128 * 1024)
        libc.mallopt(_M_TRIM_THRESHOLD, 128 * 1024)
    except (OSError, AttributeError):  # not glibc
        pass


_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3


# safetensors dtype -> numpy dtype the bytes are read as (BF16 as its raw uint16 bits)
ST_NUMPY = {"BF16": np.uint16, "F16": np.float16, "F32": np.float32}


def safetensors_arrays(file: Path) -> dict[str, tuple[str, np.ndarray]]:
    """name -> (safetensors dtype, copy-on-write memory map) for every tensor; nothing is read until touched."""
    with file.open("rb") as fh:
        (size,) = struct.unpack("<Q", fh.read(8))
        if not 0 < size < 100_000_000:
            raise ValueError(f"{file}: not a safetensors file (header size {size})")
        header = json.loads(fh.read(size))
    header.pop("__metadata__", None)
    base = 8 + size
    out: dict[str, tuple[str, np.ndarray]] = {}
    for name, info in header.items():
        if info["dtype"] not in ST_NUMPY:
            raise ValueError(f"{file}: tensor {name} has unsupported dtype {info['dtype']}")
        np_dtype = ST_NUMPY[info["dtype"]]
        start, end = info["data_offsets"]
        shape = tuple(info["shape"])
        if end == start:
            out[name] = (info["dtype"], np.zeros(shape, dtype=np_dtype))
            continue
        out[name] = (info["dtype"], np.memmap(file, dtype=np_dtype, mode="c", offset=base + start, shape=shape))
    return out


def bf16_to_float32(bits: np.ndarray) -> np.ndarray:
    """bf16 values held as uint16 bits -> float32 (exact: bf16 is the top half of a float32)."""
    return (bits.astype(np.uint32) << 16).view(np.float32)


def length_buckets(lengths: Sequence[int], max_tokens: int = 8192, max_batch: int = 128) -> Iterator[list[int]]:
    """Indices grouped so each batch holds texts of similar length (little padding) under a token budget."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    batch: list[int] = []
    longest = 0
    for i in order:
        longest_if = max(longest, lengths[i])
        if batch and (longest_if * (len(batch) + 1) > max_tokens or len(batch) >= max_batch):
            yield batch
            batch, longest_if = [], lengths[i]
        batch.append(i)
        longest = longest_if
    if batch:
        yield batch
