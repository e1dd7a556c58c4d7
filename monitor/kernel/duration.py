"""Durations as the configuration file writes them: one parser for every section.

Why one: `[daemon]` and `[alerts]` used to parse durations separately, so `"5min"` was accepted in one
section and rejected in the other. Every `timedelta` field of every section is annotated `Duration`.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator, TypeAdapter, ValidationError

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|min|h|d|w)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, None: 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}
EXAMPLES = "90s, 5m, 5min, 2h, 1d, 2w, PT5M"


def coerce_duration(value: Any) -> Any:
    """ "90s", "5m"/"5min", "2h", "1d", "500ms" or a number of seconds as a timedelta.

    ISO 8601 ("PT5M") and values of other types pass through untouched, so pydantic parses them with its
    own messages; any other string is a ValueError that shows valid examples.
    """
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(seconds=value)
    if not isinstance(value, str) or value.strip().lstrip("-").upper().startswith("P"):
        return value
    text = value.strip()
    sign = -1 if text.startswith("-") else 1
    if match := _DURATION.match(text.removeprefix("-")):
        return sign * timedelta(seconds=float(match.group(1)) * _UNIT_SECONDS[match.group(2)])
    raise ValueError(f"{value!r} is not a duration (examples: {EXAMPLES})")


Duration = Annotated[timedelta, BeforeValidator(coerce_duration)]
_ADAPTER: TypeAdapter[timedelta] = TypeAdapter(Duration)


def parse_duration(value: str) -> timedelta:
    """A duration given on the command line (`--since 2h`); ValueError when it is not one."""
    try:
        return _ADAPTER.validate_python(value)
    except ValidationError:
        raise ValueError(f"{value!r} is not a duration (examples: {EXAMPLES})") from None
