"""File source: import mentions from a JSON Lines or CSV export of another tool.

It is how users bring in history from elsewhere, and how tests and benchmarks feed known mentions.

Resumable: the cursor is the byte offset and line number after the last row a page covers, stored in
the same transaction as that page's mentions; an interrupted import continues where it stopped and an
export that grows (appended rows) is picked up on the next poll. A file that shrank below the cursor
was replaced, so it is read again from the start (storage is idempotent, nothing is duplicated).

Bad rows are never silently dropped and never stop the import: each becomes a note on its page
("line 17: created_at 'x' is not a timestamp"), is logged, and is kept in `errors`. With
`on_error = "fail"` the first bad row instead raises a SourceError before its page is yielded, so the
cursor stays in front of it.
"""

from __future__ import annotations

import codecs
import csv
import json
import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from connectors.file_rows import KNOWN, REQUIRED, RowError, row_to_mention
from monitor.kernel.types import BrandQuery, EngagementUpdate, FetchedMention, Page, SourceError

log = logging.getLogger(__name__)

_JSONL_SUFFIXES = {".jsonl", ".ndjson", ".json"}
_CSV_SUFFIXES = {".csv", ".tsv", ".txt"}
_BOM = codecs.BOM_UTF8


@dataclass(frozen=True, slots=True)
class BadRow:
    line: int  # 1-based physical line where the row starts
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


@dataclass(frozen=True, slots=True)
class _Row:
    line: int
    end_offset: int  # byte offset just after this row
    end_line: int  # next line number to read
    mention: FetchedMention | None
    error: BadRow | None


class FileConnector:
    """Reads a JSONL or CSV export in pages; see the module docstring for cursor and error handling."""

    name: ClassVar[str] = "file"

    class Settings(BaseModel):
        model_config = ConfigDict(extra="forbid")

        path: Path = Field(description="The export file (JSON Lines or CSV with a header row).")
        format: Literal["auto", "jsonl", "csv"] = Field("auto", description="auto: by suffix, then content.")
        page_size: int = Field(500, ge=1, le=50_000, description="Rows per page (and per transaction).")
        encoding: Literal["utf-8", "cp1252", "latin-1", "iso-8859-15"] = Field(
            "utf-8", description="Text encoding (Excel on Windows often writes cp1252)."
        )
        on_error: Literal["report", "fail"] = Field(
            "report", description="report: note bad rows and go on; fail: stop at the first bad row."
        )

    def __init__(self, settings: Settings | Mapping[str, Any]) -> None:
        self.settings = settings if isinstance(settings, self.Settings) else self.Settings(**settings)
        self.errors: list[BadRow] = []

    # ------------------------------------------------------------------ protocol

    def fetch(self, query: BrandQuery, cursor: Mapping[str, Any] | None) -> Iterator[Page]:
        """Pages of mentions after `cursor`; every row read is either a mention or a note on its page."""
        path = self.settings.path
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            raise SourceError("config", f"export file not found: {path}") from None
        except OSError as exc:
            raise SourceError("config", f"cannot read export file {path}: {exc.strerror}") from None
        offset, line = int((cursor or {}).get("offset", 0)), int((cursor or {}).get("line", 1))
        restart_note: tuple[str, ...] = ()
        previous = (cursor or {}).get("path")
        if previous and previous != str(path):
            restart_note = (f"source now reads {path} instead of {previous}: imported from the start",)
        elif offset > size:
            restart_note = (f"{path.name} is smaller than the saved position: re-imported from the start",)
        if restart_note:
            log.warning("%s", restart_note[0])
            offset, line = 0, 1
        if offset == size and not restart_note:
            return
        fmt = self._format(path)
        rows = self._jsonl_rows(path, offset, line) if fmt == "jsonl" else self._csv_rows(path, offset, line)
        yield from self._paginate(rows, restart_note)

    def repoll(self, external_ids: Sequence[str]) -> Iterator[EngagementUpdate]:
        """An export is a snapshot: there is nothing to re-poll."""
        return iter(())

    # ------------------------------------------------------------------ paging

    def _paginate(self, rows: Iterator[_Row], notes: tuple[str, ...]) -> Iterator[Page]:
        mentions: list[FetchedMention] = []
        page_notes = list(notes)
        count = 0
        last: _Row | None = None
        for row in rows:
            last, count = row, count + 1
            if row.error is not None:
                self._bad_row(row.error, page_notes)
            elif row.mention is not None:
                mentions.append(row.mention)
            if count >= self.settings.page_size:
                yield self._page(mentions, page_notes, last)
                mentions, page_notes, count = [], [], 0
        if last is not None and (count or page_notes):
            yield self._page(mentions, page_notes, last)

    def _bad_row(self, error: BadRow, page_notes: list[str]) -> None:
        if self.settings.on_error == "fail":
            raise SourceError("fatal", f"{self.settings.path.name} {error}")
        log.warning("%s %s", self.settings.path.name, error)
        self.errors.append(error)
        page_notes.append(f"{self.settings.path.name} {error}")

    def _page(self, mentions: list[FetchedMention], notes: list[str], last: _Row) -> Page:
        cursor = {"offset": last.end_offset, "line": last.end_line, "path": str(self.settings.path)}
        return Page(mentions=tuple(mentions), cursor=cursor, notes=tuple(notes))

    # ------------------------------------------------------------------ formats

    def _format(self, path: Path) -> str:
        if self.settings.format != "auto":
            return self.settings.format
        suffix = path.suffix.lower()
        if suffix in _JSONL_SUFFIXES:
            return "jsonl"
        if suffix in _CSV_SUFFIXES:
            return "csv"
        with path.open("rb") as fh:
            head = fh.read(4096).lstrip(_BOM).lstrip()
        return "jsonl" if head.startswith(b"{") else "csv"

    @staticmethod
    def _lines(path: Path, offset: int, line: int) -> Iterator[tuple[int, int, bytes]]:
        """(line number, offset after the line, raw bytes) from `offset` on."""
        with path.open("rb") as fh:
            fh.seek(offset)
            for raw in fh:
                offset += len(raw)
                yield line, offset, raw
                line += 1

    def _jsonl_rows(self, path: Path, offset: int, line: int) -> Iterator[_Row]:
        for number, end, raw in self._lines(path, offset, line):
            if number == 1:
                raw = raw.removeprefix(_BOM)
            if not raw.strip():
                continue  # blank lines carry no row
            parsed = _jsonl_row(number, end, raw, self.settings.encoding)
            if parsed.error is not None and not raw.endswith(b"\n"):
                # An unterminated last line that does not parse is still being written: stop before it,
                # so the cursor stays there and the finished row is read on the next poll.
                return
            yield parsed

    def _csv_rows(self, path: Path, offset: int, line: int) -> Iterator[_Row]:
        header, header_end = _csv_header(path, self.settings.encoding)
        delimiter = max(",;\t", key=header.count)
        columns = [c.strip().lower() for c in next(csv.reader([header], delimiter=delimiter))]
        missing = [c for c in REQUIRED if c not in columns]
        if missing:
            raise SourceError("config", f"{path.name}: CSV header lacks column(s) {', '.join(missing)}")
        unknown = [c for c in columns if c not in KNOWN]
        if unknown:
            log.info("%s: extra CSV columns kept in raw: %s", path.name, ", ".join(unknown))
        if offset < header_end:
            offset, line = header_end, 2
        tracker = _LineTracker(self._lines(path, offset, line), offset, line, self.settings.encoding)
        reader = csv.reader(tracker, delimiter=delimiter, strict=True)
        while True:
            start = tracker.next_line
            try:
                record = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield _Row(start, tracker.offset, tracker.next_line, None, BadRow(start, f"malformed CSV: {exc}"))
                continue
            if not record or not any(cell.strip() for cell in record):
                continue
            error = tracker.take_decode_error()
            if len(record) != len(columns):
                error = f"has {len(record)} fields, the header has {len(columns)}"
            if error:
                yield _Row(start, tracker.offset, tracker.next_line, None, BadRow(start, error))
                continue
            yield _parsed(start, tracker.offset, tracker.next_line, dict(zip(columns, record, strict=True)))


