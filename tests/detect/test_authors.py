"""Repeat complaints: two unhappy customers page a quiet brand; one customer posting twice does not."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from monitor.detect.authors import repeat_negatives
from monitor.detect.stage import detect
from monitor.kernel.store.tables import Brand, Source
from tests.detect.scored import add_scored

from .test_stage import BIN, T0, _brand, _config

MINUTE = timedelta(minutes=1)


def _post(
    session: Session, brand: Brand, source: Source, at: datetime, negative: bool, author: str | None
) -> None:
    label = "negative" if negative else "positive"
    add_scored(session, brand, source, [(f"{author}-{at.isoformat()}", at, label, author)])


def _quiet_brand(engine: Engine, days: int = 3) -> tuple[Brand, Source, datetime]:
    """About 5 posts a day, one in five negative, each from its own author."""
    rng = random.Random(7)
    with Session(engine) as s:
        brand, source = _brand(s, "Quiet")
        for b in range(days * 288):
            if rng.random() < 5 / 288:
                _post(s, brand, source, T0 + b * BIN + MINUTE, rng.random() < 0.2, f"h{b}")
        s.commit()
    return brand, source, T0 + days * 288 * BIN


def _pages(engine: Engine, start: datetime, minutes: int, **share: object) -> list[object]:
    found = []
    config = _config(negative_share=share)
    for minute in range(minutes):
        with Session(engine) as s:
            found += [c for c in detect(s, config, start + minute * MINUTE) if c.kind == "negative_spike"]
            s.commit()
    return found


def _complain(engine: Engine, brand: Brand, source: Source, at: datetime, authors: list[str]) -> None:
    with Session(engine) as s:
        for i, author in enumerate(authors):
            _post(s, s.merge(brand), s.merge(source), at + i * 2 * MINUTE, True, author)
        s.commit()


def test_two_distinct_authors_page_a_quiet_brand_within_minutes(engine: Engine) -> None:
    brand, source, end = _quiet_brand(engine)
    _pages(engine, end - 10 * MINUTE, 10)  # the daemon was running before the complaints
    _complain(engine, brand, source, end + MINUTE, ["alice", "bob"])
    found = _pages(engine, end, 15)
    assert len({c.key for c in found}) == 1, found  # type: ignore[attr-defined]


def test_one_author_posting_twice_never_counts_as_two(engine: Engine) -> None:
    brand, source, end = _quiet_brand(engine)
    _pages(engine, end - 10 * MINUTE, 10)
    _complain(engine, brand, source, end + MINUTE, ["alice", "alice"])
    assert _pages(engine, end, 30) == []


def test_without_authors_once_a_double_post_pages(engine: Engine) -> None:
    """The control for the test above: the same two posts page when authors are not told apart."""
    brand, source, end = _quiet_brand(engine)
    _pages(engine, end - 10 * MINUTE, 10, authors_once=False)
    _complain(engine, brand, source, end + MINUTE, ["alice", "alice"])
    assert len(_pages(engine, end, 30, authors_once=False)) >= 1


def test_repeat_negatives_counts_each_author_once_per_window() -> None:
    at = T0
    mentions = [
        (1, at, "a", True),
        (2, at + MINUTE, "a", True),  # repeat
        (3, at + 2 * MINUTE, "a", False),  # positive: never a repeat, never resets
        (4, at + 3 * MINUTE, None, True),  # unknown author: always counts
        (5, at + 4 * MINUTE, None, True),
        (6, at + 5 * MINUTE, "b", True),
        (7, at + 5 * MINUTE + timedelta(hours=3, seconds=1), "b", True),  # outside the window: counts again
        (8, at + 6 * MINUTE + timedelta(hours=3), "a", True),  # within 3 h of a's repeat at +1 min? no: counts
    ]
    assert repeat_negatives(mentions) == {2}
