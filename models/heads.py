"""Language, needs_help and aspect heads on the e5 sentence vector: fitting, measuring, applying.

How the labels are obtained (details and figures in docs/model.md):
- language: the data's `lang` field; the head sees [standardised vector, py3langid probabilities].
- needs_help ("a complaint a support agent can act on"): English airline tweets that are negative
  AND carry a concrete complaint reason are positive; airline neutral/positive tweets and negatives
  whose reason is "Can't Tell" are negative. Negative company reviews (sv_reviews, en_scandisent_mt)
  are positive, positive ones negative. Parliament speeches, news/web sentences and professional
  culture reviews (da_europarl, da_lcc, no_norec) are negative: negativity that is not a support case.
- aspects: airline complaint reasons mapped onto the six customer-service aspects (REASON_TO_ASPECT);
  "competence / wrong information" has no reason of its own and is weakly labelled by phrases.
Vectors are centred per language before the needs_help/aspect heads, which removes most of the
"which language is this" direction: otherwise a head fed mostly English positives would learn
"English means complaint" instead of transferring through the multilingual encoder.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models import language
from monitor.kernel.types import ASPECTS

HEADS_FILE = "e5_heads.safetensors"
HEADS_META = "e5_heads.json"

REASON_TO_ASPECT = {
    "Late Flight": "availability_wait",
    "longlines": "availability_wait",
    "Customer Service Issue": "not_resolved",
    "Flight Attendant Complaints": "staff_attitude",
    "Flight Booking Problems": "price_billing",
    "Cancelled Flight": "product_delivery_fault",
    "Lost Luggage": "product_delivery_fault",
    "Damaged Luggage": "product_delivery_fault",
    "Bad Flight": "product_delivery_fault",
}
ACTIONABLE_REASONS = set(REASON_TO_ASPECT)
WRONG_INFO = re.compile(
    r"\b(wrong|incorrect|misinform\w*|inaccurate|conflicting|no idea|clueless|incompeten\w*|"
    r"told (me|us) (that|it|to)|gave (me|us) the wrong|didn'?t know)\b",
    re.IGNORECASE,
)
NOT_SUPPORT_CASES = {"da_europarl", "da_lcc", "no_norec"}
REVIEW_SETS = {"sv_reviews", "en_scandisent_mt"}


@dataclass
class Analysis:
    languages: list[str]
    needs_help: np.ndarray  # [N] probability
    aspects: np.ndarray  # [N, len(ASPECTS)] probability


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


class Heads:
    """Linear heads stored as plain tensors (no pickles): standardisation folded in at save time."""

    def __init__(self, tensors: dict[str, np.ndarray], meta: dict) -> None:
        self.t = tensors
        self.meta = meta
        self.needs_help_threshold = float(meta.get("needs_help_threshold", 0.5))

    @classmethod
    def load(cls, directory: Path) -> Heads:
        from safetensors.numpy import load_file

        tensors = {k: v.astype(np.float32) for k, v in load_file(str(directory / HEADS_FILE)).items()}
        return cls(tensors, json.loads((directory / HEADS_META).read_text()))

    def save(self, directory: Path) -> None:
        from safetensors.numpy import save_file

        directory.mkdir(parents=True, exist_ok=True)
        # C order and float32 on purpose: sklearn's coef_ can be Fortran-ordered, and a raw buffer in that
        # order is silently read back transposed; fp16 would save 16 KB and cost the standardisation precision.
        tensors = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in self.t.items()}
        save_file(tensors, str(directory / HEADS_FILE))
        (directory / HEADS_META).write_text(json.dumps(self.meta, indent=2, sort_keys=True) + "\n")

    def language_probs(self, pooled: np.ndarray, lid: np.ndarray) -> np.ndarray:
        x = np.hstack([(pooled - self.t["lang.mean"]) / self.t["lang.std"], lid])
        z = x @ self.t["lang.weight"].T + self.t["lang.bias"]
        z = z - z.max(1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(1, keepdims=True)

    def centred(self, pooled: np.ndarray, langs: Sequence[str]) -> np.ndarray:
        centres = np.stack([self.t.get(f"centre.{lang}", self.t["centre.all"]) for lang in langs])
        return (pooled - centres - self.t["task.mean"]) / self.t["task.std"]

    def analyse(self, texts: Sequence[str], pooled: np.ndarray, hints: Sequence[str | None]) -> Analysis:
        lid = language.lid_features(texts)
        probs = self.language_probs(pooled, lid)
        langs = language.decide(texts, probs, lid)
        for i, hint in enumerate(hints):  # a platform's tag wins unless our evidence clearly disagrees
            if hint in language.LANGS and langs[i] != "other" and probs[i, language.LANGS.index(hint)] >= 0.2:
                langs[i] = hint
        x = self.centred(pooled, langs)
        needs = _sigmoid(x @ self.t["needs_help.weight"][0] + self.t["needs_help.bias"][0])
        aspects = _sigmoid(x @ self.t["aspects.weight"].T + self.t["aspects.bias"])
        return Analysis(langs, needs, aspects)


# --------------------------------------------------------------------------- fitting


def needs_help_labels(source: np.ndarray, label: np.ndarray, reason: np.ndarray) -> np.ndarray:
    """1 / 0 / -1 (unknown, not used) per example; see the module docstring."""
    neg = label == 0
    y = np.full(len(source), -1, dtype=np.int64)
    airline = source == "en_airline"
    y[airline] = (neg & np.isin(reason, list(ACTIONABLE_REASONS)))[airline]
    reviews = np.isin(source, list(REVIEW_SETS))
    y[reviews] = neg[reviews]
    y[np.isin(source, list(NOT_SUPPORT_CASES))] = 0
    return y


def aspect_labels(source: np.ndarray, label: np.ndarray, reason: np.ndarray, text: np.ndarray) -> tuple:
    """[N, 6] 0/1 aspect labels and a mask of the rows they are known for."""
    y = np.zeros((len(source), len(ASPECTS)), dtype=np.int64)
    known = (source == "en_airline") | np.isin(source, list(NOT_SUPPORT_CASES))
    for i in np.flatnonzero(source == "en_airline"):
        if label[i] != 0:
            continue
        aspect = REASON_TO_ASPECT.get(str(reason[i]))
        if aspect:
            y[i, ASPECTS.index(aspect)] = 1
        if reason[i] in ("Customer Service Issue", "Flight Booking Problems", "Can't Tell") and WRONG_INFO.search(
            str(text[i])
        ):
            y[i, ASPECTS.index("competence_wrong_info")] = 1
    return y, known


def _fit_lr(x: np.ndarray, y: np.ndarray, c: float = 0.5, class_weight: str | None = None):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=c, max_iter=3000, class_weight=class_weight).fit(x, y)


def fit_from_features(features: Path, out_dir: Path, probe_vectors: np.ndarray | None = None) -> dict:
    """Fit all heads from `features.npz` (written by models.train), save them, return the figures."""
    from sklearn.metrics import average_precision_score, f1_score

    d = np.load(features)
    pooled, lang, source = d["pooled"], d["lang"].astype(str), d["source"].astype(str)
    label, reason, text, is_val = d["label"], d["reason"].astype(str), d["text"].astype(str), d["is_val"]
    tr, va = ~is_val, is_val
    lid = language.lid_features(list(text))
    metrics: dict = {}
    t: dict[str, np.ndarray] = {}

    # language
    mean, std = pooled[tr].mean(0), pooled[tr].std(0) + 1e-6
    xl = np.hstack([(pooled - mean) / std, lid])
    # Balanced classes: how many rows each language has in the training files is an accident of the data
    # (English is 3x Danish), not a prior a Danish customer's short post should be judged against.
    lr = _fit_lr(xl[tr], np.array([language.LANGS.index(x) for x in lang[tr]]), class_weight="balanced")
    t |= {"lang.mean": mean, "lang.std": std, "lang.weight": lr.coef_, "lang.bias": lr.intercept_}
    head_probs = lr.predict_proba(xl)
    by_method = {
        "py3langid": language.decide(list(text[va]), None, lid[va]),
        "py3langid+e5 head": language.decide(list(text[va]), head_probs[va], lid[va]),
    }
    metrics["language_accuracy"] = {
        method: {lg: round(float(np.mean(np.array(pred)[lang[va] == lg] == lg)), 4) for lg in language.LANGS}
        for method, pred in by_method.items()
    }
    metrics["language_accuracy"]["n"] = {lg: int((lang[va] == lg).sum()) for lg in language.LANGS}

    # centring per language, then standardisation shared by the task heads
    for lg in language.LANGS:
        t[f"centre.{lg}"] = pooled[tr & (lang == lg)].mean(0)
    t["centre.all"] = np.mean([t[f"centre.{lg}"] for lg in language.LANGS], axis=0)
    centred = pooled - np.stack([t[f"centre.{lg}"] for lg in lang])
    t["task.mean"], t["task.std"] = centred[tr].mean(0), centred[tr].std(0) + 1e-6
    x = (centred - t["task.mean"]) / t["task.std"]

    # needs_help
    y = needs_help_labels(source, label, reason)
    m_tr, m_va = tr & (y >= 0), va & (y >= 0)
    nh = _fit_lr(x[m_tr], y[m_tr])
    p_va = nh.predict_proba(x[m_va])[:, 1]
    grid = np.linspace(0.2, 0.8, 25)
    f1s = [f1_score(y[m_va], p_va >= g) for g in grid]
    threshold = float(grid[int(np.argmax(f1s))])
    t |= {"needs_help.weight": nh.coef_, "needs_help.bias": nh.intercept_}
    airline_va = source[m_va] == "en_airline"
    metrics["needs_help"] = {
        "threshold": round(threshold, 3),
        "f1_validation_all": round(float(max(f1s)), 4),
        "f1_validation_airline": round(float(f1_score(y[m_va][airline_va], p_va[airline_va] >= threshold)), 4),
        "n_validation": int(m_va.sum()),
    }

    # aspects
    ya, known = aspect_labels(source, label, reason, text)
    a_tr, a_va = tr & known, va & known & (source == "en_airline") & (label == 0)
    weights, biases, per_aspect = [], [], {}
    for k, aspect in enumerate(ASPECTS):
        if len(set(ya[a_tr, k].tolist())) < 2:  # no examples of this aspect: a head that never fires
            weights.append(np.zeros(x.shape[1]))
            biases.append(-6.0)
            p = np.full(int(a_va.sum()), _sigmoid(np.array(-6.0)))
        else:
            clf = _fit_lr(x[a_tr], ya[a_tr, k])
            weights.append(clf.coef_[0])
            biases.append(clf.intercept_[0])
            p = clf.predict_proba(x[a_va])[:, 1]
        pos = int(ya[a_va, k].sum())
        per_aspect[aspect] = {
            "n_train_positive": int(ya[a_tr, k].sum()),
            "n_validation_positive": pos,
            "average_precision": round(float(average_precision_score(ya[a_va, k], p)), 4) if pos else None,
            "f1_at_0.5": round(float(f1_score(ya[a_va, k], p >= 0.5, zero_division=0)), 4) if pos else None,
        }
    t |= {"aspects.weight": np.stack(weights), "aspects.bias": np.array(biases)}
    metrics["aspects_on_negative_airline_validation"] = per_aspect

    meta = {
        "needs_help_threshold": threshold,
        "aspects": list(ASPECTS),
        "languages": list(language.LANGS),
        "metrics": metrics,
    }
    heads = Heads({k: np.asarray(v, dtype=np.float32) for k, v in t.items()}, meta)
    heads.save(out_dir)
    return metrics


def probe_report(heads: Heads, vectors: np.ndarray) -> dict:
    """needs_help accuracy and aspect top-1 accuracy on the hand-written probes, per language."""
    from models.seeds import PROBES

    langs = [p[0] for p in PROBES]
    x = heads.centred(vectors, langs)
    needs = _sigmoid(x @ heads.t["needs_help.weight"][0] + heads.t["needs_help.bias"][0])
    aspects = _sigmoid(x @ heads.t["aspects.weight"].T + heads.t["aspects.bias"])
    out: dict = {}
    for lg in language.LANGS:
        idx = [i for i, p in enumerate(PROBES) if p[0] == lg]
        nh_ok = [bool(needs[i] >= heads.needs_help_threshold) == PROBES[i][2] for i in idx]
        asp = [i for i in idx if PROBES[i][3]]
        top_ok = [ASPECTS[int(np.argmax(aspects[i]))] == PROBES[i][3] for i in asp]
        out[lg] = {
            "needs_help_accuracy": round(float(np.mean(nh_ok)), 3),
            "aspect_top1": round(float(np.mean(top_ok)), 3),
            "n": len(idx),
        }
    return out


def measure_probes(weights_dir: Path, checkpoint: Path | None = None, threads: int | None = None) -> dict:
    """Embed the probe sentences with the trained encoder and report the heads' behaviour on them."""
    from models.config import ModelConfig
    from models.scorer import E5Scorer
    from models.seeds import PROBES

    config = ModelConfig(scorer="e5", weights_dir=str(weights_dir), threads=threads)
    scorer = E5Scorer(config, checkpoint=checkpoint)
    vectors = scorer.prepare().pooled([p[1] for p in PROBES])
    return probe_report(Heads.load(weights_dir), vectors)


def calibration_report(features: Path, temperatures: dict[str, float]) -> dict:
    """Expected calibration error (15 bins) per language on our validation split, before/after scaling."""
    d = np.load(features)
    logits, label, lang, is_val = d["logits"], d["label"], d["lang"].astype(str), d["is_val"]
    out = {}
    for lg in sorted(set(lang[is_val])):
        sel = is_val & (lang == lg)
        out[lg] = {
            "ece_raw": round(_ece(logits[sel], label[sel], 1.0), 4),
            "ece_calibrated": round(_ece(logits[sel], label[sel], temperatures.get(lg, 1.0)), 4),
            "temperature": round(temperatures.get(lg, 1.0), 3),
        }
    return out


def _ece(logits: np.ndarray, y: np.ndarray, t: float, bins: int = 15) -> float:
    z = logits / t
    z = z - z.max(1, keepdims=True)
    p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    conf, pred = p.max(1), p.argmax(1)
    edges = np.linspace(0, 1, bins + 1)
    ece = 0.0
    for lo, hi in itertools.pairwise(edges):
        m = (conf > lo) & (conf <= hi)
        if m.any():
            ece += m.mean() * abs(float((pred[m] == y[m]).mean()) - float(conf[m].mean()))
    return float(ece)
