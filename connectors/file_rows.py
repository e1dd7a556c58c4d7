"""Turn one exported row (a JSON object or a CSV record) into a FetchedMention, or say exactly why not.

Exports from other tools are messy: epoch seconds next to ISO strings, "1,234" likes, empty cells for
missing numbers, naive timestamps. Each problem becomes a RowError naming the field, so the import can
report "line 17: created_at 'yesterday' is not a timestamp" instead of dropping the row or crashing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from monitor.kernel.langid import normalise_language
from monitor.kernel.types import FetchedMention

REQUIRED = ("id", "text", "created_at")
COUNTS = ("likes", "reposts", "replies")
KNOWN = frozenset({*REQUIRED, *COUNTS, "url", "author", "language", "source"})
_EPOCH_RE = re.compile(r"\d{9,13}(\.\d+)?")


class RowError(ValueError):
    """A row that cannot be imported, with the reason."""


def parse_timestamp(value: Any) -> datetime:
    """ISO 8601 (with Z or an offset; naive means UTC), or epoch seconds/milliseconds, to aware UTC."""
    if isinstance(value, bool) or value is None or value == "":
        raise RowError("created_at is missing")
    if isinstance(value, int | float) or (isinstance(value, str) and _EPOCH_RE.fullmatch(value.strip())):
        seconds = float(value)
        if seconds > 1e11:  # milliseconds since the epoch (JavaScript exports)
            seconds /= 1000.0
        return datetime.fromtimestamp(seconds, tz=UTC)
    if not isinstance(value, str):
        raise RowError(f"created_at {value!r} is not a timestamp")
    text = value.strip().replace("Z", "+00:00").replace("z", "+00:00")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise RowError(f"created_at {value!r} is not an ISO 8601 timestamp or epoch seconds") from None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def parse_count(name: str, value: Any) -> int | None:
    """An engagement count: empty means unknown (None); '1,234' and 12.0 are accepted; negatives are not."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise RowError(f"{name} {value!r} is not a count")
    if isinstance(value, str):
        value = value.strip().replace(",", "").replace("_", "").replace(" ", "")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise RowError(f"{name} {value!r} is not a number") from None
    if number < 0 or number != int(number):
        raise RowError(f"{name} {value!r} is not a non-negative whole number")
    return int(number)


def _optional_text(row: Mapping[str, Any], name: str) -> str | None:
    value = row.get(name)
    if value is None:
        return None
    if not isinstance(value, str | int):
        raise RowError(f"{name} must be text, got {type(value).__name__}")
    value = str(value).strip()
    return value or None


def row_to_mention(row: Mapping[str, Any]) -> FetchedMention:
    """Validate and normalise one row; raises RowError naming the first problem."""
    missing = [name for name in REQUIRED if row.get(name) in (None, "")]
    if missing:
        raise RowError(f"missing required field{'s' if len(missing) > 1 else ''}: {', '.join(missing)}")
    external_id = row["id"]
    if isinstance(external_id, bool) or not isinstance(external_id, str | int):
        raise RowError(f"id must be text or a whole number, got {external_id!r}")
    text = row["text"]
    if not isinstance(text, str):
        raise RowError(f"text must be a string, got {type(text).__name__}")
    if not text.strip():
        raise RowError("text is empty")
    url = _optional_text(row, "url")
    if url is not None and not url.lower().startswith(("http://", "https://")):
        raise RowError(f"url {url!r} is not an http(s) URL")
    counts = {name: parse_count(name, row.get(name)) for name in COUNTS}
    return FetchedMention(
        external_id=str(external_id).strip(),
        text=text,
        created_at=parse_timestamp(row["created_at"]),
        url=url,
        author=_optional_text(row, "author"),
        language=normalise_language(_optional_text(row, "language")),
        raw=dict(row),
        **counts,
    )
