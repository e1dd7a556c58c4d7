"""Fixtures for the alerts tests: a real database (SQLite and PostgreSQL) with a brand, a source and
helpers that store mentions and scores the way the pipeline would."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from monitor.kernel.store.tables import Brand, Mention, Score, Source

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)  # 13:00 in Stockholm: outside default quiet hours


@dataclass
class World:
    factory: Callable[[], Session]
    brand_id: int
    source_id: int
    counter: int = 0

    def mention(
        self,
        session: Session,
        text: str,
        *,
        language: str = "sv",
        label: str = "negative",
        needs_help: bool = True,
        aspects: dict[str, float] | None = None,
        url: str | None = None,
        parent: str | None = None,
        links: list[str] | None = None,
        embedding: list[float] | None = None,
        at: datetime = T0,
        likes: int = 0,
    ) -> int:
        self.counter += 1
        mention = Mention(
            source_id=self.source_id,
            brand_id=self.brand_id,
            external_id=f"post-{self.counter}",
            url=url if url is not None else f"https://social.example/@user/{self.counter}",
            author_key=f"{self.counter:064x}",
            text=text,
            language=language,
            parent_external_id=parent,
            links=links,
            created_at=at,
            likes=likes,
        )
        session.add(mention)
        session.flush()
        vector = None
        if embedding is not None:
            vector = np.asarray(embedding, dtype="<f2").tobytes()
        session.add(
            Score(
                mention_id=mention.id,
                model_version="test",
                label=label,
                p_negative=0.8 if label == "negative" else 0.1,
                p_neutral=0.1,
                p_positive=0.1 if label == "negative" else 0.8,
                language=language,
                needs_help=needs_help,
                needs_help_probability=0.9 if needs_help else 0.1,
                aspects=aspects or {},
                embedding=vector,
                scored_at=at,
            )
        )
        session.flush()
        return mention.id


@pytest.fixture
def factory(engine: Engine) -> Callable[[], Session]:
    return sessionmaker(engine, expire_on_commit=False)


@pytest.fixture
def world(factory: Callable[[], Session]) -> World:
    with factory() as session, session.begin():
        brand = Brand(name="Acme")
        session.add(brand)
        session.flush()
        source = Source(brand_id=brand.id, name="mastodon-social", connector="mastodon")
        session.add(source)
        session.flush()
        return World(factory, brand.id, source.id)


def later(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)
