"""A small stopword-based language identifier for sv/da/no/en (everything else is "other").

Why not a library: the ones on PyPI are either large (fastText models) or weak exactly where we need
strength, Danish vs Norwegian Bokmål. Function words separate the four languages well on sentences;
on very short posts ("Telia 👎") there is simply no evidence, and we say so (confidence 0) instead of
guessing. Used by the lexicon scorer and, when a platform gives no language tag, by `lang:` filters.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from monitor.kernel.textfold import fold, words


def _wordset(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Function words, folded with textfold.fold (æ/ä -> a, ø/ö -> o, å -> a). A word listed for several
# languages is split evenly between them; the distinctive ones (da "ikke/mig/af/hvad/noget/nu/efter",
# no "ikke/meg/av/hva/noe/na/etter", sv "inte/och/jag/ar") carry the decision.
STOPWORDS: dict[str, frozenset[str]] = {
    "sv": _wordset(
        """och att det som en ett ar inte jag du vi ni i de den har hade for pa med till av om men sa
        var vad hur nar eller kan ska skulle vill mig dig sig min mitt mina din ditt er oss dem
        nu bara ocksa fran efter mycket ingen inget nagon nagot aldrig alltid igen fortfarande
        varfor hej tack bra dalig kundtjanst blir blev varit gor gjorde finns sen samma helt
        detta dessa denna hos mer an utan just ju mot sina sitt annan annat hittar ut upp lite kanske
        genom mellan sadan nagra hela valdigt riktigt bli tycker lika nog val sjalv ganska egentligen
        langre hittills darfor eftersom medan sager tog mannen vecka gatan kvall gillar suttit
        nastan tyvarr redan annu tillbaka anda fick bakom plats basta"""
    ),
    "da": _wordset(
        """og at det som en et er ikke jeg du vi i de den har havde for pa med til af om men sa
        var hvad hvordan nar eller kan skal skulle vil mig dig sig min mit mine din dit jer os dem
        nu bare ogsa fra efter meget ingen intet nogen noget aldrig altid igen stadig hvorfor
        hej tak godt darligt kundeservice bliver blev varet gor gjorde findes sa samme helt
        denne disse dette hos mere end uden lige mod sine sit hvis ogsa anden andet finder ud op lidt
        maske gennem mellem sadan nogle hele rigtig blive synes nok vel jo selv ganske egentlig
        langere derfor fordi mens hvilket ogsa siger tage tager taget manden uge gade aften
        endnu nasten sjov flot desvarre kun blevet haft gik kom gaet jeres ikk ind alligevel tilbage ret
        tillag plads bedste fik"""
    ),
    "no": _wordset(
        """og at det som en et er ikke jeg du vi dere i de den har hadde for pa med til av om men sa
        var hva hvordan nar eller kan skal skulle vil meg deg seg min mitt mine din ditt oss dem
        na bare ogsa fra etter mye ingen noe noen aldri alltid igjen fortsatt hvorfor hei takk
        godt darlig kundeservice blir ble vart gjor gjorde fins samme helt denne disse dette hos
        mer enn uten bare mot sine sitt hvis ikkje eg kva korleis annen annet finner ut opp litt
        kanskje gjennom mellom slik sann noen hele veldig bli synes nok vel jo selv ganske egentlig
        lenger derfor fordi mens hvilket sier tatt mannen uke kveld enna enda nesten
        morsom flott dessverre blitt hatt gikk kom gatt liker synes dessuten ganske ifolge inn likevel
        tilbake rett sett tillegg fremdeles fikk bak plass beste tatt"""
    ),
    "en": _wordset(
        """the and to of a in is it that this for on with my your you i me we they he she not no
        have has had was were are be been am do does did can cant could would will why what
        how when still just but or so if at from by about again never always thanks thank please
        help customer service any get got there their our us an as all very too dont isnt doesnt didnt wont"""
    ),
}
# Letters that only some of the languages use (counted once per word containing them).
_LETTER_HINTS = {"ä": ("sv",), "ö": ("sv",), "æ": ("da", "no"), "ø": ("da", "no")}
# Spelling that separates Norwegian from Danish where function words are shared: Norwegian keeps
# kj/gj before front vowels and the diphthong øy (kjøpe, gjøre, høyre) and writes -sjon; Danish writes
# -erne for definite plurals (bilerne / bilene), -hed (frihed / frihet) and -ede in the past (ventede).
_NO_PREFIXES = ("kjø", "kje", "gjø", "gje", "skje", "skjø")
_AFFIX_WEIGHT = 0.7


_NO_SUFFIXES = ("sjon", "sjonen", "sjoner", "sjonene")  # Danish/Swedish write -tion
_DA_SUFFIXES = ("erne", "hed", "heden", "heder", "ede")  # Norwegian: -ene, -het, -et


def _affix_hints(word: str) -> str | None:
    if word.startswith(_NO_PREFIXES) or "øy" in word or word.endswith(_NO_SUFFIXES):
        return "no"
    if len(word) > 5 and word.endswith(_DA_SUFFIXES):
        return "da"
    return None


LANGS = ("sv", "da", "no", "en")


@dataclass(frozen=True, slots=True)
class LanguageGuess:
    language: str  # sv/da/no/en/other
    confidence: float  # share of the evidence for the winner; 0.0 means "no evidence at all"


def _owner_shares() -> dict[str, tuple[tuple[str, float], ...]]:
    """word -> ((language, share), ...): a word listed for k languages gives each 1/k."""
    words_all = set().union(*STOPWORDS.values())
    table = {}
    for word in words_all:
        owners = [lang for lang in LANGS if word in STOPWORDS[lang]]
        table[word] = tuple((lang, 1.0 / len(owners)) for lang in owners)
    return table


_SHARES = _owner_shares()
_LETTERS_RE = re.compile(r"[^\W\d_]+")


def identify(text: str, min_evidence: float = 1.0) -> LanguageGuess:
    """Guess the language of `text` from function words and letters; "other" when evidence is thin."""
    score = dict.fromkeys(LANGS, 0.0)
    for word in words(text):
        for lang, share in _SHARES.get(word, ()):
            score[lang] += share
    for raw in _LETTERS_RE.findall(text.lower()):
        if not raw.isascii():
            for letter, owners in _LETTER_HINTS.items():
                if letter in raw:
                    for lang in owners:
                        score[lang] += 0.5 / len(owners)
        hinted = _affix_hints(raw)
        if hinted:
            score[hinted] += _AFFIX_WEIGHT
    total = sum(score.values())
    best = max(LANGS, key=lambda lang: score[lang])
    if total == 0.0:
        return LanguageGuess("other", 0.0)
    confidence = score[best] / total
    if score[best] < min_evidence:
        return LanguageGuess("other", confidence)
    return LanguageGuess(best, confidence)


def fingerprint() -> str:
    """A short hash of every list and weight above: scorers put it in their version string."""
    data = (sorted((k, sorted(v)) for k, v in STOPWORDS.items()), _LETTER_HINTS, _NO_PREFIXES)
    data += (_NO_SUFFIXES, _DA_SUFFIXES, _AFFIX_WEIGHT)
    return hashlib.sha256(repr(data).encode()).hexdigest()[:8]


_ALIASES = {"nb": "no", "nn": "no", "nob": "no", "nno": "no", "nor": "no", "swe": "sv", "dan": "da", "eng": "en"}


def normalise_language(tag: str | None) -> str | None:
    """Platform language tags ("sv-SE", "nb", "en_US", "dan") to our codes; None stays None."""
    if not tag:
        return None
    primary = fold(tag.strip()).replace("_", "-").split("-")[0]
    return _ALIASES.get(primary, primary) or None
