"""Reddit-flavoured Markdown to plain text, for post bodies that go into headlines, tickets and Slack.

Reddit's `selftext` and comment `body` are Markdown source (with `raw_json=1`, not HTML-escaped). Raw,
`**bold**`, `## tl;dr` and `[text](https://…)` end up verbatim in a headline or a Slack message. This
keeps the words and drops the markup: emphasis, headings, quotes, code fences, spoilers, superscript,
horizontal rules and table rules; a link keeps its text and its URL goes to the mention's links;
backslash escapes become the literal character; entities (`&amp;`, `&#x200B;`) are decoded. Not a full
CommonMark parser: it never fails and never loses a word, which matters more here than exact rendering.
"""

from __future__ import annotations

import html
import re

_ESCAPABLE = r"\\`*_{}\[\]()#+\-.!>~^|<&"
_ESCAPE = re.compile(rf"\\([{_ESCAPABLE}])")
_FENCE = re.compile(r"^ {0,3}(```|~~~)[^\n]*\n(.*?)(?:^ {0,3}\1[ \t]*$|\Z)", re.M | re.S)
_CODE_SPAN = re.compile(r"(`+)(.+?)\1", re.S)
_LINK = re.compile(r"(?<!!)\[([^\]\n]*)\]\(\s*<?(\S+?)>?(?:\s+\"[^\"]*\")?\s*\)")
_AUTOLINK = re.compile(r"<(https?://[^>\s]+)>")
_BARE_URL = re.compile(r"https?://[^\s<>()\[\]]+")
_HEADING = re.compile(r"^ {0,3}#{1,6}[ \t]*(.*?)[ \t]*#*[ \t]*$", re.M)
_SETEXT = re.compile(r"^(?:=+|-+)[ \t]*$", re.M)
_QUOTE = re.compile(r"^ {0,3}(?:>[ \t]?)+", re.M)
_RULE = re.compile(r"^ {0,3}(?:(?:\*[ \t]*){3,}|(?:-[ \t]*){3,}|(?:_[ \t]*){3,})$", re.M)
_TABLE_RULE = re.compile(r"^\|?[ \t]*:?-{3,}:?[ \t]*(?:\|[ \t]*:?-{3,}:?[ \t]*)*\|?[ \t]*$", re.M)
_DROPPED_LINE = "\ue002"  # a rule line, removed with its line break once every rule has matched
_LIST = re.compile(r"^([ \t]*)[*+][ \t]+", re.M)
_STRONG = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1", re.S)
_EMPHASIS = re.compile(r"(?<![\w*])\*(?=\S)(.+?)(?<=\S)\*(?![\w*])|(?<![\w_])_(?=\S)(.+?)(?<=\S)_(?![\w_])", re.S)
_STRIKE = re.compile(r"~~(?=\S)(.+?)(?<=\S)~~", re.S)
_SPOILER = re.compile(r">!(.+?)!<", re.S)
_SUPERSCRIPT = re.compile(r"\^\(([^)]*)\)|\^(?=\S)")
_ZERO_WIDTH = re.compile("[\u200b\u200c\u200d\u2060\ufeff]")
_PROTECT = "\ue000{}\ue001"  # private-use brackets: a stand-in nobody types
_PROTECTED = re.compile("\ue000(\\d+)\ue001")


def markdown_to_text_and_links(source: str) -> tuple[str, tuple[str, ...]]:
    """Plain text of Reddit Markdown, and the link targets it contained (in order, once each)."""
    kept: list[str] = []  # literal text (escapes, code) that later rules must not touch

    def protect(text: str) -> str:
        kept.append(text)
        return _PROTECT.format(len(kept) - 1)

    links: list[str] = []

    def link(match: re.Match[str]) -> str:
        links.append(match.group(2))
        return match.group(1) or match.group(2)

    text = source.replace("\r\n", "\n")
    text = _ESCAPE.sub(lambda m: protect(m.group(1)), text)
    text = _FENCE.sub(lambda m: protect(m.group(2).rstrip("\n")) + "\n", text)
    text = _CODE_SPAN.sub(lambda m: protect(m.group(2).strip()), text)
    text = _LINK.sub(link, text)
    text = _AUTOLINK.sub(lambda m: links.append(m.group(1)) or m.group(1), text)
    links.extend(m.group(0).rstrip(".,;:!?") for m in _BARE_URL.finditer(text))
    text = _TABLE_RULE.sub(_DROPPED_LINE, text)
    text = _RULE.sub(_DROPPED_LINE, text)
    text = re.sub(f"^{_DROPPED_LINE}\n?", "", text, flags=re.M)
    text = _HEADING.sub(r"\1", text)
    text = _SETEXT.sub("", text)
    text = _SPOILER.sub(r"\1", text)
    text = _QUOTE.sub("", text)
    text = _LIST.sub(r"\1- ", text)
    for _ in range(3):  # nested emphasis (***x***, **_x_**) unwraps one level per pass
        text = _STRONG.sub(r"\2", text)
        text = _EMPHASIS.sub(lambda m: m.group(1) or m.group(2), text)
    text = _STRIKE.sub(r"\1", text)
    text = _SUPERSCRIPT.sub(lambda m: m.group(1) or "", text)
    text = html.unescape(text)
    text = _ZERO_WIDTH.sub("", text)
    text = re.sub(r"[ \t]{2,}", " ", text)
    text = _PROTECTED.sub(lambda m: kept[int(m.group(1))], text)
    text = re.sub(r"[ \t]+\n", "\n", text)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip(), tuple(dict.fromkeys(u for u in links if u.startswith(("http://", "https://"))))


def markdown_to_text(source: str) -> str:
    """Plain text of Reddit Markdown (see `markdown_to_text_and_links`)."""
    return markdown_to_text_and_links(source)[0]
