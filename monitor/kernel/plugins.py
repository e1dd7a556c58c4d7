"""Plugin discovery through entry points.

Built-in connectors, scorers, sinks and CLI commands are registered in pyproject.toml
through exactly the same entry-point groups that third-party packages use (the datasette model).
Detectors are not a plugin kind: the detection stage composes its detectors itself (a `repmon.detectors`
group used to be declared and was never loaded, so it was removed rather than left to mislead).
"""

from __future__ import annotations

import logging
from functools import cache
from importlib.metadata import EntryPoint, entry_points
from typing import Any

log = logging.getLogger(__name__)

GROUPS = {
    "connectors": "repmon.connectors",
    "scorers": "repmon.scorers",
    "sinks": "repmon.sinks",
    "commands": "repmon.commands",
}


class PluginError(LookupError):
    """A plugin name that is not installed, or that failed to import."""


@cache
def _entry_points(group: str) -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group=group)}


def names(kind: str) -> list[str]:
    """Installed plugin names of one kind, sorted."""
    return sorted(_entry_points(GROUPS[kind]))


def load(kind: str, name: str) -> Any:
    """Load one plugin object by name, with an error that lists what is installed."""
    eps = _entry_points(GROUPS[kind])
    if name not in eps:
        raise PluginError(f"no {kind[:-1]} named {name!r}; installed: {', '.join(sorted(eps)) or 'none'}")
    try:
        return eps[name].load()
    except Exception as exc:  # a broken plugin must not look like a missing one
        raise PluginError(f"{kind[:-1]} {name!r} ({eps[name].value}) failed to load: {exc}") from exc


def load_all(kind: str) -> dict[str, Any]:
    """Load every plugin of one kind; a broken one is logged and skipped, never fatal to the rest."""
    loaded: dict[str, Any] = {}
    for name in names(kind):
        try:
            loaded[name] = load(kind, name)
        except PluginError as exc:
            log.warning("%s", exc)
    return loaded
