"""HTML to plain text for post bodies (Mastodon `content`, RSS descriptions, Reddit/YouTube HTML).

Only the standard library parser: it never fetches, never executes, and tolerates broken markup.
Block elements become line breaks so sentences of different paragraphs are not glued together
(which would confuse both the brand matcher and the sentiment model).
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

_BLOCK = {"p", "div", "li", "blockquote", "pre", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "ul", "ol"}
_SKIP = {"script", "style", "head", "title"}


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.links: list[str] = []
        self._skip_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self._skip_depth += 1
        elif tag == "br":
            self.parts.append("\n")
        elif tag in _BLOCK:
            self.parts.append("\n\n")
        elif tag == "a":
            values = dict(attrs)
            classes = (values.get("class") or "").split()
            href = values.get("href")
            # Mastodon marks @mentions and #hashtags as links: they are not outbound links.
            if href and not {"mention", "hashtag", "u-url"} & set(classes) and href.startswith("http"):
                self.links.append(href)

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self._skip_depth = max(0, self._skip_depth - 1)
        elif tag in _BLOCK:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if not self._skip_depth:
            self.parts.append(data)


def html_to_text_and_links(html: str) -> tuple[str, tuple[str, ...]]:
    parser = _TextExtractor()
    parser.feed(html or "")
    parser.close()
    text = "".join(parser.parts).replace("\xa0", " ")
    text = re.sub(r"[ \t]+\n", "\n", text)
    text = re.sub(r"\n{3,}", "\n\n", text)
    text = re.sub(r"[ \t]{2,}", " ", text)
    return text.strip(), tuple(dict.fromkeys(parser.links))


def html_to_text(html: str) -> str:
    """Readable text of an HTML fragment: tags dropped, entities decoded, paragraphs kept apart."""
    return html_to_text_and_links(html)[0]
