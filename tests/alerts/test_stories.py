"""Story grouping: one story = one incident. Links, shared URLs, near-duplicate text and calibrated
vectors join; different complaints, home-page links, short generic comments and drifting centroids do not."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import event, select, update

import alerts.stories as stories_module
from alerts.config import StoriesConfig
from alerts.stories import assign_stories, link_keys, normalise_url, shingles, words
from monitor.kernel.store.tables import Mention, Score, Story

from .conftest import T0, World, later

LONG = "Kundtjänsten har inte svarat på tre veckor och ingen hjälper mig med returen av min trasiga tvättmaskin"


def story_of(world: World, *ids: int) -> list[int | None]:
    with world.factory() as s:
        return [s.get(Mention, i).story_id for i in ids]


def unit(seed: int, noise: float = 0.0, base: int | None = None) -> list[float]:
    rng = np.random.default_rng(seed)
    vec = np.random.default_rng(base).normal(size=64) if base is not None else rng.normal(size=64)
    vec = vec + noise * rng.normal(size=64)
    return list(vec / np.linalg.norm(vec))


@pytest.fixture
def calibration(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Point the stage at a calibration file of our own; returns a writer {version: thresholds}."""
    path = tmp_path / "calibration.json"
    monkeypatch.setattr(stories_module, "CALIBRATION_FILE", path)
    monkeypatch.setattr(stories_module, "_warned_versions", set())

    def write(versions: dict[str, dict[str, float]]) -> Path:
        path.write_text(json.dumps({"versions": versions}))
        return path

    return write


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


def test_a_quoted_post_arriving_after_its_quote_joins_it(world: World) -> None:
    with world.factory() as s, s.begin():
        quote = world.mention(s, "Samma här, helt galet", parent="post-2")
        assign_stories(s, [quote], T0)
    with world.factory() as s, s.begin():
        original = world.mention(s, "Min faktura är dubbeldragen och ingen svarar i telefon")
        assert s.get(Mention, original).external_id == "post-2"
        assign_stories(s, [original], later(5))
    assert story_of(world, quote)[0] == story_of(world, original)[0]


def test_same_article_link_groups_syndicated_news_but_a_home_page_does_not(world: World) -> None:
    with world.factory() as s, s.begin():
        a = world.mention(s, "Acme down all day", links=["https://news.example/acme-outage?utm_source=x"])
        b = world.mention(s, "Nyhet: Acme nere", links=["http://www.news.example/acme-outage/"])
        c = world.mention(s, "Another article", links=["https://news.example/other"])
        d = world.mention(s, "Min router blinkar rött sedan i går", links=["https://www.acme.example/"])
        e = world.mention(s, "Fakturan är fel igen, vem ringer jag", links=["https://acme.example"])
        assign_stories(s, [a, b, c, d, e], T0)
    x, y, z, p, q = story_of(world, a, b, c, d, e)
    assert x == y != z and len({x, z, p, q}) == 4
    assert normalise_url("https://www.A.example/p/?utm_medium=1&id=3#f") == "//a.example/p?id=3"
    assert link_keys(None, ["https://acme.example/", "not a url", 42, "http://[::1"]) == frozenset()


def test_retellings_join_by_text_and_generic_comments_do_not(world: World) -> None:
    with world.factory() as s, s.begin():
        a = world.mention(s, "@acme " + LONG)
        rt = world.mention(s, "RT @kalle: @acme " + LONG, url="")
        cut = world.mention(s, "@acme " + LONG[:60] + "…", url="")
        quoted = world.mention(s, "Exakt så här är det! “" + LONG + "”", url="")
        loud = world.mention(s, ("@_acme " + LONG.replace(" tre ", " ")).upper() + " #fail", url="")
        other = world.mention(s, "@acme Kundtjänsten har inte svarat på min fråga om fakturan för oktober", url="")
        same1 = world.mention(s, "Samma här!", url="")
        same2 = world.mention(s, "Samma här!", url="")
        assign_stories(s, [a, rt, cut, quoted, loud, other, same1, same2], T0)
    ids = story_of(world, a, rt, cut, quoted, loud, other, same1, same2)
    assert len(set(ids[:5])) == 1
    assert len(set(ids[5:]) | {ids[0]}) == 4
    assert words("RT @x: Hej…") == ["hej"] and words("RT @x: Hej då vänner…") == ["hej", "då"]
    assert shingles("A b") == frozenset({"a b"})


def test_later_mentions_join_an_existing_story_and_rerun_is_a_no_op(world: World) -> None:
    with world.factory() as s, s.begin():
        a = world.mention(s, LONG + " @acme")
        first = assign_stories(s, [a], T0)
    with world.factory() as s, s.begin():
        b = world.mention(s, "@acme_help " + LONG + " https://t.co/xyz", url="")
        c = world.mention(s, "Bra service idag, tack!", url="")
        again = assign_stories(s, [b, c, a], later(60))  # a is already grouped: untouched
        assert assign_stories(s, [a, b, c], later(61)) == []
    x, y, z = story_of(world, a, b, c)
    assert x == y != z and first[0] == x and again[0] == x
    with world.factory() as s:
        story = s.get(Story, x)
        assert story.mention_count == 2 and story.updated_at == later(60)
        assert len(s.scalars(select(Story)).all()) == 2


