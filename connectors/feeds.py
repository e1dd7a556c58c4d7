"""Parse RSS 2.0 and Atom 1.0 safely with the standard library.

Feeds are untrusted XML. Python's expat does not fetch external entities, but it does expand
internal ones (the "billion laughs" attack), so any document declaring a DTD or entity is refused
before parsing, which is what defusedxml's strict mode does, without the extra dependency.
"""

from __future__ import annotations

import email.utils
import hashlib
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import datetime
from xml.parsers import expat

from connectors.http.base import parse_time
from connectors.text import html_to_text_and_links

ATOM = "{http://www.w3.org/2005/Atom}"
DC = "{http://purl.org/dc/elements/1.1/}"
CONTENT = "{http://purl.org/rss/1.0/modules/content/}"


class FeedError(ValueError):
    """Not a feed we can read (malformed XML, a DTD, or neither RSS nor Atom)."""


@dataclass(frozen=True)
class FeedItem:
    id: str
    title: str
    text: str
    link: str | None
    published: datetime | None
    author: str | None
    publisher: str | None
    links: tuple[str, ...]


def _time(value: str | None) -> datetime | None:
    """RFC 822 (RSS) or RFC 3339 (Atom), within `parse_time`'s plausible range; None otherwise. A
    `pubDate` in year 9999 west of UTC overflowed while converting and failed the whole feed."""
    if not value:
        return None
    value = value.strip()[:64]
    try:
        parsed = email.utils.parsedate_to_datetime(value)  # RSS: RFC 822 dates
    except (TypeError, ValueError, IndexError, OverflowError):
        return parse_time(value)  # Atom: RFC 3339
    return parse_time(parsed.isoformat())  # naive = UTC; range-checked, overflow-safe


def _text(element: ET.Element | None) -> str:
    return (element.text or "").strip() if element is not None else ""


def _refuse_dtd(body: bytes) -> None:
    """Raise FeedError if the document declares a DTD or an entity, in whatever encoding it is written.

    A byte search for `<!DOCTYPE` misses a UTF-16 document (BOM or declared); expat decodes first,
    so the check sees what the parser would see. One pass without building a tree."""

    def refuse(*_: object) -> None:
        raise FeedError("feed declares a DTD or entities; refused (XML entity expansion attack)")

    parser = expat.ParserCreate()
    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.UnparsedEntityDeclHandler = refuse
    try:
        parser.Parse(body, True)
    except expat.ExpatError as exc:
        raise FeedError(f"malformed XML: {exc}") from exc
    except (LookupError, UnicodeError) as exc:  # `<?xml encoding="uti-8"?>`: a codec Python lacks
        raise FeedError(f"unreadable XML encoding: {exc}") from exc


def parse_feed(body: bytes) -> list[FeedItem]:
    _refuse_dtd(body)
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise FeedError(f"malformed XML: {exc}") from exc
    except (LookupError, UnicodeError) as exc:
        raise FeedError(f"unreadable XML encoding: {exc}") from exc
    if root.tag == "rss" or root.tag.endswith("RDF"):
        return [_rss_item(item) for item in root.iter("item")]
    if root.tag == f"{ATOM}feed":
        return [_atom_entry(entry) for entry in root.iter(f"{ATOM}entry")]
    raise FeedError(f"not an RSS or Atom feed (root element {root.tag!r})")


def _fallback_id(*parts: str | None) -> str:
    return "sha1:" + hashlib.sha1("\x1f".join(p or "" for p in parts).encode()).hexdigest()


def _rss_item(item: ET.Element) -> FeedItem:
    title = _text(item.find("title"))
    html = _text(item.find(f"{CONTENT}encoded")) or _text(item.find("description"))
    body, links = html_to_text_and_links(html)
    link = _text(item.find("link")) or None
    published = _time(_text(item.find("pubDate")) or _text(item.find(f"{DC}date")))
    source = item.find("source")
    return FeedItem(
        id=_text(item.find("guid")) or link or _fallback_id(title, html),
        title=title,
        text=body,
        link=link,
        published=published,
        author=_text(item.find(f"{DC}creator")) or _text(item.find("author")) or None,
        publisher=_text(source) or None,
        links=links,
    )


def _atom_entry(entry: ET.Element) -> FeedItem:
    title = _text(entry.find(f"{ATOM}title"))
    content = entry.find(f"{ATOM}content")
    if content is None:
        content = entry.find(f"{ATOM}summary")
    raw = _text(content)
    body, links = (
        html_to_text_and_links(raw)
        if content is not None and content.get("type") in ("html", "xhtml")
        else (raw, ())
    )
    link = None
    for candidate in entry.findall(f"{ATOM}link"):
        if candidate.get("rel", "alternate") == "alternate" and candidate.get("href"):
            link = candidate.get("href")
            break
    published = _time(_text(entry.find(f"{ATOM}published")) or _text(entry.find(f"{ATOM}updated")))
    return FeedItem(
        id=_text(entry.find(f"{ATOM}id")) or link or _fallback_id(title, raw),
        title=title,
        text=body,
        link=link,
        published=published,
        author=_text(entry.find(f"{ATOM}author/{ATOM}name")) or None,
        publisher=None,
        links=links,
    )
