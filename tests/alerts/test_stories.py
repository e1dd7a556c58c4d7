"""Story grouping: reposts, shared links, sentence vectors, shingles; idempotent and incremental."""

from __future__ import annotations

import numpy as np
from sqlalchemy import select

from alerts.stories import assign_stories, normalise_url, shingles
from monitor.store.tables import Mention, Story

from .conftest import T0, World, later


def story_of(world: World, *ids: int) -> list[int | None]:
    with world.factory() as s:
        return [s.get(Mention, i).story_id for i in ids]


def unit(seed: int, noise: float = 0.0, base: int | None = None) -> list[float]:
    rng = np.random.default_rng(seed)
    vec = np.random.default_rng(base).normal(size=64) if base is not None else rng.normal(size=64)
    vec = vec + noise * rng.normal(size=64)
    return list(vec / np.linalg.norm(vec))


def test_reposts_and_quotes_join_their_original(world: World) -> None:
    with world.factory() as s, s.begin():
        orig = world.mention(s, "Min beställning kom aldrig fram, tredje gången nu")
        s.flush()
        ext = s.get(Mention, orig).external_id
        repost = world.mention(s, "RT", parent=ext)
        quote = world.mention(s, "Samma för mig!!", parent=ext)
        other = world.mention(s, "Helt orelaterat inlägg om väder och vind idag")
        touched = assign_stories(s, [orig, repost, quote, other], T0)
    a, b, c, d = story_of(world, orig, repost, quote, other)
    assert a == b == c and d != a and len(touched) == 2
    with world.factory() as s:
        assert s.get(Story, a).mention_count == 3


def test_same_article_link_groups_syndicated_news(world: World) -> None:
    with world.factory() as s, s.begin():
        a = world.mention(s, "Acme down all day", links=["https://news.example/acme-outage?utm_source=x"])
        b = world.mention(s, "Nyhet: Acme nere", links=["http://www.news.example/acme-outage/"])
        c = world.mention(s, "Another article", links=["https://news.example/other"])
        assign_stories(s, [a, b, c], T0)
    x, y, z = story_of(world, a, b, c)
    assert x == y != z
    assert normalise_url("https://www.A.example/p/?utm_medium=1&id=3#f") == "//a.example/p?id=3"


def test_sentence_vectors_group_the_same_complaint_retold(world: World) -> None:
    with world.factory() as s, s.begin():
        a = world.mention(s, "Faktura dubbeldragen", embedding=unit(1, 0.1, base=7))
        b = world.mention(s, "De har tagit betalt två gånger", embedding=unit(2, 0.1, base=7))
        c = world.mention(s, "Faktura dubbeldragen igen", embedding=unit(3))  # same words, other meaning
        assign_stories(s, [a, b, c], T0)
    x, y, z = story_of(world, a, b, c)
    assert x == y != z


def test_shingles_without_vectors_and_later_mentions_join(world: World) -> None:
    text = "Kundtjänsten har inte svarat på tre veckor och ingen hjälper mig med returen"
    with world.factory() as s, s.begin():
        a = world.mention(s, text + " @acme")
        first = assign_stories(s, [a], T0)
    with world.factory() as s, s.begin():
        b = world.mention(s, "@acme_help " + text + " https://t.co/xyz", url="")
        c = world.mention(s, "Bra service idag, tack!", url="")
        again = assign_stories(s, [b, c, a], later(60))  # a is already grouped: untouched
    x, y, z = story_of(world, a, b, c)
    assert x == y != z and first[0] == x and again[0] == x
    assert shingles("A b") == frozenset({"a", "b"})


def test_rerun_is_idempotent(world: World) -> None:
    with world.factory() as s, s.begin():
        a = world.mention(s, "one")
        assign_stories(s, [a], T0)
        assert assign_stories(s, [a], T0) == []
    with world.factory() as s:
        assert len(s.scalars(select(Story)).all()) == 1
