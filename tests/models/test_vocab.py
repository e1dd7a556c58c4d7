"""The trimmed tokenizer (models.vocab) and the memory-mapped embedding table (models.encoder)."""

from __future__ import annotations

import copy
import json

import pytest
import torch
from tokenizers import Tokenizer, pre_tokenizers, processors
from tokenizers.models import Unigram

from models import encoder, vocab

PIECES = [
    ("<s>", 0.0),
    ("<pad>", 0.0),
    ("</s>", 0.0),
    ("<unk>", 0.0),
    ("▁", -3.0),
    ("▁привет", -2.0),  # Cyrillic word: dropped
    ("▁hej", -2.0),
    ("▁kundeservice", -2.0),
    ("▁elendig", -2.0),
    ("!", -2.0),
    ("п", -5.0),
    ("р", -5.0),
    ("и", -5.0),
    ("в", -5.0),
    ("е", -5.0),
    ("т", -5.0),
    ("ри", -4.0),  # Cyrillic pair: dropped
    ("ø", -5.0),
    ("▁blåbærsyltetøj", -2.0),
    ("😂", -5.0),
    ("<mask>", 0.0),
]


def _tokenizer_json() -> dict:
    tok = Tokenizer(Unigram(PIECES, unk_id=3, byte_fallback=False))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[("<s>", 0), ("</s>", 2)]
    )
    tok.add_special_tokens(["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
    return json.loads(tok.to_str())


def test_keeps_latin_pieces_and_single_characters_of_any_script() -> None:
    assert vocab.keep_piece("▁blåbærsyltetøj") and vocab.keep_piece("▁kundeservice") and vocab.keep_piece("!")
    assert vocab.keep_piece("п") and vocab.keep_piece("▁п") and vocab.keep_piece("😂")
    assert not vocab.keep_piece("▁привет") and not vocab.keep_piece("ри") and not vocab.keep_piece("▁日本")


def test_trimmed_tokenizer_gives_the_same_pieces_for_latin_text() -> None:
    full_json = _tokenizer_json()
    trimmed_json, ids = vocab.trim(full_json)
    full, trimmed = Tokenizer.from_str(json.dumps(full_json)), Tokenizer.from_str(json.dumps(trimmed_json))
    assert len(ids) == len(PIECES) - 2 and list(ids[:4]) == [0, 1, 2, 3]  # specials keep their ids
    for text in ["hej elendig kundeservice!", "blåbærsyltetøj 😂"]:
        a, b = full.encode(text), trimmed.encode(text)
        assert [int(ids[i]) for i in b.ids] == a.ids  # mapped back: identical original ids
        assert b.ids[0] == 0 and b.ids[-1] == 2  # <s> ... </s> from the renumbered post-processor
    cyrillic = trimmed.encode("привет")
    assert 3 not in cyrillic.ids  # no unknowns: spelled with kept single characters
    assert "".join(cyrillic.tokens[1:-1]).replace("▁", "") == "привет"
    mask_new = trimmed_json["added_tokens"][-1]["id"]
    assert trimmed_json["added_tokens"][-1]["content"] == "<mask>" and ids[mask_new] == len(PIECES) - 1


def test_trim_refuses_a_non_unigram_tokenizer() -> None:
    with pytest.raises(ValueError, match="Unigram"):
        vocab.trim({"model": {"type": "BPE", "vocab": {}}})


def test_ensure_trimmed_writes_once_and_is_reused(tmp_path) -> None:
    (tmp_path / "tokenizer.json").write_text(json.dumps(_tokenizer_json()))
    first = vocab.ensure_trimmed(tmp_path)
    assert first == tmp_path / "latin" and (first / "tokenizer.json").is_file()
    stamp = (first / "ids.npy").stat().st_mtime_ns
    assert vocab.ensure_trimmed(tmp_path) == first and (first / "ids.npy").stat().st_mtime_ns == stamp
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("latin.")] == []  # no temp dir left


def test_trimmed_encoder_equals_the_full_one(tiny_checkpoint) -> None:
    tok_t, trimmed = encoder.load_encoder(tiny_checkpoint)
    tok_f, full = encoder.load_encoder(tiny_checkpoint, trim=False)
    texts = ["hello world", "hej bad refund wait", "fish"]
    outs = []
    for tok, model in ((tok_t, trimmed), (tok_f, full)):
        ids = encoder.tokenize(tok, texts, 32)
        input_ids, mask = encoder.pad_batch(ids, tok.pad_token_id)
        with torch.inference_mode():
            outs.append(encoder.mean_pool(model(input_ids=input_ids, attention_mask=mask).last_hidden_state, mask))
    torch.testing.assert_close(outs[0], outs[1])


def test_the_mapped_table_is_never_copied(tiny_checkpoint) -> None:
    _, model = encoder.load_encoder(tiny_checkpoint)
    emb = model.embeddings.word_embeddings
    assert isinstance(emb, encoder.MappedEmbedding)
    assert "embeddings.word_embeddings.weight" not in model.state_dict()
    clone = copy.deepcopy(model)  # what dynamic quantisation does without inplace=True
    assert clone.embeddings.word_embeddings._table.data_ptr() == emb._table.data_ptr()


def test_student_builds_only_its_layers(tiny_checkpoint) -> None:
    _, model = encoder.load_encoder(tiny_checkpoint, layers=1)
    assert len(model.encoder.layer) == 1 and model.config.num_hidden_layers == 1
    with pytest.raises(ValueError, match="student"):
        encoder.load_encoder(tiny_checkpoint, layers=99)


@pytest.mark.slow
def test_real_tokenizer_trim_is_lossless_for_nordic_and_english(real_checkpoint) -> None:
    from models.seeds import PROBES

    tok_t, _ = encoder.load_encoder(real_checkpoint)
    tok_f, _ = encoder.load_encoder(real_checkpoint, trim=False)
    ids = vocab.load_ids(real_checkpoint / vocab.SUBDIR)
    assert 100_000 < len(ids) < 160_000  # roughly half of the 250k pieces
    texts = [t for _, t, *_ in PROBES] + ["Blåbærsyltetøj, smørrebrød og «kø» – 45 min… €12,50 😡 @Telia #fail"]
    for a, b in zip(encoder.tokenize(tok_f, texts), encoder.tokenize(tok_t, texts), strict=True):
        assert [int(ids[i]) for i in b] == a
