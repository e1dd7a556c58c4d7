"""Logging for the command line: levels by `-v`, third-party chatter capped, secrets never printed.

Why a filter and not only care at each call site: libraries log what they send. slack-sdk at DEBUG prints
request headers and the Socket Mode URL (bot and app tokens), httpx/httpcore print headers too. Every
record therefore passes a filter that replaces token-shaped text with `[redacted]`, and those libraries
stay at INFO unless `-vvv` asks for their debug output explicitly (still redacted).
"""

from __future__ import annotations

import logging
import os

from monitor.kernel.net import redact

NOISY_LIBRARIES = ("slack_sdk", "slack_bolt", "httpx", "httpcore", "urllib3", "websocket", "apscheduler")


class RedactSecrets(logging.Filter):
    """Rewrites each record's message (and traceback text) with `redact` before any handler formats it."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: let logging report it as it would
            return True
        record.msg, record.args = redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


def configure(verbosity: int) -> None:
    """WARNING by default, INFO at -v, DEBUG at -vv (our code), third-party DEBUG only at -vvv."""
    if verbosity < 1:  # transformers' "Loading weights" bar on every command is noise; -v brings it back
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    level = logging.WARNING - 10 * min(verbosity, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    root = logging.getLogger()
    for handler in root.handlers:
        if not any(isinstance(f, RedactSecrets) for f in handler.filters):
            handler.addFilter(RedactSecrets())
    library_level = logging.DEBUG if verbosity >= 3 else max(level, logging.INFO)
    for name in NOISY_LIBRARIES:
        logging.getLogger(name).setLevel(library_level)
