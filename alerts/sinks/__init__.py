"""Sinks deliver outbox messages (registered under the `repmon.sinks` entry-point group).

Routing never tests a sink's name: it asks what the sink can do (`Capability`, declared on the sink
class), so a sink installed by a third-party package is routable exactly like the built-ins.
"""

from __future__ import annotations

from functools import cache

from monitor.kernel import plugins
from monitor.kernel.types import Capability

POSTS_ONLY = frozenset({Capability.POSTS})


class SinkConfigError(RuntimeError):
    """A sink cannot be built from the configuration (e.g. its token is missing from the environment)."""


@cache
def capabilities(sink: str) -> frozenset[Capability]:
    """What the installed sink `sink` declares (posts only when it declares nothing or cannot be loaded:
    `repmon config check` reports a route to a sink that is not installed)."""
    try:
        factory = plugins.load("sinks", sink)
    except plugins.PluginError:
        return POSTS_ONLY
    return frozenset(Capability(c) for c in getattr(factory, "capabilities", POSTS_ONLY))


def can(sink: str, capability: Capability) -> bool:
    return capability in capabilities(sink)


def is_helpdesk(sink: str) -> bool:
    """Customers' cases and problem tickets go to it."""
    return can(sink, Capability.TICKETS)


def tickets_only(sink: str) -> bool:
    """A helpdesk that takes no posts: an alert reaches it as a ticket (Zendesk), not as a message."""
    return can(sink, Capability.TICKETS) and not can(sink, Capability.POSTS)


def is_chat(sink: str) -> bool:
    """A place people read (Slack, the console): where single complaints may be collected into digests."""
    return can(sink, Capability.POSTS) and not can(sink, Capability.TICKETS)
