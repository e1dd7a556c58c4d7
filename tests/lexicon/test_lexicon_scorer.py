"""The lexicon scorer: sentiment with negation in four languages, language, needs_help and aspects."""

from __future__ import annotations

import json
import math

import pytest

from models.lexicon import LexiconScorer
from monitor.kernel import plugins
from monitor.kernel.langid import identify
from monitor.kernel.types import ASPECTS, Scorer, TextToScore

SCORER = LexiconScorer()


def score(text: str, hint: str | None = None):
    return SCORER.score([TextToScore(1, text, hint)])[0]


def test_registered_and_conforms_to_protocol() -> None:
    assert plugins.load("scorers", "lexicon") is LexiconScorer
    assert isinstance(SCORER, Scorer)
    assert SCORER.version.startswith("lexicon-3.")


def test_batch_keeps_order_ids_and_valid_probabilities() -> None:
    texts = ["Telia är bäst!", "Telenor er elendig", "Telia opens a store", "😡😡"]
    results = SCORER.score([TextToScore(i * 10, t) for i, t in enumerate(texts)])
    assert [r.mention_id for r in results] == [0, 10, 20, 30]
    for r in results:
        assert set(r.probabilities) == {"negative", "neutral", "positive"}
        assert math.isclose(sum(r.probabilities.values()), 1.0, rel_tol=1e-9)
        assert r.label == max(r.probabilities, key=r.probabilities.__getitem__)
        assert set(r.aspects) == set(ASPECTS)
        assert all(0.0 <= p <= 1.0 for p in r.aspects.values())
        assert r.model_version == SCORER.version
    assert SCORER.score([]) == []


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("Stort tack till Telia, jättebra service idag! 🙌", "positive"),
        ("Telias kundtjänst är helt värdelös, jag är så besviken", "negative"),
        ("Telia öppnar en ny butik i Luleå", "neutral"),
        ("Kæmpe ros til TDC, super hurtig hjælp", "positive"),
        ("Elendig kundeservice hos Telia, jeg er virkelig skuffet", "negative"),
        ("Telenor er kjempebra, veldig fornøyd", "positive"),
        ("Forferdelig service, jeg er så lei av Telenor", "negative"),
        ("Thanks Telia, great support as always", "positive"),
        ("Worst customer service ever, totally useless", "negative"),
        ("Telia reports quarterly results on Tuesday", "neutral"),
    ],
)
def test_sentiment_in_four_languages(text: str, label: str) -> None:
    assert score(text).label == label


@pytest.mark.parametrize(
    ("negated", "plain"),
    [
        ("Kundtjänsten var inte bra", "Kundtjänsten var bra"),
        ("Kundeservicen var ikke god", "Kundeservicen var god"),
        ("Kundeservicen var ikkje god", "Kundeservicen var god"),
        ("The support was not good", "The support was good"),
    ],
)
def test_negation_flips_positive_words(negated: str, plain: str) -> None:
    assert score(plain).label == "positive"
    assert score(negated).label == "negative"


def test_negated_negative_is_not_negative() -> None:
    assert score("Telia was not bad at all").label != "negative"
    assert score("Det var inte dåligt").label != "negative"


def test_intensifiers_and_intensifying_compounds_raise_confidence() -> None:
    assert score("Telia är jättebra").probabilities["positive"] > score("Telia är bra").probabilities["positive"]
    assert score("very bad service").probabilities["negative"] > score("bad service").probabilities["negative"]


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("Varför svarar ingen på min fråga, jag har väntat i en timme", "sv"),
        ("Hvorfor svarer I ikke? Jeg har ventet i en time og intet er sket", "da"),
        ("Hvorfor svarer dere ikke? Jeg har ventet i en time og ingenting har skjedd", "no"),
        ("Why is nobody answering, I have been waiting for an hour", "en"),
        ("Warum antwortet niemand", "other"),
    ],
)
def test_language_identification(text: str, lang: str) -> None:
    assert score(text).language == lang


def test_language_hint_wins_and_is_normalised() -> None:
    assert score("Telia!", "nb-NO").language == "no"
    assert score("Telia!", "xx").language == "other"  # unknown tag: identify instead (no evidence -> other)
    assert identify("👍").confidence == 0.0


@pytest.mark.parametrize(
    "text",
    [
        "@Telia_Sverige varför har jag fått en faktura på 800 kr när jag sagt upp abonnemanget?? 😡",
        "@TDC_Dansk jeres kundeservice er elendig, hjælp mig nu!",
        "@Telenor_Norge hvorfor er nettet nede igjen? Dette er forferdelig",
        "Been on hold with Telia for 50 minutes, please help",
        "@Telia how do I change my plan in the app?",  # a question to the brand needs an answer
    ],
)
def test_needs_help(text: str) -> None:
    result = score(text)
    assert result.needs_help and result.needs_help_probability >= 0.5


@pytest.mark.parametrize(
    "text",
    [
        "Stort tack till Telia, jättebra service!",
        "Telenor melder om økt overskudd i kvartalet",
        "Telia reports quarterly results on Tuesday",
    ],
)
def test_does_not_need_help(text: str) -> None:
    result = score(text)
    assert not result.needs_help and result.needs_help_probability < 0.5


@pytest.mark.parametrize(
    ("text", "aspect"),
    [
        ("Har suttit i telefonkö hos Telia i 45 minuter, ingen svarar 😡", "availability_wait"),
        ("Tredje gangen jeg kontakter Telenor, fortsatt ikke løst", "not_resolved"),
        ("Utroligt uhøflig og nedladende personale i butikken", "staff_attitude"),
        ("They gave me wrong information, three agents three different answers", "competence_wrong_info"),
        ("Telia har dragit 400 kr för mycket på fakturan igen", "price_billing"),
        ("My router never arrived, delivery is two weeks late", "product_delivery_fault"),
    ],
)
def test_aspects_in_complaints(text: str, aspect: str) -> None:
    aspects = score(text).aspects
    assert max(aspects, key=aspects.__getitem__) == aspect
    assert aspects[aspect] > 0.3


def test_praise_carries_no_strong_aspect() -> None:
    assert max(score("Fantastisk rask levering, tusen takk! 😍").aspects.values()) < 0.3


def test_measured_macro_f1_beats_majority_baseline(shared_data) -> None:
    """On the English airline tweets (3-class), the lexicon is far better than always saying the majority."""
    rows = [json.loads(line) for line in (shared_data / "sentiment/train/en_airline.jsonl").open()][::10]
    from sklearn.metrics import f1_score

    predicted = [r.label for r in SCORER.score([TextToScore(i, row["text"]) for i, row in enumerate(rows)])]
    gold = [row["label"] for row in rows]
    assert f1_score(gold, predicted, average="macro") > 0.45


def test_hashtags_ending_in_a_sentiment_word_count() -> None:
    assert score("Again and again #TeliaFail").label == "negative"
    assert score("Telia igen #kundtjänstfail").label == "negative"
    assert score("Telia igen teliafail").label == "neutral"  # only hashtags are split this way
