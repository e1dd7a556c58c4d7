"""Brand matching: a small query language per brand, Nordic-aware.

Syntax (operators in capitals; lowercase "or"/"and" are ordinary words)::

    telia                     a word; also matches Telias, Telia's, SAS:s (genitive), Teliakundtjänst,
                              Telia-kundeservice, #TeliaFail, @Telia_Sverige (compounds that START with it)
    "kundtjänst telia"        a phrase: consecutive words (genitive allowed on each, compound on the last)
    telia*                    a prefix: any word starting with "telia"
    #telia  @telia_sverige    only as a hashtag / handle
    a b   a AND b             both
    a OR b                    either
    -a   NOT a                not
    a NEAR/3 b                at most 3 words between a and b, either order
    ( ... )                   grouping
    lang:sv  lang:sv,da       language filter (platform tag, else our own identifier)
    source:mastodon           source (connector) filter

Precedence, tightest first: NOT/-, NEAR, AND, OR.

Why "start of a word" and not substring: "SAS" must not match "Kansas". A closed compound such as
"Teliakundtjänst" is accepted when the brand has at least 4 letters and the rest at least 3, or when the
letter case marks the join ("SASfail", "#TeliaFail"); so "sasha" is not SAS but "SAS-flyg" is.

Filters use three-valued logic: when the language or source is unknown, `lang:sv` is neither true nor
false, and a mention that could match is kept: losing an unhappy customer costs more than one extra row.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from monitor.kernel.langid import identify, normalise_language
from monitor.kernel.textfold import JOINERS, Token, tokenize

# Apostrophes are folded away before matching, so "Telia's" arrives here as "telias".
GENITIVES = frozenset({"s", ":s", ":n", ":en", ":ns", ":ens"})
MIN_COMPOUND_BRAND = 4
MIN_COMPOUND_REST = 3
# Inflections and derivations, not second words of a compound: "Coopers" is not "Coop" + "ers".
NOT_COMPOUND_RESTS = frozenset(
    {
        "ers",
        "ens",
        "ets",
        "ene",
        "ane",
        "are",
        "ern",
        "ing",
        "ade",
        "ede",
        "est",
        "ish",
        "ism",
        "ist",
        "ies",
        "ier",
    }
)
FILTER_FIELDS = {"lang": "lang", "language": "lang", "source": "source"}

Truth = bool | None  # None: unknown (three-valued logic for filters on missing metadata)


class QueryError(ValueError):
    """A query that cannot be compiled; `position` is the 0-based character offset of the problem."""

    def __init__(self, message: str, expr: str, position: int) -> None:
        self.message = message
        self.expr = expr
        self.position = position
        super().__init__(f"{message} at position {position}\n  {expr}\n  {' ' * position}^")


# --------------------------------------------------------------------------- word matching


def _case_marks_join(original: str, split: int) -> bool:
    """True when the letter case shows a compound join at `split` ("SASfail", "SASFail", "TeliaFail")."""
    if split <= 0 or split >= len(original):
        return False
    head, nxt = original[:split], original[split]
    if len(head) >= 2 and head.isupper() and nxt.islower():
        return True
    if len(head) >= 2 and head.isupper() and nxt.isupper() and original[split + 1 : split + 2].islower():
        return True  # "SASFail": a capitalised word follows the acronym
    return head[-1].islower() and nxt.isupper()


def _word_match(
    term: str, folded: str, index: tuple[int, ...], original: str, *, prefix: bool, last: bool
) -> bool:
    """Does the folded word start with `term` in a way that means the brand (see module docstring)?"""
    if not folded.startswith(term):
        return False
    rest = folded[len(term) :]
    if not rest or prefix or rest in GENITIVES:
        return True
    if not last:
        return False
    if rest[0] in JOINERS:
        return rest[0] != "&"  # "Telia:hej" ends the word at the colon; "AT&T" is not "AT"
    if not rest[0].isalpha():
        return False
    if len(term) >= MIN_COMPOUND_BRAND and len(rest) >= MIN_COMPOUND_REST and rest not in NOT_COMPOUND_RESTS:
        return True
    return _case_marks_join(original, index[len(term)])


@dataclass(frozen=True, slots=True)
class Word:
    """One query word in both folded forms."""

    strip: str
    translit: str
    prefix: bool = False
    marker: str = ""

    def matches(self, token: Token, *, last: bool = True) -> bool:
        if self.marker and token.marker != self.marker:
            return False
        # Most tokens share no prefix with the term: reject them before the detailed rules.
        if token.strip.startswith(self.strip) and _word_match(
            self.strip, token.strip, token.strip_index, token.original, prefix=self.prefix, last=last
        ):
            return True
        return token.translit.startswith(self.translit) and _word_match(
            self.translit, token.translit, token.translit_index, token.original, prefix=self.prefix, last=last
        )


# --------------------------------------------------------------------------- evaluation


@dataclass(slots=True)
class Context:
    tokens: list[Token]
    language: str | None
    language_known: bool
    source: str | None
    spans: dict[int, list[Span]] = field(default_factory=dict)  # per-phrase results for this text


Span = tuple[int, int]  # token indices [start, end)


class Node(Protocol):
    def evaluate(self, ctx: Context) -> Truth: ...


class Positional(Node, Protocol):
    def spans(self, ctx: Context) -> list[Span]: ...


@dataclass(frozen=True, slots=True)
class Phrase:
    """One or more consecutive words (a bare term is a one-word phrase)."""

    words: tuple[Word, ...]
    joined: Word | None = None  # the whole phrase as one closed compound: "Teliakundtjänst"

    @classmethod
    def of(cls, words: tuple[Word, ...]) -> Phrase:
        if len(words) == 1:
            return cls(words)
        joined = Word(
            "".join(w.strip for w in words),
            "".join(w.translit for w in words),
            words[-1].prefix,
            words[0].marker,
        )
        return cls(words, joined)

    def spans(self, ctx: Context) -> list[Span]:
        cached = ctx.spans.get(id(self))
        if cached is not None:
            return cached
        n, toks, first = len(self.words), ctx.tokens, self.words[0]
        found = [
            (i, i + n)
            for i in range(len(toks) - n + 1)
            if first.matches(toks[i], last=n == 1)
            and all(w.matches(toks[i + k], last=k == n - 1) for k, w in enumerate(self.words[1:], 1))
        ]
        if self.joined is not None:
            found += [(i, i + 1) for i, tok in enumerate(toks) if self.joined.matches(tok)]
        ctx.spans[id(self)] = found
        return found

    def evaluate(self, ctx: Context) -> Truth:
        return bool(self.spans(ctx))


@dataclass(frozen=True, slots=True)
class Near:
    left: Positional
    right: Positional
    distance: int

    def spans(self, ctx: Context) -> list[Span]:
        out = []
        for a in self.left.spans(ctx):
            for b in self.right.spans(ctx):
                gap = max(b[0] - a[1], a[0] - b[1])  # words strictly between the two spans
                if gap <= self.distance:
                    out.append((min(a[0], b[0]), max(a[1], b[1])))
        return out

    def evaluate(self, ctx: Context) -> Truth:
        return bool(self.spans(ctx))


@dataclass(frozen=True, slots=True)
class Or:
    children: tuple[Node, ...]

    def evaluate(self, ctx: Context) -> Truth:
        results = [c.evaluate(ctx) for c in self.children]
        return True if True in results else (None if None in results else False)

    def spans(self, ctx: Context) -> list[Span]:
        return [s for c in self.children for s in c.spans(ctx)]  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class And:
    children: tuple[Node, ...]

    def evaluate(self, ctx: Context) -> Truth:
        results = []
        for child in self.children:
            result = child.evaluate(ctx)
            if result is False:
                return False
            results.append(result)
        return None if None in results else True


@dataclass(frozen=True, slots=True)
class Not:
    child: Node

    def evaluate(self, ctx: Context) -> Truth:
        result = self.child.evaluate(ctx)
        return None if result is None else not result


@dataclass(frozen=True, slots=True)
class Filter:
    field: str  # "lang" or "source"
    values: frozenset[str]

    def evaluate(self, ctx: Context) -> Truth:
        if self.field == "source":
            return None if ctx.source is None else ctx.source in self.values
        if not ctx.language_known:
            return None
        return ctx.language in self.values


def _positional(node: Node) -> bool:
    if isinstance(node, Phrase | Near):
        return True
    return isinstance(node, Or) and all(_positional(c) for c in node.children)


def _requires_words(node: Node) -> bool:
    """Does every match of `node` need at least one word? (a query of only filters/negations would not)"""
    if isinstance(node, Phrase | Near):
        return True
    if isinstance(node, And):
        return any(_requires_words(c) for c in node.children)
    if isinstance(node, Or):
        return all(_requires_words(c) for c in node.children)
    return False


def _uses_language(node: Node) -> bool:
    if isinstance(node, Filter):
        return node.field == "lang"
    children = getattr(node, "children", None) or [getattr(node, "child", None)]
    return any(c is not None and _uses_language(c) for c in children)


# --------------------------------------------------------------------------- lexer and parser

_LEX_RE = re.compile(r'\s+|\(|\)|"[^"]*"?|[^\s()"]+')
_NEAR_RE = re.compile(r"NEAR(?:/(\d+))?$")


@dataclass(frozen=True, slots=True)
class _Lex:
    kind: str  # "(", ")", "OR", "AND", "NOT", "NEG", "NEAR", "PHRASE", "TERM", "FILTER", "END"
    text: str
    pos: int
    distance: int = 0


def _lex(expr: str) -> list[_Lex]:
    out: list[_Lex] = []
    for m in _LEX_RE.finditer(expr):
        raw, pos = m.group(), m.start()
        if raw.isspace():
            continue
        if raw in "()":
            out.append(_Lex(raw, raw, pos))
        elif raw.startswith('"'):
            if len(raw) < 2 or not raw.endswith('"'):
                raise QueryError("unterminated phrase (missing closing quote)", expr, pos)
            out.append(_Lex("PHRASE", raw[1:-1], pos))
        elif raw in ("OR", "AND", "NOT"):
            out.append(_Lex(raw, raw, pos))
        elif near := _NEAR_RE.match(raw):
            if near.group(1) is None:
                raise QueryError("NEAR needs a distance in words, e.g. NEAR/3", expr, pos)
            out.append(_Lex("NEAR", raw, pos, int(near.group(1))))
        elif raw.startswith("-") and len(raw) > 1:
            out.append(_Lex("NEG", "-", pos))
            out.extend(_lex_word(raw[1:], pos + 1, expr))
        elif raw == "-" and expr[m.end() : m.end() + 1] in ("(", '"'):
            out.append(_Lex("NEG", "-", pos))
        elif raw == "-":
            raise QueryError("'-' must be followed directly by the excluded term", expr, pos)
        else:
            out.extend(_lex_word(raw, pos, expr))
    out.append(_Lex("END", "", len(expr)))
    return out


def _lex_word(raw: str, pos: int, expr: str) -> list[_Lex]:
    field, colon, value = raw.partition(":")
    if colon and field.lower() in FILTER_FIELDS:
        if not value:
            raise QueryError(f"filter {field}: needs a value", expr, pos)
        return [_Lex("FILTER", raw, pos)]
    if colon and field.isalpha() and value and not re.fullmatch(r"s|n|en|ns|ens", value, re.IGNORECASE):
        raise QueryError(f"unknown filter {field!r} (known: lang, source)", expr, pos)
    return [_Lex("TERM", raw, pos)]


class _Parser:
    def __init__(self, expr: str) -> None:
        self.expr = expr
        self.lexes = _lex(expr)
        self.i = 0

    def peek(self) -> _Lex:
        return self.lexes[self.i]

    def take(self) -> _Lex:
        lex = self.lexes[self.i]
        self.i += 1
        return lex

    def error(self, message: str, lex: _Lex | None = None) -> QueryError:
        return QueryError(message, self.expr, (lex or self.peek()).pos)

    def parse(self) -> Node:
        if self.peek().kind == "END":
            raise self.error("empty query")
        node = self.parse_or()
        if self.peek().kind == ")":
            raise self.error("unbalanced ')'")
        if self.peek().kind != "END":
            raise self.error(f"unexpected {self.peek().text!r}")
        return node

    def parse_or(self) -> Node:
        children = [self.parse_and()]
        while self.peek().kind == "OR":
            self.take()
            children.append(self.parse_and())
        return children[0] if len(children) == 1 else Or(tuple(children))

    def parse_and(self) -> Node:
        children = [self.parse_near()]
        while self.peek().kind not in ("OR", ")", "END"):
            if self.peek().kind == "AND":
                self.take()
            children.append(self.parse_near())
        return children[0] if len(children) == 1 else And(tuple(children))

    def parse_near(self) -> Node:
        start = self.peek()
        node = self.parse_unary()
        while self.peek().kind == "NEAR":
            near = self.take()
            right_lex = self.peek()
            right = self.parse_unary()
            if not _positional(node):
                raise self.error("NEAR needs words or phrases on its left", start)
            if not _positional(right):
                raise self.error("NEAR needs words or phrases on its right", right_lex)
            node = Near(node, right, near.distance)  # type: ignore[arg-type]
        return node

    def parse_unary(self) -> Node:
        lex = self.peek()
        if lex.kind in ("NEG", "NOT"):
            self.take()
            return Not(self.parse_unary())
        return self.parse_primary()

    def parse_primary(self) -> Node:
        lex = self.take()
        if lex.kind == "(":
            if self.peek().kind == ")":
                raise self.error("empty parentheses")
            node = self.parse_or()
            if self.peek().kind != ")":
                raise self.error("missing ')' for the '(' opened", lex)
            self.take()
            return node
        if lex.kind in ("PHRASE", "TERM"):
            return self.phrase(lex)
        if lex.kind == "FILTER":
            field, _, value = lex.text.partition(":")
            values = frozenset(
                (normalise_language(v) or "") if FILTER_FIELDS[field.lower()] == "lang" else v.strip().lower()
                for v in value.split(",")
            )
            if "" in values:
                raise self.error(f"empty value in filter {lex.text!r}", lex)
            return Filter(FILTER_FIELDS[field.lower()], values)
        if lex.kind == "END":
            raise self.error("query ends where a term was expected", lex)
        if lex.kind == ")":
            raise self.error("unbalanced ')'", lex)
        raise self.error(f"{lex.text!r} needs a term first", lex)

    def phrase(self, lex: _Lex) -> Phrase:
        text = lex.text
        prefix = text.endswith("*")
        if prefix:
            text = text[:-1]
        if "*" in text:
            raise self.error("'*' is only allowed at the end of a word", lex)
        tokens = tokenize(text)
        if not tokens:
            raise self.error(f"{lex.text!r} has no letters or digits", lex)
        words = tuple(
            Word(t.strip, t.translit, prefix and k == len(tokens) - 1, t.marker if k == 0 else "")
            for k, t in enumerate(tokens)
        )
        return Phrase.of(words)


# --------------------------------------------------------------------------- public API


@dataclass(frozen=True, slots=True)
class BrandMatcher:
    """A compiled brand query. Thread-safe and cheap to call for every fetched mention."""

    expr: str
    root: Node
    uses_language: bool

    def matches(self, text: str, language: str | None = None, source: str | None = None) -> bool:
        """True when `text` (with its platform language tag and source name, if known) mentions the brand."""
        lang = normalise_language(language)
        known = lang is not None
        if lang is None and self.uses_language:
            guess = identify(text)
            lang, known = guess.language, guess.confidence > 0.0 and guess.language != "other"
        ctx = Context(tokenize(text), lang, known, source.strip().lower() if source else None)
        return self.root.evaluate(ctx) is not False


def compile_query(expr: str) -> BrandMatcher:
    """Compile a brand query; raises QueryError naming the position of the first problem."""
    root = _Parser(expr).parse()
    if not _requires_words(root):
        raise QueryError("the query needs at least one word or phrase that must be present", expr, 0)
    return BrandMatcher(expr, root, _uses_language(root))


def quote_term(term: str) -> str:
    """A user-supplied name or term as a safe query phrase (quotes inside are dropped)."""
    cleaned = term.replace('"', " ").strip()
    if not cleaned or not any(ch.isalnum() for ch in cleaned):
        raise QueryError(f"term {term!r} has no letters or digits", term, 0)
    return f'"{cleaned}"'


def build_brand_query(
    name: str,
    aliases: Iterable[str] = (),
    include: Sequence[str] = (),
    exclude: Iterable[str] = (),
    languages: Iterable[str] = (),
) -> str:
    """The query expression for a configured brand.

    name OR any alias must appear; if `include` terms are given, at least one of them must also appear
    (context that disambiguates a common-word brand, e.g. "Posten" + "paket", "leverans"); no `exclude`
    term may appear; and when `languages` are given the post must be in one of them.
    """
    names = [quote_term(n) for n in (name, *aliases)]
    parts = ["(" + " OR ".join(dict.fromkeys(names)) + ")"]
    if include:
        parts.append("(" + " OR ".join(quote_term(t) for t in include) + ")")
    parts += [f"-{quote_term(t)}" for t in exclude]
    langs = [normalise_language(lang) or "" for lang in languages]
    if any(not lang or not lang.isalpha() for lang in langs):
        raise QueryError(f"bad language code in {list(languages)!r}", ",".join(languages), 0)
    if langs:
        parts.append("lang:" + ",".join(dict.fromkeys(langs)))
    return " ".join(parts)


def compile_brand(
    name: str,
    aliases: Iterable[str] = (),
    include: Sequence[str] = (),
    exclude: Iterable[str] = (),
    languages: Iterable[str] = (),
    query: str | None = None,
) -> BrandMatcher:
    """A matcher for a configured brand: its explicit `query` if given, else one built from its terms."""
    if query:
        return compile_query(query)
    return compile_query(build_brand_query(name, aliases, include, exclude, languages))
