"""The tokenizer trimmed to the pieces Swedish, Danish, Norwegian and English text can use.

WHY: the e5 tokenizer holds 250k SentencePiece pieces for a hundred languages; loaded by `tokenizers`
it costs ~280 MB of resident memory, more than the encoder itself. Half of the pieces are in scripts
our posts never need as whole pieces (Cyrillic, CJK, Arabic, Devanagari …). We keep every piece made
only of Latin letters (ASCII, Latin-1, Latin Extended-A), digits and punctuation, plus every
single-character piece of any script, so any text still tokenises: Latin-script text into exactly
the same pieces as before (the Unigram best segmentation only uses kept pieces), other scripts into
single characters. The ids change, so the encoder looks its embeddings up through `ids.npy`
(new id -> original id); the model weights are untouched.

The trimmed files live beside the checkpoint (`<checkpoint>/latin/`), written once, atomically.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import tempfile
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

SUBDIR = "latin"
IDS_FILE = "ids.npy"
_PUNCT = r"!-/:-@\[-`{-~\u00a1-\u00bf\u2018\u2019\u201c\u201d\u2013\u2014\u2026\u20ac"
LATIN_PIECE = re.compile(rf"^\u2581?[0-9A-Za-z\u00c0-\u00ff\u0100-\u017f{_PUNCT}]*$")


def keep_piece(piece: str) -> bool:
    """Whether a vocabulary piece survives trimming (Latin-script, or a single character)."""
    return len(piece.lstrip("\u2581")) <= 1 or LATIN_PIECE.match(piece) is not None


def trimmed_ids(tokenizer_json: dict) -> list[int]:
    """Original ids kept, ascending (so the special tokens 0..3 keep their ids)."""
    keep = {i for i, (piece, _score) in enumerate(tokenizer_json["model"]["vocab"]) if keep_piece(piece)}
    added = {token["id"] for token in tokenizer_json.get("added_tokens", [])}
    if any(not 0 <= i < len(tokenizer_json["model"]["vocab"]) for i in added):
        raise ValueError("added tokens outside the vocabulary")
    return sorted(keep | added)


def trim(tokenizer_json: dict) -> tuple[dict, np.ndarray]:
    """(trimmed tokenizer.json, new id -> original id)."""
    if tokenizer_json.get("model", {}).get("type") != "Unigram":
        raise ValueError("only a Unigram (SentencePiece) tokenizer can be trimmed")
    ids = trimmed_ids(tokenizer_json)
    new_of = {old: new for new, old in enumerate(ids)}
    out = json.loads(json.dumps(tokenizer_json))
    vocab = tokenizer_json["model"]["vocab"]
    out["model"]["vocab"] = [vocab[i] for i in ids]
    if out["model"].get("unk_id") is not None:
        out["model"]["unk_id"] = new_of[out["model"]["unk_id"]]
    for token in out.get("added_tokens", []):
        token["id"] = new_of[token["id"]]
    _renumber_post_processor(out.get("post_processor"), new_of)
    return out, np.asarray(ids, dtype=np.int64)


def _renumber_post_processor(node: object, new_of: dict[int, int]) -> None:
    """TemplateProcessing names special tokens with their ids; keep them pointing at the same tokens."""
    if isinstance(node, dict):
        if isinstance(node.get("ids"), list) and all(isinstance(i, int) for i in node["ids"]):
            node["ids"] = [new_of[i] for i in node["ids"]]
        for value in node.values():
            _renumber_post_processor(value, new_of)
    elif isinstance(node, list):
        for value in node:
            _renumber_post_processor(value, new_of)


def ensure_trimmed(checkpoint: Path) -> Path | None:
    """`<checkpoint>/latin` (written on first use); None when it cannot be written (full tokenizer then)."""
    dest = checkpoint / SUBDIR
    if (dest / IDS_FILE).is_file():
        return dest
    source = checkpoint / "tokenizer.json"
    if not source.is_file():
        return None
    try:
        trimmed, ids = trim(json.loads(source.read_text(encoding="utf-8")))
    except ValueError as exc:
        log.info("tokenizer not trimmed (%s)", exc)
        return None
    try:
        tmp = Path(tempfile.mkdtemp(prefix=SUBDIR + ".", dir=checkpoint))
    except OSError as exc:
        log.warning("cannot write the trimmed tokenizer beside %s (%s): using the full one", checkpoint, exc)
        return None
    try:
        (tmp / "tokenizer.json").write_text(json.dumps(trimmed, ensure_ascii=False), encoding="utf-8")
        for name in ("tokenizer_config.json", "special_tokens_map.json"):
            if (checkpoint / name).is_file():
                shutil.copy(checkpoint / name, tmp / name)
        np.save(tmp / IDS_FILE, ids)
        try:
            tmp.rename(dest)
        except OSError:  # another process won the race: theirs is identical
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("tokenizer trimmed to %d pieces in %s", len(ids), dest)
    return dest


def load_ids(trimmed_dir: Path) -> np.ndarray:
    return np.load(trimmed_dir / IDS_FILE)
