"""The hand-written probe sets, their split, the `repmon eval probes|aspects|language` commands, and
the shipped model with its guard against issue 14's criteria (slow: the real encoder)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner

from models import probes
from models.data import DataError
from monitor.cli import _register_plugins, cli
from monitor.kernel.types import ASPECTS

_register_plugins()  # as `repmon` does at start-up (entry points, built-ins included)


def test_probe_sets_are_big_enough_in_every_language() -> None:
    sentiment = Counter((p.lang, p.kind) for p in probes.load_sentiment_probes())
    aspects = Counter(p.lang for p in probes.load_aspect_probes())
    for lang in probes.LANGS:
        assert sum(sentiment[(lang, kind)] for kind in probes.KINDS) >= 30
        assert all(sentiment[(lang, kind)] >= 10 for kind in probes.KINDS)
        assert aspects[lang] >= 50
    labelled = Counter(a for p in probes.load_aspect_probes() for a in p.aspects)
    assert all(labelled[a] >= 4 * 6 for a in ASPECTS)


def test_split_is_a_stable_third_by_content() -> None:
    texts = [p.text for p in probes.load_sentiment_probes()] + [p.text for p in probes.load_aspect_probes()]
    held = [t for t in texts if probes.split_of(t) == "heldout"]
    assert 0.2 < len(held) / len(texts) < 0.45
    assert all(probes.split_of(t) == probes.split_of(t + "") for t in held)
    assert probes.split_of("Elendig kundeservice!") == probes.split_of("Elendig kundeservice!")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", ":2: not JSON"),
        ('{"lang": "de", "kind": "praise", "text": "gut"}', "'lang'"),
        ('{"lang": "sv", "kind": "rant", "text": "usch"}', "'kind'"),
        ('{"lang": "sv", "kind": "praise", "label": "negative", "text": "bra"}', "'kind'"),
    ],
)
def test_a_bad_sentiment_probe_line_is_named(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "probes.jsonl"
    path.write_text('{"lang": "sv", "kind": "praise", "text": "Tack!"}\n' + line + "\n")
    with pytest.raises(DataError, match=message):
        probes.load_sentiment_probes(path)


def test_a_bad_aspect_probe_line_is_named(tmp_path: Path) -> None:
    path = tmp_path / "aspects.jsonl"
    path.write_text('{"lang": "da", "needs_help": true, "aspects": ["delivery"], "text": "x"}\n')
    with pytest.raises(DataError, match=":1: needs 'needs_help'"):
        probes.load_aspect_probes(path)


def test_eval_probes_reports_both_thirds_and_exits_on_the_criteria() -> None:
    result = CliRunner().invoke(cli, ["eval", "probes", "--scorer", "lexicon", "--json"])
    report = json.loads(result.output)
    assert set(report["splits"]) == {"tune", "heldout"}
    n = sum(c["n"] for split in report["splits"].values() for lang in split.values() for c in lang.values())
    assert n == len(probes.load_sentiment_probes())
    assert result.exit_code == (0 if report["done_when"]["met"] else 1)


def test_eval_probes_with_a_missing_set_says_so_without_a_traceback(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["eval", "probes", "--scorer", "lexicon", "--set", str(tmp_path / "x.jsonl")])
    assert result.exit_code == 1
    assert "no such file" in result.output and "Traceback" not in result.output


def test_eval_aspects_prints_precision_and_recall_per_language_and_aspect() -> None:
    result = CliRunner().invoke(cli, ["eval", "aspects", "--scorer", "lexicon", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    for split in ("tune", "heldout", "all"):
        for lang in probes.LANGS:
            figures = report[split][lang]
            assert set(figures["aspects"]) == set(ASPECTS)
            assert {"precision", "recall", "n_true"} <= set(figures["needs_help"])
    text = CliRunner().invoke(cli, ["eval", "aspects", "--scorer", "lexicon"]).output
    assert "[heldout]" in text and "price_billing" in text


def test_eval_language_measures_short_posts_of_the_validation_split_only(tmp_path: Path) -> None:
    from models.data import in_validation

    rows = [("Tack för hjälpen!", "sv"), ("Tak for hjælpen!", "da"), ("Thanks for the help!", "en")]
    rows += [(f"Rad nummer {i} är här och väldigt lång " * 2, "sv") for i in range(40)]  # > 8 words
    data = tmp_path / "data"
    data.mkdir()
    (data / "x.jsonl").write_text(
        "".join(json.dumps({"text": t, "label": "neutral", "lang": lang}) + "\n" for t, lang in rows)
    )
    expected = sum(1 for t, _ in rows if len(t.split()) <= 8 and in_validation(t))
    result = CliRunner().invoke(cli, ["eval", "language", "--scorer", "lexicon", "--data", str(data), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert sum(c["n"] for c in report.get("validation split", {}).values()) == expected
    assert sum(c["n"] for c in report["probe sets"].values()) == len(probes.probe_posts())


# --------------------------------------------------------------------------- the shipped model (slow)


@pytest.fixture(scope="module")
def shipped(real_checkpoint):
    from models.config import ModelConfig
    from models.scorer import SHIPPED_WEIGHTS, E5Scorer

    if not (SHIPPED_WEIGHTS / "e5_adapter.json").is_file():
        pytest.skip("no shipped weights in models/weights")
    return E5Scorer(ModelConfig(scorer="e5"), checkpoint=real_checkpoint)


@pytest.mark.slow
def test_shipped_model_meets_the_probe_criteria_in_both_thirds(shipped) -> None:
    report = probes.evaluate_sentiment_probes(shipped, probes.load_sentiment_probes())
    assert report["done_when"]["met"], report["failures"]
    assert report["done_when"]["questions_negative"] == 0


@pytest.mark.slow
def test_shipped_model_issue_examples(shipped) -> None:
    from monitor.kernel.types import TextToScore

    texts = [
        "Elendig kundeservice!",
        "Telia-kundeservice er en vits. Fire timer i kø.",
        "What are your opening hours on Saturday?",
        "You charged me twice for my subscription this month",
        "I waited 45 minutes in the phone queue",
    ]
    r = shipped.score([TextToScore(i, t) for i, t in enumerate(texts)])
    assert (r[0].label, r[0].language in ("da", "no")) == ("negative", True)
    assert r[1].label == "negative"
    assert (r[2].label, r[2].language, r[2].needs_help) == ("neutral", "en", False)
    assert max(r[3].aspects, key=r[3].aspects.__getitem__) == "price_billing"
    assert r[4].aspects["availability_wait"] >= 0.5


@pytest.mark.slow
def test_shipped_model_aspects_transfer_to_the_nordic_languages(shipped) -> None:
    report = probes.evaluate_aspect_probes(shipped, probes.load_aspect_probes())
    for lang in probes.LANGS:
        assert report["all"][lang]["aspect_top1_accuracy"] >= 0.6, (lang, report["all"][lang])
        assert report["all"][lang]["needs_help"]["recall"] >= 0.8
