"""Reading retweet-cascade files: `cascade_id,magnitude,time[,user]` (time in seconds since the post)."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path


class CascadeFormatError(ValueError):
    """The cascade file does not have the documented columns or values."""


@dataclass(frozen=True, slots=True)
class Cascade:
    cascade_id: str
    times: tuple[float, ...]  # sorted; index 0 is the post itself
    followers: tuple[float, ...] | None  # follower count ("magnitude") of each event's account

    @property
    def final_reposts(self) -> int:
        return max(len(self.times) - 1, 0)


def read_cascades(path: str | Path) -> list[Cascade]:
    """Cascades in file order. Rows of a cascade may be interleaved; events are sorted by time.

    A missing or empty magnitude makes the cascade follower-less (the Szabo-Huberman fallback is used).
    """
    path = Path(path)
    events: dict[str, list[tuple[float, float | None]]] = {}
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing = {"cascade_id", "time"} - set(reader.fieldnames or ())
        if missing:
            raise CascadeFormatError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
        has_magnitude = "magnitude" in (reader.fieldnames or ())
        for line, row in enumerate(reader, start=2):
            try:
                t = float(row["time"])
                raw = (row.get("magnitude") or "").strip() if has_magnitude else ""
                n = float(raw) if raw else None
            except ValueError as exc:
                raise CascadeFormatError(f"{path}:{line}: {exc}") from exc
            if t < 0 or t != t:
                raise CascadeFormatError(f"{path}:{line}: time must be >= 0 seconds, got {row['time']!r}")
            events.setdefault(row["cascade_id"], []).append((t, n))
    out = []
    for cid, evs in events.items():
        evs.sort(key=lambda e: e[0])
        followers = None if any(n is None for _, n in evs) else tuple(float(n or 0) for _, n in evs)
        out.append(Cascade(cid, tuple(t for t, _ in evs), followers))
    return out
