"""LexiconScorer: an honest, simple word-list scorer for sv/da/no/en, the default until the model is ready.

Everything it reports is computed from the text: sentiment from weighted word and emoji lists with
negation ("inte bra", "ikke god", "not good") and intensifiers; language from function words
(monitor.kernel.langid); needs_help from complaint + request/question/addressing signals; aspects from keyword
lists. Its accuracy is measured, not assumed: see docs/lexicon.md and bench/lexicon_eval.py.

Probabilities are a softmax over (alpha * negative evidence, neutral bias, alpha * positive evidence),
so a text without evidence is neutral and strong evidence wins; alpha and the bias were chosen on a
split of the training files (docs/lexicon.md), not on the dev files.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from models import lexicon_words as W
from monitor.kernel import langid
from monitor.kernel.langid import identify, normalise_language
from monitor.kernel.textfold import TOKEN_RE, fold, words
from monitor.kernel.types import ASPECTS, LANGUAGES, ScoreResult, Sentiment, TextToScore

LANGS = ("sv", "da", "no", "en")
NEGATION_WINDOW = 3
# "not good" is as bad as "bad"; "not bad" is only mildly good (negation shifts, it does not mirror).
NEGATED_POSITIVE = -1.0
NEGATED_NEGATIVE = -0.5
INTENSITY_FACTOR = 1.5
MAX_SUFFIX = 4  # a stem of 4+ letters matches words up to 4 letters longer
ALPHA = 0.9
MAX_CACHED_WORDS = 200_000
NEUTRAL_BIAS = 0.81
HELP_THRESHOLD = 0.5
# Bump when the scoring code changes; word-list and constant changes alter the hash part by themselves.
ALGORITHM_VERSION = 3


def _entries(spec: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for item in spec.split():
        word, _, weight = item.partition(":")
        out[fold(word).replace("_", " ")] = float(weight) if weight else 1.0
    return out


def _wordset(spec: str) -> frozenset[str]:
    return frozenset(fold(w).replace("_", " ") for w in spec.split())


@dataclass(frozen=True)
class Lexicon:
    """Folded lists for one language, with stem lookup."""

    polarity: dict[str, float]  # positive weights > 0, negative < 0
    negators: frozenset[str]
    intensifiers: frozenset[str]
    # word -> polarity, filled as words are seen: social posts repeat their words, and the compound
    # search costs a few dozen dictionary probes per long word. Bounded by MAX_CACHED_WORDS.
    _seen: dict[str, float] = field(default_factory=dict, compare=False, repr=False)

    def lookup(self, word: str) -> float:
        """Polarity of one folded word: exact, stem (+ up to 4 letters), intensified or compound tail."""
        value = self._seen.get(word)
        if value is None:
            value = self._lookup(word)
            if len(self._seen) < MAX_CACHED_WORDS:
                self._seen[word] = value
        return value

    def _lookup(self, word: str) -> float:
        value = self._inflected(word)
        if value:
            return value
        for prefix in _INTENSIFYING_PREFIXES:
            rest = word[len(prefix) :]
            if word.startswith(prefix) and len(rest) >= 3:
                base = self._inflected(rest)
                if base:
                    return base * INTENSITY_FACTOR
        return self._compound_tail(word)

    def _inflected(self, word: str) -> float:
        if word in self.polarity:
            return self.polarity[word]
        for cut in range(1, MAX_SUFFIX + 1):
            stem = word[:-cut]
            if len(stem) < 4:
                break
            if stem in self.polarity:
                return self.polarity[stem]
        return 0.0

    def _compound_tail(self, word: str) -> float:
        """Nordic compounds carry the polarity of their last part: "drittdårlig", "kundeservicekatastrofe".

        The longest known tail of 5+ letters after a first part of 3+ letters wins; a first part like
        "miss"/"mis" denies the tail ("missnöjd"). Shorter tails are too often accidental (choco-"late"), and
        so are tails that start with a vowel (press-meddel-"elände").
        """
        for start in range(3, len(word) - 4):
            if word[start] in _VOWELS:  # a split before a vowel is usually inside a word: press|meddel|ande
                continue
            value = self._inflected(word[start:])
            if value:
                head = word[:start]
                return -value if head in _NEGATING_PREFIXES else value
        return 0.0

    def hashtag_tail(self, tag: str) -> float:
        """#TeliaFail, #epicfail, #sasfail: a hashtag ending in a sentiment word (4+ letters) carries it."""
        for start in range(1, len(tag) - 3):
            value = self.polarity.get(tag[start:], 0.0)
            if value:
                return value
        return 0.0


