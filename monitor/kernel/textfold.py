"""Word tokens with Nordic-aware case and diacritics folding, shared by brand matching and the lexicon scorer.

Social-media users spell brands inconsistently: "Mærsk", "Maersk" and "Marsk"; "Ørsted" and "Orsted";
Danish/Norwegian Æ/Ø where Swedes write Ä/Ö. Every token therefore carries two folded forms:

* ``strip``: diacritics removed letter by letter (æ/ä -> a, ø/ö -> o, å -> a, ü -> u), so Ø == Ö and Æ == Ä;
* ``translit``: the classic transliteration (æ/ä -> ae, ø/ö -> oe, å -> aa, ü -> ue), so "Mærsk" == "Maersk".

A term matches a token when it matches under either form. Each form keeps a map from folded index back to
the original index, because the compound rule in matching looks at the original letter case there.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cache, lru_cache

# Letters NFKD does not decompose, or that decompose differently from how Nordic users transliterate.
_STRIP_SPECIAL = {"æ": "a", "ø": "o", "ß": "ss", "đ": "d", "ð": "d", "þ": "th", "ł": "l", "œ": "oe", "ı": "i"}
# Apostrophes vanish, so "McDonald's" == "McDonalds" and "Telia's" is "Telias" (a genitive).
_STRIP_SPECIAL.update({"'": "", "’": "", "´": ""})
_TRANSLIT_SPECIAL = {**_STRIP_SPECIAL, "æ": "ae", "ä": "ae", "ø": "oe", "ö": "oe", "å": "aa", "ü": "ue"}

# A word: letters/digits, optionally joined by apostrophes, colons or ampersands ("Telia's", "SAS:s", "H&M").
# Hyphens and underscores split words, so "Telia-kundeservice" and "@Telia_Sverige" start with the token
# "telia". A leading # or @ is kept as the token's marker.
TOKEN_RE = re.compile(r"([#@]?)([^\W_]+(?:[&'’´:][^\W_]+)*)")
JOINERS = "&'’´:"


@cache
def _fold_char(ch: str, translit: bool) -> str:
    low = ch.lower()
    table = _TRANSLIT_SPECIAL if translit else _STRIP_SPECIAL
    if low in table:
        return table[low]
    decomposed = unicodedata.normalize("NFKD", low)
    base = "".join(c for c in decomposed if not unicodedata.combining(c))
    return base or low


def fold_with_map(text: str, translit: bool = False) -> tuple[str, tuple[int, ...]]:
    """Fold `text`; also return, for each folded index (and one past the end), its original index."""
    out: list[str] = []
    index: list[int] = []
    for i, ch in enumerate(text):
        folded = _fold_char(ch, translit)
        out.append(folded)
        index.extend([i] * len(folded))
    index.append(len(text))
    return "".join(out), tuple(index)


def fold(text: str, translit: bool = False) -> str:
    """Case- and diacritics-folded text (see the module docstring for the two forms)."""
    return "".join(_fold_char(ch, translit) for ch in text)


@dataclass(frozen=True, slots=True)
class Token:
    """One word of a text, in its original spelling and both folded forms."""

    original: str
    strip: str
    strip_index: tuple[int, ...]
    translit: str
    translit_index: tuple[int, ...]
    marker: str  # "#", "@" or ""
    start: int  # character offset in the text


@lru_cache(maxsize=65_536)
def _fold_forms(original: str) -> tuple[str, tuple[int, ...], str, tuple[int, ...]]:
    """Both folded forms of a word; cached because the same words recur in every post."""
    return (*fold_with_map(original), *fold_with_map(original, translit=True))


def make_token(original: str, marker: str = "", start: int = 0) -> Token:
    strip, strip_index, translit, translit_index = _fold_forms(original)
    return Token(original, strip, strip_index, translit, translit_index, marker, start)


def tokenize(text: str) -> list[Token]:
    """Split `text` into word tokens (hashtags and handles keep their # or @ as the marker)."""
    return [make_token(m.group(2), m.group(1), m.start(2)) for m in TOKEN_RE.finditer(text)]


def words(text: str) -> list[str]:
    """Just the strip-folded words, for bag-of-words uses such as the lexicon scorer."""
    return [_fold_forms(m.group(2))[0] for m in TOKEN_RE.finditer(text)]
