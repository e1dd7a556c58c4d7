"""Scoring a whole NAB-format series (`timestamp,value`) with the streaming count detector.

Used by `repmon detect series` and `repmon eval spikes`. Rows are fed one at a time, so row i's
anomaly_score is computed from rows <= i only, exactly as the daemon sees its bins.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path

from monitor.detect.counts import SpikeDetector, SpikeParams


class SeriesFormatError(ValueError):
    """The series file is not `timestamp,value` with ISO timestamps and non-negative numbers."""


def bin_in_day(timestamp: str, bin_minutes: int = 5) -> int:
    try:
        t = datetime.fromisoformat(timestamp.strip())
    except ValueError as exc:
        raise SeriesFormatError(f"bad timestamp {timestamp!r}: {exc}") from exc
    return (t.hour * 60 + t.minute) // bin_minutes


def score_series(
    timestamps: Sequence[str], values: Sequence[float], params: SpikeParams | None = None
) -> list[float]:
    """anomaly_score in [0, 1] per row; >= 0.5 exactly on the rows where the detector alerts."""
    detector = SpikeDetector(params or SpikeParams())
    return [detector.update(v, bin_in_day(ts)).score for ts, v in zip(timestamps, values, strict=True)]


def read_series(path: Path) -> Iterator[tuple[str, float]]:
    """(timestamp, value) rows, validated, in file order (which must be time order)."""
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if reader.fieldnames is None or not {"timestamp", "value"} <= set(reader.fieldnames):
            raise SeriesFormatError(f"{path}: expected header timestamp,value; got {reader.fieldnames}")
        previous = ""
        for line, row in enumerate(reader, start=2):
            ts = (row["timestamp"] or "").strip()
            try:
                value = float(row["value"])
            except (TypeError, ValueError) as exc:
                raise SeriesFormatError(f"{path}:{line}: value {row['value']!r} is not a number") from exc
            if value != value or value < 0:
                raise SeriesFormatError(f"{path}:{line}: value must be a count >= 0, got {row['value']!r}")
            bin_in_day(ts)  # validates the timestamp
            if ts < previous:
                raise SeriesFormatError(f"{path}:{line}: timestamps must be in ascending order")
            previous = ts
            yield ts, value
