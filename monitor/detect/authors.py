"""Repeat complaints: one customer posting again must never count as a second unhappy customer.

Why: a brand that sees one negative mention a day may page on two negatives within minutes (the rate
test's `rate_min_negative`), which is strong evidence only if they come from two people. Mentions carry
a pseudonymised author key (`Mention.author_key`, a keyed hash), so a negative mention whose author
already posted a negative one within `REPEAT_WINDOW` is dropped from the share counts (negative and
total alike). Mentions without an author key each count once: a connector that cannot tell authors
apart must not lose complaints.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

REPEAT_WINDOW = timedelta(hours=3)  # the longest share window: no window can hold both posts


def repeat_negatives(
    mentions: Iterable[tuple[int, datetime, str | None, bool]], window: timedelta = REPEAT_WINDOW
) -> set[int]:
    """Ids of negative mentions whose author posted a negative mention at most `window` before.

    `mentions`: (id, created_at, author key, negative) in (created_at, id) order; include at least
    `window` of history before the first mention you ask about, or its repeats are missed.
    """
    last: dict[str, datetime] = {}
    repeats: set[int] = set()
    for mention_id, at, author, negative in mentions:
        if not negative or author is None:
            continue
        previous = last.get(author)
        if previous is not None and at - previous <= window:
            repeats.add(mention_id)
        last[author] = at
    return repeats
