"""Heads: storage round trip (no silent transposition), label construction, language decisions."""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression

from models import language
from models.heads import Heads, aspect_labels, needs_help_labels
from monitor.kernel.types import ASPECTS


def test_saved_language_head_predicts_like_sklearn(tmp_path) -> None:
    rng = np.random.default_rng(0)
    h = 16
    x = rng.normal(size=(200, h + 5)).astype(np.float32)
    y = rng.integers(0, 4, size=200)
    x[np.arange(200), y] += 3.0
    lr = LogisticRegression(max_iter=500).fit(x, y)
    assert lr.coef_.flags.f_contiguous or lr.coef_.flags.c_contiguous
    tensors = {
        "lang.mean": np.zeros(h),
        "lang.std": np.ones(h),
        "lang.weight": np.asfortranarray(lr.coef_),
        "lang.bias": lr.intercept_,
    }
    Heads({k: np.asarray(v, dtype=np.float32) for k, v in tensors.items()}, {}).save(tmp_path)
    loaded = Heads.load(tmp_path)
    probs = loaded.language_probs(x[:, :h], x[:, h:])
    np.testing.assert_allclose(probs, lr.predict_proba(x), atol=1e-4)


def test_needs_help_labels_follow_the_documented_rules() -> None:
    source = np.array(
        ["en_airline", "en_airline", "en_airline", "sv_reviews", "sv_reviews", "no_norec", "sv_emoji"]
    )
    label = np.array([0, 0, 2, 0, 2, 0, 0])  # negative=0, positive=2
    reason = np.array(["Late Flight", "Can't Tell", "", "", "", "", ""])
    assert needs_help_labels(source, label, reason).tolist() == [1, 0, 0, 1, 0, 0, -1]


def test_aspect_labels_map_reasons_and_wrong_information() -> None:
    source = np.array(["en_airline", "en_airline", "en_airline", "da_lcc"])
    label = np.array([0, 0, 2, 0])
    reason = np.array(["Lost Luggage", "Customer Service Issue", "Late Flight", ""])
    text = np.array(["bag gone", "agent gave me the wrong gate", "late but fine", "x"])
    y, known = aspect_labels(source, label, reason, text)
    assert y[0, ASPECTS.index("product_delivery_fault")] == 1 and y[0].sum() == 1
    assert y[1, ASPECTS.index("not_resolved")] == 1 and y[1, ASPECTS.index("competence_wrong_info")] == 1
    assert y[2].sum() == 0  # a positive tweet has no complaint aspect
    assert known.tolist() == [True, True, True, True]


def test_other_language_needs_confident_foreign_evidence() -> None:
    texts = ["Das ist ein sehr schöner Tag heute, vielen Dank", "Hei!"]  # "Hei" is Norwegian spelling
    lid = language.lid_features(texts)
    head = np.array([[0.1, 0.7, 0.1, 0.1], [0.1, 0.1, 0.7, 0.1]])
    assert language.decide(texts, head, lid) == ["other", "no"]