def _build(langs: Sequence[str]) -> Lexicon:
    polarity: dict[str, float] = {}
    for lang in reversed(langs):  # the post's own language wins a folded clash (da "løst" vs en "lost")
        polarity.update({w: -v for w, v in _entries(W.NEGATIVE[lang]).items()})
        polarity.update(_entries(W.POSITIVE[lang]))
    negators = frozenset().union(*(_wordset(W.NEGATORS[lang]) for lang in langs))
    intens = frozenset().union(*(_wordset(W.INTENSIFIERS[lang]) for lang in langs))
    return Lexicon(polarity, negators, intens)


_VOWELS = frozenset("aeiouy")  # folded: å/ä/æ -> a, ö/ø -> o
_INTENSIFYING_PREFIXES = tuple(fold(p) for p in W.INTENSIFYING_PREFIXES)
_NEGATING_PREFIXES = frozenset(fold(p) for p in W.NEGATING_PREFIXES)

# English is always consulted (code-switching); unknown language: all four.
_LEXICONS = {lang: _build((lang, "en") if lang != "en" else ("en",)) for lang in LANGS}
_LEXICONS["other"] = _build(LANGS)
_ASPECTS = {a: {lang: _wordset(W.ASPECT_KEYWORDS[a][lang]) for lang in LANGS} for a in ASPECTS}
_REQUESTS = {lang: _wordset(W.REQUESTS[lang]) for lang in LANGS}
_QUESTIONS = {lang: _wordset(W.QUESTIONS[lang]) for lang in LANGS}
_YOU = {lang: _wordset(W.SECOND_PERSON[lang]) for lang in LANGS}


def _lexicon_version() -> str:
    """Changes whenever a word list changes, so stored scores say which lists produced them."""
    digest = hashlib.sha256()
    for name in sorted(n for n in dir(W) if n.isupper()):
        digest.update(repr(getattr(W, name)).encode())
    digest.update(repr((ALPHA, NEUTRAL_BIAS, NEGATED_POSITIVE, NEGATED_NEGATIVE, INTENSITY_FACTOR)).encode())
    # The language identifier picks the word lists, so its lists are part of the version too.
    digest.update(langid.fingerprint().encode())
    return digest.hexdigest()[:8]


@dataclass(frozen=True, slots=True)
class Evidence:
    positive: float
    negative: float


def sentiment_evidence(text: str, lang: str) -> Evidence:
    """Summed positive and negative weights, after negation and intensifiers."""
    return sentiment_evidence_with(_LEXICONS.get(lang, _LEXICONS["other"]), text)


def sentiment_evidence_with(lex: Lexicon, text: str, symbols: bool = True) -> Evidence:
    """As sentiment_evidence, with a given lexicon (the guard builds its own language combinations).

    symbols=False counts words only: the encoder reads emoji well, and ":/" also occurs in every URL.
    """
    tokens = words(text)  # folded: apostrophes are gone ("don't" -> "dont")
    clause_ends = _clause_ends(text, len(tokens))
    hashtags = {fold(m.group(2)) for m in TOKEN_RE.finditer(text) if m.group(1) == "#"}
    pos = neg = 0.0
    negate_left = 0
    boost = 1.0
    i = 0
    while i < len(tokens):
        word = tokens[i]
        bigram = f"{word} {tokens[i + 1]}" if i + 1 < len(tokens) else ""
        value = lex.polarity.get(bigram, 0.0) if bigram else 0.0
        step = 2 if value else 1
        if not value:
            if word in lex.negators:
                negate_left, i = NEGATION_WINDOW, i + 1
                continue
            if word in lex.intensifiers:
                boost, i = INTENSITY_FACTOR, i + 1
                continue
            value = lex.lookup(word)
            if not value and hashtags and word in hashtags:
                value = lex.hashtag_tail(word)
        if value:
            value *= boost
            if negate_left:
                value *= NEGATED_POSITIVE if value > 0 else NEGATED_NEGATIVE
                negate_left = 0
            pos, neg = (pos + value, neg) if value > 0 else (pos, neg - value)
            boost = 1.0
        negate_left = max(0, negate_left - step)
        if i + step - 1 in clause_ends:  # "without fixing anything. Pathetic." : negation stops at the stop
            negate_left, boost = 0, 1.0
        i += step
    if not symbols:
        return Evidence(pos, neg)
    sym = symbol_evidence(text)
    return Evidence(pos + sym.positive, neg + sym.negative)


