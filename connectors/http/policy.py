"""What to do with each HTTP outcome, in ONE table, and how long to wait before retrying.

Keeping every status-to-action decision in `OUTCOMES` means a reviewer can read the whole failure
policy of every connector at a glance, and a connector that needs a platform quirk (Bluesky answering
400 `ExpiredToken`, Reddit 403 for a private subreddit) overrides single rows instead of re-implementing
the retry loop.
"""

from __future__ import annotations

import email.utils
import math
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum


class Action(Enum):
    OK = "ok"  # parse the body
    NOT_MODIFIED = "not_modified"  # 304 on a conditional GET: nothing new
    RETRY = "retry"  # transient: back off exponentially with jitter, then try again
    RATE_LIMITED = "rate_limited"  # wait Retry-After (if short enough), else report rate_limited
    AUTH = "auth"  # credentials rejected: disable the source and report
    GONE = "gone"  # the resource no longer exists (re-poll: the post was deleted)
    FATAL = "fatal"  # our request is wrong; retrying cannot help


# Keys: an exact status code, a status class ("2xx"), or a transport-level outcome.
OUTCOMES: Mapping[int | str, Action] = {
    "2xx": Action.OK,
    304: Action.NOT_MODIFIED,
    401: Action.AUTH,
    403: Action.AUTH,
    404: Action.GONE,
    410: Action.GONE,
    408: Action.RETRY,
    425: Action.RETRY,
    429: Action.RATE_LIMITED,
    "4xx": Action.FATAL,
    "5xx": Action.RETRY,
    "3xx": Action.FATAL,  # redirects are not followed: a redirect could lead to a private address
    "timeout": Action.RETRY,
    "network": Action.RETRY,
    "dns": Action.RETRY,  # no DNS answer is network weather, never a configuration error
    "malformed": Action.RETRY,  # a truncated or HTML error page instead of JSON is usually a proxy blip
    "oversize": Action.FATAL,  # will not shrink by itself: lower page_size or raise max_response_bytes
}


def classify(outcome: int | str, overrides: Mapping[int | str, Action] | None = None) -> Action:
    """The action for a status code or transport outcome; connector overrides win over the table."""
    tables = [overrides or {}, OUTCOMES]
    keys: list[int | str] = [outcome]
    if isinstance(outcome, int):
        keys.append(f"{outcome // 100}xx")
    for key in keys:
        for table in tables:
            if key in table:
                return table[key]
    return Action.FATAL


# A server's wait is bounded before it reaches time arithmetic: `inf`, `1e400` or a reset in year 9999
# would overflow `datetime + timedelta` and stop every later source in the poll.
MAX_SERVER_WAIT_S = 24 * 3600.0


def bounded_wait(seconds: float) -> float | None:
    """`seconds` clamped to [0, MAX_SERVER_WAIT_S]; None for NaN."""
    if math.isnan(seconds):
        return None
    return min(max(0.0, seconds), MAX_SERVER_WAIT_S)


def _until(when: datetime, now: datetime | None) -> float | None:
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return bounded_wait((when - (now or datetime.now(UTC))).total_seconds())


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header (delta-seconds or an HTTP date), None if absent/bad."""
    if not value:
        return None
    value = value.strip()
    try:
        return bounded_wait(float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return _until(when, now)


def parse_reset(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds until a rate-limit window resets, from the forms platforms send in their reset headers:
    seconds to wait (Reddit `X-Ratelimit-Reset`), epoch seconds (X `x-rate-limit-reset`) or an ISO-8601
    time (Mastodon `X-RateLimit-Reset`). None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return _until(when, now)
    if seconds > 1_000_000_000:  # an epoch timestamp, not a delay
        seconds -= (now or datetime.now(UTC)).timestamp()
    return bounded_wait(seconds)


@dataclass
class RetryPolicy:
    """Exponential backoff with full jitter; `sleep` and `rng` are injected so tests never sleep."""

    max_attempts: int = 4
    base_s: float = 1.0
    cap_s: float = 60.0
    max_retry_after_s: float = 120.0  # longer waits are reported (rate_limited) instead of blocking a worker
    sleep: Callable[[float], None] = time.sleep
    rng: Callable[[], float] = random.random
    slept: list[float] = field(default_factory=list)  # what was waited, for logs and tests

    def backoff(self, attempt: int) -> float:
        """Full jitter (AWS architecture blog): uniform in [0, min(cap, base * 2**attempt)]."""
        return self.rng() * min(self.cap_s, self.base_s * (2**attempt))

    def wait(self, seconds: float) -> None:
        self.slept.append(seconds)
        if seconds > 0:
            self.sleep(seconds)
