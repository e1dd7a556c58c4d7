"""Find and blank copies of a post inside free text and JSON payloads.

A mention's text, handle and URL are copied into alert headlines, alert evidence, story headlines and
outbox payloads (Slack blocks, ticket bodies) - often escaped for Slack or HTML, and often truncated.
Retention and erasure are only honest if those copies go too, so this module matches every variant:
exact, Slack-escaped, HTML-escaped, and a truncated prefix of a long text.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from monitor.kernel.store.pseudonym import normalise_handle

REDACTED = "[removed]"
# A copy truncated to this many characters or more is still recognised as a copy of the text.
MIN_PREFIX = 24
# Texts shorter than this are only replaced as whole words: "ok" must not be cut out of "broken".
SHORT_TEXT = 12
AUTHOR_KEY_PREFIX = 12  # hex digits of the keyed hash that sinks print as a short pseudonym


def slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@dataclass
class Needles:
    """Everything that identifies one set of posts or one author, ready to be searched for."""

    texts: set[str] = field(default_factory=set)
    literals: set[str] = field(default_factory=set)  # URLs: replaced wherever they occur
    handles: set[str] = field(default_factory=set)  # normalised handles: replaced as whole words

    def add_text(self, text: str | None) -> None:
        if text and text.strip():
            self.texts.add(text.strip())

    def add_literal(self, value: str | None) -> None:
        if value and len(value.strip()) >= 4:
            self.literals.add(value.strip())

    def add_author_key(self, author_key: str | None) -> None:
        """The keyed hash and the short form sinks show (e.g. Zendesk's "Social user 1a2b3c4d5e6f")."""
        if author_key:
            self.literals.add(author_key)
            self.literals.add(author_key[:AUTHOR_KEY_PREFIX])

    def add_handle(self, handle: str | None) -> None:
        if handle and normalise_handle(handle):
            self.handles.add(normalise_handle(handle))

    def __bool__(self) -> bool:
        return bool(self.texts or self.literals or self.handles)

    def compile(self) -> Redactor:
        return Redactor(self)


def _variants(value: str) -> set[str]:
    """The forms a copy takes: as is or with whitespace collapsed (excerpts), each raw or escaped."""
    out: set[str] = set()
    for base in {value, " ".join(value.split())}:
        out |= {base, slack_escape(base), html.escape(base, quote=False), html.escape(base)}
    return out


def _word(value: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![\w@.]){re.escape(value)}(?![\w])", re.IGNORECASE)


def _replace_words(value: str, words: list[str]) -> str:
    """Replace whole-word occurrences (case-insensitive) of the words that occur in `value`."""
    body = "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))  # longest first
    return re.sub(rf"(?<![\w@.])(?:{body})(?![\w])", REDACTED, value, flags=re.IGNORECASE)


class Redactor:
    """Replaces every copy of the needles in strings and JSON values with REDACTED.

    Built once per batch of mentions and applied to many strings, so lookups are indexed: long texts
    by their first MIN_PREFIX characters (every whole or truncated copy starts with them); URLs and
    handles are pre-filtered with substring tests (C speed) and only the few that occur are matched
    by a pattern. Compiling one pattern for thousands of needles costs more than it saves.
    """

    def __init__(self, needles: Needles) -> None:
        self._by_probe: dict[str, list[str]] = {}
        self._medium: list[str] = []  # SHORT_TEXT..MIN_PREFIX characters: matched whole, by scanning
        words: set[str] = set()
        for text in needles.texts:
            for variant in _variants(text):
                if len(variant) > MIN_PREFIX:
                    self._by_probe.setdefault(variant[:MIN_PREFIX], []).append(variant)
                elif len(variant) >= SHORT_TEXT:
                    self._medium.append(variant)
                else:
                    words.add(variant)
        for handle in needles.handles:
            words.add("@" + handle)
            if "." in handle or "@" in handle:  # distinctive enough to match without its '@'
                words.add(handle)
            local, _, server = handle.partition("@")
            if server and len(local) >= 3:
                words.add("@" + local)  # a fediverse handle shortened to its local part
        # Longest first, so a URL is replaced before a shorter URL that is its prefix.
        self._literals = sorted({v for lit in needles.literals for v in _variants(lit)}, key=len, reverse=True)
        self._words = sorted({w.casefold() for w in words}, key=len, reverse=True)

    def _candidates(self, value: str) -> list[str]:
        found: set[str] = {t for t in self._medium if t in value}
        if self._by_probe:
            for i in range(len(value) - MIN_PREFIX + 1):
                if (texts := self._by_probe.get(value[i : i + MIN_PREFIX])) is not None:
                    found.update(texts)
        return sorted(found, key=len, reverse=True)  # longest first: a text before a shorter variant

    def text(self, value: str) -> str:
        # Texts first, so a URL or handle inside a quoted post does not split the quote up.
        if candidates := self._candidates(value):
            value = _replace_texts(value, candidates)
        for literal in self._literals:
            if literal in value:
                value = value.replace(literal, REDACTED)
        if self._words:
            folded = value.casefold()
            if present := [w for w in self._words if w in folded]:
                value = _replace_words(value, present)
        return value

    def json(self, value: Any) -> Any:
        """A redacted copy of a JSON value (never mutated in place: ORM change tracking needs a new object)."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {k: self.json(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.json(v) for v in value]
        return value


def _replace_texts(value: str, texts: list[str]) -> str:
    """Replace whole copies of the texts, then truncated ones (a prefix of at least MIN_PREFIX characters).

    Whole copies go first and a truncated copy is extended as far as *any* variant matches, because the
    escaped and unescaped variants share their first characters and would otherwise cut each other short.
    """
    for text in texts:
        if text in value:
            value = value.replace(text, REDACTED)
    spans: list[tuple[int, int]] = []
    for text in texts:
        if len(text) <= MIN_PREFIX:
            continue
        probe = text[:MIN_PREFIX]
        pos = 0
        while (start := value.find(probe, pos)) != -1:
            end, offset = start + MIN_PREFIX, MIN_PREFIX
            while end < len(value) and offset < len(text) and value[end] == text[offset]:
                end += 1
                offset += 1
            spans.append((start, end))
            pos = start + 1
    if not spans:
        return value
    merged: list[list[int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    out, pos = [], 0
    for start, end in merged:
        out += [value[pos:start], REDACTED]
        pos = end
    out.append(value[pos:])
    return "".join(out)


def needles_for(
    texts: Iterable[str | None] = (), literals: Iterable[str | None] = (), handles: Iterable[str | None] = ()
) -> Needles:
    needles = Needles()
    for t in texts:
        needles.add_text(t)
    for lit in literals:
        needles.add_literal(lit)
    for h in handles:
        needles.add_handle(h)
    return needles
