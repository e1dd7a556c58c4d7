"""Sinks deliver outbox messages (registered under the `repmon.sinks` entry-point group)."""


class SinkConfigError(RuntimeError):
    """A sink cannot be built from the configuration (e.g. its token is missing from the environment)."""