def _jsonl_row(number: int, end: int, raw: bytes, encoding: str) -> _Row:
    try:
        value = json.loads(raw.decode(encoding))
    except UnicodeDecodeError as exc:
        return _Row(number, end, number + 1, None, BadRow(number, f"not valid {encoding} ({exc.reason})"))
    except json.JSONDecodeError as exc:
        return _Row(number, end, number + 1, None, BadRow(number, f"invalid JSON: {exc.msg} (column {exc.colno})"))
    if not isinstance(value, dict):
        return _Row(
            number, end, number + 1, None, BadRow(number, f"expected a JSON object, got {type(value).__name__}")
        )
    return _parsed(number, end, number + 1, value)


def _parsed(number: int, end: int, next_line: int, row: Mapping[str, Any]) -> _Row:
    try:
        return _Row(number, end, next_line, row_to_mention(row), None)
    except RowError as exc:
        return _Row(number, end, next_line, None, BadRow(number, str(exc)))


def _csv_header(path: Path, encoding: str) -> tuple[str, int]:
    with path.open("rb") as fh:
        raw = fh.readline()
    if not raw.strip():
        raise SourceError("config", f"{path.name}: CSV file has no header row")
    return raw.removeprefix(_BOM).decode(encoding, errors="replace").rstrip("\r\n"), len(raw)


class _LineTracker:
    """Feeds decoded lines to csv.reader while remembering the byte offset it has consumed.

    csv.reader pulls only the lines of the record it is building, so after each record `offset` is
    exactly the end of that record, even when quoted cells span several lines.
    """

    def __init__(self, lines: Iterator[tuple[int, int, bytes]], offset: int, line: int, encoding: str) -> None:
        self._lines = lines
        self._encoding = encoding
        self.offset = offset
        self.next_line = line
        self._decode_error: str | None = None

    def __iter__(self) -> _LineTracker:
        return self

    def __next__(self) -> str:
        number, end, raw = next(self._lines)
        self.offset, self.next_line = end, number + 1
        try:
            return raw.decode(self._encoding)
        except UnicodeDecodeError as exc:
            self._decode_error = f"not valid {self._encoding} ({exc.reason})"
            return raw.decode(self._encoding, errors="replace")

    def take_decode_error(self) -> str | None:
        error, self._decode_error = self._decode_error, None
        return error
