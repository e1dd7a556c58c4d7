"""Labelled sentiment data in the shared JSON Lines format, and our own deterministic splits.

Format, one object a line: {"text", "label": negative|neutral|positive, "lang", "source", ...}; English
airline rows may carry "reason" (complaint category) and "confidence". The data is never copied
into the repository; training and evaluation read it where the user keeps it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from monitor.kernel.types import SENTIMENTS

LABEL_INDEX = {label: i for i, label in enumerate(SENTIMENTS)}


class DataError(ValueError):
    """A data file that cannot be used: missing, not JSON Lines, or rows without text/label."""


@dataclass(frozen=True, slots=True)
class Example:
    text: str
    label: str
    lang: str
    source_file: str  # file stem, e.g. "da_angrytweets"
    reason: str | None = None
    confidence: float | None = None


def read_jsonl(path: str | Path) -> list[Example]:
    """Read one labelled file; a bad line is an error naming file and line (never silently skipped)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    out: list[Example] = []
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}:{lineno}: not JSON ({exc.msg})") from exc
            if not isinstance(row, dict) or not isinstance(row.get("text"), str):
                raise DataError(f"{path}:{lineno}: needs a string 'text'")
            label = row.get("label")
            if label not in LABEL_INDEX:
                raise DataError(f"{path}:{lineno}: label {label!r} is not one of {', '.join(SENTIMENTS)}")
            out.append(
                Example(
                    text=row["text"],
                    label=label,
                    lang=str(row.get("lang") or "other"),
                    source_file=path.stem,
                    reason=row.get("reason"),
                    confidence=row.get("confidence"),
                )
            )
    if not out:
        raise DataError(f"{path}: no labelled rows")
    return out


def is_binary(examples: list[Example]) -> bool:
    """A file whose labels are only negative/positive is scored as binary."""
    return {e.label for e in examples} <= {"negative", "positive"}


def in_validation(text: str, fraction: float = 0.1) -> bool:
    """Stable, content-based split: the same text is always on the same side, across runs and files."""
    h = int.from_bytes(hashlib.sha1(text.encode("utf-8")).digest()[:4], "big")
    return h / 2**32 < fraction