def test_vectors_join_only_at_the_calibrated_threshold_of_the_running_version(
    world: World, calibration, caplog: pytest.LogCaptureFixture
) -> None:
    a_text = "Fakturan för oktober är dubbeldragen från mitt konto"
    b_text = "Ni har tagit betalt två gånger för samma månad nu"
    c_text = "Appen kraschar när jag öppnar den på min telefon"
    with world.factory() as s, s.begin(), caplog.at_level(logging.WARNING, "alerts.stories"):
        a = world.mention(s, a_text, embedding=unit(1, 0.1, base=7))
        b = world.mention(s, b_text, embedding=unit(2, 0.1, base=7))
        assign_stories(s, [a, b], T0)
        c = world.mention(s, c_text, embedding=unit(2, 0.1, base=7))
        assign_stories(s, [c], T0)
    x, y, z = story_of(world, a, b, c)
    assert len({x, y, z}) == 3  # no calibration for "test": semantic merging is off ...
    warnings = [r for r in caplog.records if "no similarity calibration" in r.getMessage()]
    assert len(warnings) == 1 and "'test'" in warnings[0].getMessage()  # ... and the log says so once

    calibration({"test": {"similarity": 0.9}, "other-model": {"similarity": 0.1}})
    with world.factory() as s, s.begin():
        d = world.mention(s, a_text + " igen", embedding=unit(3, 0.1, base=7))
        e = world.mention(s, "Leveransen av soffan är försenad en hel månad nu", embedding=unit(4))
        assign_stories(s, [d, e], later(1))
    d_story, e_story = story_of(world, d, e)
    assert d_story in {x, y, z} and e_story not in {x, y, z}


def test_vectors_of_another_model_version_are_not_compared(world: World, calibration) -> None:
    calibration({"old": {"similarity": 0.5}, "new": {"similarity": 0.5}})
    text = "Fakturan för oktober är dubbeldragen från mitt konto"
    with world.factory() as s, s.begin():
        a = world.mention(s, text, embedding=unit(1))
        s.execute(update(Score).where(Score.mention_id == a).values(model_version="old"))
        assign_stories(s, [a], T0)
        b = world.mention(s, "Ni har tagit betalt två gånger för samma månad", embedding=unit(1))
        s.execute(update(Score).where(Score.mention_id == b).values(model_version="new"))
        assign_stories(s, [b], later(1))
    assert len(set(story_of(world, a, b))) == 2


def test_a_growing_story_does_not_drift_toward_every_complaint(world: World, calibration) -> None:
    """The old centroid rule merged a new complaint that resembles the *average* of a story's members while
    resembling none of them; members and seed are compared instead."""
    calibration({"test": {"similarity": 0.85}})
    rng = np.random.default_rng(0)
    base = rng.normal(size=384)

    def near_base() -> list[float]:  # cosine ~0.77 with each other, ~0.87 with the members' average
        noise = rng.normal(size=384)
        vec = base / np.linalg.norm(base) + 0.55 * noise / np.linalg.norm(noise)
        return list(vec / np.linalg.norm(vec))

    with world.factory() as s, s.begin():
        seed = world.mention(s, "Vi har väntat på tekniker i två veckor nu", embedding=near_base())
        s.flush()
        ext = s.get(Mention, seed).external_id
        members = [
            world.mention(
                s, f"Samma problem hos oss, dag {i} utan fungerande bredband", parent=ext, embedding=near_base()
            )
            for i in range(30)
        ]
        assign_stories(s, [seed, *members], T0)
        newcomer = world.mention(s, "Fakturan är fel och ingen svarar på mejl", embedding=near_base())
        assign_stories(s, [newcomer], later(1))
    story_ids = story_of(world, seed, *members, newcomer)
    assert len(set(story_ids[:-1])) == 1 and story_ids[-1] != story_ids[0]


def test_a_batch_costs_the_same_number_of_queries_however_large(world: World, engine) -> None:
    """Set-based: statements per batch do not grow with the number of mentions (issue 17 asserts O(1))."""
    statements: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany) -> None:
        statements.append(statement)

    def run(n: int, minute: int) -> int:
        with world.factory() as s, s.begin():
            ids = [
                world.mention(
                    s, f"Klagomål nummer {minute}-{i}: paketet {i} kom aldrig fram till Gävle", at=later(minute)
                )
                for i in range(n)
            ]
            s.flush()
            event.listen(engine, "before_cursor_execute", count)
            try:
                statements.clear()
                assign_stories(s, ids, later(minute))
            finally:
                event.remove(engine, "before_cursor_execute", count)
            return len(statements)

    small, large = run(3, 1), run(60, 2)
    assert large == small <= 10


def test_config_override_and_bad_calibration_file(world: World, calibration, tmp_path: Path) -> None:
    path = calibration({"test": {"similarity": "high"}})
    assert stories_module.load_calibration(path) == {"test": {"similarity": "high"}}
    assert stories_module.semantic_thresholds("test", StoriesConfig()) == stories_module.OFF
    path.write_text("{not json")
    assert stories_module.load_calibration(path) == {}
    assert stories_module.semantic_thresholds("test", StoriesConfig(similarity=0.9)).similarity == 0.9


def test_a_post_processing_suffix_keeps_the_encoders_calibration(world: World, calibration) -> None:
    """`+guard1` changes probabilities after the encoder, not vectors: the encoder's thresholds still hold."""
    calibration({"enc-1": {"similarity": 0.8}})
    assert stories_module.semantic_thresholds("enc-1+guard1", StoriesConfig()).similarity == 0.8
    assert stories_module.semantic_thresholds("enc-2+guard1", StoriesConfig()) == stories_module.OFF
