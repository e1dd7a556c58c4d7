"""The sentiment guard, aspect/needs_help word cues and short-post language cues: no model needed.

The words tested here are deliberately not the probe sets' words: the guard must generalise through
morphology (inflections, compounds, negation, intensifiers), not by listing the probes.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models import cues, guard, language, lexicon
from monitor.kernel.types import ASPECTS, SENTIMENTS

POSITIVE_092 = np.array([[0.07, 0.01, 0.92]])  # what the shipped model said for "Elendig kundeservice!"
NEG, NEU, POS = (SENTIMENTS.index(s) for s in SENTIMENTS)


def guarded(text: str, lang: str, probs: np.ndarray = POSITIVE_092) -> np.ndarray:
    return guard.apply([text], [lang], probs)[0]


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("Elendige forhold hos Telia", "da"),  # inflection the list does not spell out
        ("Forfærdeligt!", "da"),
        ("Drittdårlige svar fra support", "no"),  # compound: intensifying first part + inflected tail
        ("Kanondårlig app", "da"),
        ("Møgdårligt netværk", "da"),
        ("Skitdåliga villkor", "sv"),
        ("Usle folk i kundeservice", "no"),
        ("Katastrofala besked", "sv"),
        ("Utterly atrocious support", "en"),
        ("Elendig kundeservice!", "sv"),  # language ID said Swedish: the Scandinavian lists still apply
    ],
)
def test_a_strong_word_the_encoder_misreads_makes_the_post_negative(text: str, lang: str) -> None:
    p = guarded(text, lang)
    assert int(np.argmax(p)) == NEG, p
    assert p.sum() == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("Ikke dårligt, faktisk ret godt", "da"),  # negated negative reads positive
        ("Inte alls dålig service", "sv"),
        ("Not bad at all, thanks", "en"),
        ("Slet ikke skuffet, alt virker", "da"),
        ("Missnöjd? Aldrig. Toppenservice", "sv"),
    ],
)
def test_negated_or_mixed_evidence_does_not_fire(text: str, lang: str) -> None:
    assert np.allclose(guarded(text, lang), POSITIVE_092[0])


def test_one_strong_word_in_a_long_news_sentence_does_not_fire() -> None:
    text = (
        "Regeringen og arbejdsmarkedets parter mødes i morgen for at drøfte den økonomiske krise og "
        "nye investeringer i industrien i de kommende år"
    )
    assert np.allclose(guarded(text, "da"), POSITIVE_092[0])


def test_negation_stops_at_the_end_of_the_clause() -> None:
    ev = lexicon.sentiment_evidence("You closed my case without fixing anything. Pathetic.", "en")
    assert ev.negative >= 2 and ev.positive == 0


def test_compound_tail_and_denying_first_part() -> None:
    lex = lexicon._LEXICONS["sv"]
    assert lex.lookup("kundtjänstkatastrof") < 0
    assert lexicon._LEXICONS["no"].lookup("misfornoyd") < 0  # folded "misfornøyd": "mis" denies "fornøyd"
    assert lexicon._LEXICONS["en"].lookup("chocolate") == 0  # short accidental tails ("late") are ignored


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("Hvornår har I åbent i weekenden?", "da"),
        ("Hur lång är leveranstiden till Gotland?", "sv"),
        ("Does the store on Main Street sell phone cases?", "en"),
    ],
)
def test_a_plain_information_question_scores_neutral(text: str, lang: str) -> None:
    p = guarded(text, lang, np.array([[0.78, 0.18, 0.04]]))
    assert int(np.argmax(p)) == NEU


@pytest.mark.parametrize(
    "text",
    [
        "Hvorfor svarer I aldrig på mails?",  # why-question: usually a complaint
        "Er det ikke snart løst?",  # negation
        "Is anyone working today?? Anyone?",  # several question marks
        "Flyet er forsinket. Hvornår kommer vi af sted?",  # two sentences
    ],
)
def test_rhetorical_questions_keep_the_encoders_judgement(text: str) -> None:
    probs = np.array([[0.78, 0.18, 0.04]])
    assert np.allclose(guard.apply([text], ["da"], probs)[0], probs[0])


TEXTS = st.sampled_from(
    [
        "Tack för snabb hjälp!",
        "Jättebra service, tusen tack",
        "Vilka öppettider har ni?",
        "Hvad koster det?",
        "Fantastisk app",
        "Kjempefornøyd med levering",
        "Great support, thank you",
        "Not bad at all",
    ]
)


@settings(max_examples=200, deadline=None)
@given(
    text=TEXTS,
    lang=st.sampled_from(["sv", "da", "no", "en", "other"]),
    raw=st.lists(st.floats(0.001, 1.0), min_size=3, max_size=3),
)
def test_the_guard_never_makes_praise_or_a_question_more_negative(text: str, lang: str, raw: list[float]) -> None:
    probs = np.array([raw]) / sum(raw)
    out = guard.apply([text], [lang], probs)[0]
    assert out.sum() == pytest.approx(1.0)
    assert out[NEG] <= probs[0, NEG] + 1e-12
    assert (out >= 0).all()


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=80), raw=st.lists(st.floats(0.0, 1.0), min_size=3, max_size=3))
def test_any_text_gives_a_probability_vector(text: str, raw: list[float]) -> None:
    probs = (np.array([raw]) + 1e-6) / (sum(raw) + 3e-6)
    out = guard.apply([text], ["da"], probs)[0]
    assert out.sum() == pytest.approx(1.0)
    assert ((out >= 0) & (out <= 1)).all()


# --------------------------------------------------------------------------- aspects and needs_help


def _combine(texts: list[str], probs: list[list[float]], head_not_resolved: float = 0.84):
    n = len(texts)
    head = np.zeros((n, len(ASPECTS)))
    head[:, ASPECTS.index("not_resolved")] = head_not_resolved  # the shipped head's habit on Nordic posts
    plain = np.array([guard.cues(t, "da").question for t in texts])
    return cues.combine(texts, np.array(probs), head, np.full(n, 0.1), plain)


@pytest.mark.parametrize(
    ("text", "aspect"),
    [
        ("Ni har debiterat mig dubbelt för samma månad", "price_billing"),
        ("I har opkrævet mig to gange for abonnementet", "price_billing"),
        ("Dere har belastet kortet mitt to ganger", "price_billing"),
        ("You billed my card twice this month", "price_billing"),
        ("Sidder stadig i telefonkøen efter tre kvarter", "availability_wait"),
        ("Har stått i telefonkøen i førti minutter", "availability_wait"),
        ("Still on hold after forty minutes", "availability_wait"),
        ("Routern är trasig och nätet nere igen", "product_delivery_fault"),
    ],
)
def test_concrete_complaints_get_their_aspect_in_four_languages(text: str, aspect: str) -> None:
    aspects, needs = _combine([text], [[0.8, 0.15, 0.05]])
    k = ASPECTS.index(aspect)
    assert aspects[0, k] >= 0.5, dict(zip(ASPECTS, aspects[0].round(2), strict=True))
    assert needs[0] >= 0.5


def test_praise_naming_the_price_is_no_billing_complaint_and_questions_need_no_help() -> None:
    aspects, needs = _combine(
        ["Bästa priset på marknaden, tack!", "Hvad er jeres åbningstider på lørdag?"],
        [[0.02, 0.08, 0.9], [0.5, 0.45, 0.05]],
        head_not_resolved=0.0,
    )
    assert aspects[0, ASPECTS.index("price_billing")] < 0.5
    assert needs[1] < 0.1 and aspects[1].max() < 0.1


def test_word_evidence_never_lowers_the_heads() -> None:
    aspects, _ = _combine(["Tack för allt"], [[0.1, 0.2, 0.7]])
    assert aspects[0, ASPECTS.index("not_resolved")] == pytest.approx(0.84)


# --------------------------------------------------------------------------- short-post language ID


def test_danish_norwegian_vocabulary_outweighs_a_confident_swedish_head_on_a_short_post() -> None:
    texts = ["Elendig kundeservice!"]
    head = np.array([[0.99, 0.004, 0.004, 0.002]])  # the shipped head's answer
    lid = np.array([[0.4, 0.3, 0.2, 0.05, 0.05]])
    assert language.decide(texts, head, lid)[0] in ("da", "no")


def test_an_english_question_is_english_even_when_the_head_says_norwegian() -> None:
    texts = ["Are you open on Sundays?"]
    head = np.array([[0.0, 0.01, 0.98, 0.01]])
    lid = np.array([[0.0, 0.0, 0.1, 0.85, 0.05]])
    assert language.decide(texts, head, lid)[0] == "en"


def test_long_posts_keep_the_heads_answer() -> None:
    text = "Elendig kundeservice, men ellers er alt ganske fint med abonnementet og appen i hverdagen her"
    head = np.array([[0.9, 0.05, 0.04, 0.01]])
    assert language.decide([text], head, np.full((1, 5), 0.2))[0] == "sv"


def test_swedish_letters_are_swedish_evidence() -> None:
    ev = language.vocabulary_evidence(["Kör hårt", "Kør hårdt"])
    assert ev[0, 0] > ev[0, 1] and ev[1, 1] > ev[1, 0]


def test_emoji_veto_but_never_trigger() -> None:
    assert not guard.cues("Men de är så jävla snygga 😍😍", "sv").complaint  # swearing in praise
    assert not guard.cues("Hej! Vad heter låten i slutet?❤❤", "sv").question  # a fan, not a plain question
    assert not guard.cues("Se http://example.com/a 🙂", "en").complaint  # ":/" inside a URL is no frown
    assert guard.cues("Elendig kundeservice 😡", "da").complaint