def symbol_evidence(text: str) -> Evidence:
    """Emoji and emoticons only."""
    pos = neg = 0.0
    for ch in text:
        if ch in W.EMOJI_POSITIVE:
            pos += 1.0
        elif ch in W.EMOJI_NEGATIVE:
            neg += 1.0
    pos += sum(0.8 for e in W.EMOTICONS_POSITIVE if e in text)
    neg += sum(0.8 for e in W.EMOTICONS_NEGATIVE if e in text)
    return Evidence(pos, neg)


_CLAUSE_END = re.compile(r"[.!?;:,\n]")


def _clause_ends(text: str, n_tokens: int) -> set[int]:
    """Indices of tokens followed by clause punctuation (the tokens as `words` yields them)."""
    ends: set[int] = set()
    index = -1
    for m in TOKEN_RE.finditer(text):
        index += 1
        follow = text[m.end() : m.end() + 2]
        if _CLAUSE_END.match(follow.lstrip(" )\"'")[:1] or " "):
            ends.add(index)
    return ends if index + 1 == n_tokens else set()  # tokeniser mismatch: no clause information


def probabilities(ev: Evidence, alpha: float = ALPHA, bias: float = NEUTRAL_BIAS) -> dict[str, float]:
    logits = {"negative": alpha * ev.negative, "neutral": bias, "positive": alpha * ev.positive}
    top = max(logits.values())
    exp = {k: math.exp(v - top) for k, v in logits.items()}
    total = sum(exp.values())
    return {k: v / total for k, v in exp.items()}


def detect_language(text: str, hint: str | None) -> str:
    lang = normalise_language(hint)
    if lang in LANGUAGES:
        return lang  # type: ignore[return-value]
    return identify(text).language


def aspect_scores(tokens: Sequence[str], lang: str, complaint_weight: float) -> dict[str, float]:
    """aspect -> probability: keyword hits, scaled by how much the text reads as a complaint."""
    langs = (lang, "en") if lang in LANGS and lang != "en" else (LANGS if lang not in LANGS else ("en",))
    present = set(tokens) | {f"{a} {b}" for a, b in itertools.pairwise(tokens)}
    out = {}
    for aspect in ASPECTS:
        hits = sum(len(present & _ASPECTS[aspect][code]) for code in langs)
        keyword = 0.0 if not hits else 1.0 - 0.4**hits
        out[aspect] = round(keyword * complaint_weight, 4)
    return out


def help_probability(text: str, tokens: Sequence[str], lang: str, probs: dict[str, float]) -> float:
    """A complaint that asks, requests or addresses the brand needs help; so does a question to the brand."""
    langs = (lang, "en") if lang in LANGS and lang != "en" else (LANGS if lang not in LANGS else ("en",))
    present = set(tokens)
    question = "?" in text or bool(tokens and any(tokens[0] in _QUESTIONS[c] for c in langs))
    request = any(present & _REQUESTS[c] for c in langs)
    addressed = "@" in text or any(present & _YOU[c] for c in langs)
    signal = max(1.0 if request else 0.0, 0.8 if question else 0.0, 0.6 if addressed else 0.0)
    complaint = (probs["negative"] + 0.5 * probs["neutral"]) * (0.45 + 0.55 * signal)
    question_to_brand = (0.6 if question and addressed else 0.0) * (1.0 - probs["positive"])
    return round(1.0 - (1.0 - complaint) * (1.0 - question_to_brand), 4)  # either reason suffices


class LexiconScorer:
    """Word-list scorer implementing monitor.kernel.types.Scorer (entry point `lexicon`)."""

    def __init__(self, config: Any = None) -> None:
        self.version = f"lexicon-{ALGORITHM_VERSION}.{_lexicon_version()}"

    def score(self, batch: Sequence[TextToScore]) -> list[ScoreResult]:
        return [self.score_one(item) for item in batch]

    def score_one(self, item: TextToScore) -> ScoreResult:
        lang = detect_language(item.text, item.language_hint)
        probs = probabilities(sentiment_evidence(item.text, lang))
        label: Sentiment = max(probs, key=probs.__getitem__)  # type: ignore[assignment]
        tokens = words(item.text)
        help_p = help_probability(item.text, tokens, lang, probs)
        return ScoreResult(
            mention_id=item.mention_id,
            model_version=self.version,
            label=label,
            probabilities=probs,
            language=lang,
            needs_help=help_p >= HELP_THRESHOLD,
            needs_help_probability=help_p,
            aspects=aspect_scores(tokens, lang, probs["negative"] + 0.5 * probs["neutral"]),
        )
