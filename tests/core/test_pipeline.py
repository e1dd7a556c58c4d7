"""Pipeline stages on both databases with the real lexicon scorer, story grouping, detectors and router."""

from datetime import UTC, datetime, timedelta

import numpy as np
from sqlalchemy import func, select

from alerts.config import AlertsConfig
from alerts.router import Router
from alerts.stories import assign_stories
from models.lexicon import LexiconScorer
from monitor.detect.config import DetectConfig
from monitor.detect.stage import detect
from monitor.kernel.store.catalog import ensure_source
from monitor.kernel.store.ingest import store_page
from monitor.kernel.store.pseudonym import Pseudonymiser
from monitor.kernel.store.tables import Alert, Mention, OutboxMessage, Score, Story
from monitor.kernel.types import FetchedMention, Page
from monitor.pipeline import detect_and_route, embedding_bytes, score_pending

NOW = datetime.now(UTC).replace(microsecond=0)
TEXTS = [
    "@Telia_Sverige er kundtjänst var nedlåtande och arg när jag ställde en enkel fråga",
    "Har ventet i telefonkø hos Telia i 44 minutter nu. Hallo?? 😡",
    "Tack Telia för snabb hjälp idag!",
    "Telia lanserar nytt abonnemang",
    "POISON Telia",
]


def seed(database, texts=TEXTS) -> list[int]:
    with database.transaction() as s:
        ref = ensure_source(s, "Telia", "import", "file")
        mentions = [
            FetchedMention(f"m{i}", t, NOW - timedelta(minutes=20 - i), author=f"u{i}")
            for i, t in enumerate(texts)
        ]
        stats = store_page(
            s, ref.source_id, ref.brand_id, Page(mentions), Pseudonymiser("pipeline-key-0123456789")
        )
    return stats.new_mention_ids


def count(database, model, *where) -> int:
    with database.read() as s:
        return s.scalar(select(func.count()).select_from(model).where(*where))


def test_score_pending_batches_groups_and_is_idempotent(database):
    ids = seed(database, TEXTS[:4])
    grouped: list[list[int]] = []

    def group(session, mention_ids, now):
        grouped.append(list(mention_ids))
        assign_stories(session, mention_ids, now)

    stats = score_pending(database, LexiconScorer(), lambda: NOW, batch_size=3, on_scored=group)
    assert (stats.batches, stats.scored) == (2, 4) and sorted(stats.mention_ids) == sorted(ids)
    assert [len(g) for g in grouped] == [3, 1]
    assert count(database, Score) == 4 and count(database, Mention, Mention.scored_at.is_(None)) == 0
    assert count(database, Mention, Mention.story_id.is_not(None)) == 4 and count(database, Story) >= 1
    with database.read() as s:
        labels = dict(s.execute(select(Score.mention_id, Score.label)).all())
    assert labels[ids[0]] == "negative" and labels[ids[2]] == "positive"
    assert score_pending(database, LexiconScorer(), lambda: NOW).scored == 0


class FailsOnPoison(LexiconScorer):
    """A scorer that crashes on one text, as a real model can on input it was never meant to see."""

    def score(self, batch):
        if any("POISON" in t.text for t in batch):
            raise ValueError("tokenizer exploded")
        return super().score(batch)


def test_one_unscorable_text_does_not_block_the_queue_and_gets_no_made_up_score(database):
    ids = seed(database)
    stats = score_pending(database, FailsOnPoison(), lambda: NOW, batch_size=10)
    assert stats.unscorable == [ids[4]] and stats.scored == 4
    assert count(database, Score) == 4
    assert count(database, Score, Score.mention_id == ids[4]) == 0
    assert count(database, Mention, Mention.scored_at.is_(None)) == 0


def test_detect_and_route_records_alerts_and_outbox_once(database):
    seed(database, TEXTS[:4])
    score_pending(database, LexiconScorer(), lambda: NOW, on_scored=assign_stories)
    router = Router(AlertsConfig())
    with database.transaction() as session:  # the driver owns the transaction
        first = detect_and_route(session, detect, DetectConfig(), router, NOW)
    assert first.alert_ids and {c.kind for c in first.candidates} >= {"complaint"}
    alerts, outbox = count(database, Alert), count(database, OutboxMessage)
    assert alerts >= 1 and outbox >= 1
    with database.transaction() as session:
        detect_and_route(session, detect, DetectConfig(), router, NOW + timedelta(minutes=1))
    assert count(database, Alert) == alerts and count(database, OutboxMessage) == outbox


def test_embeddings_stored_as_float16_little_endian():
    blob = embedding_bytes([0.5, -1.0, 2.0])
    assert np.frombuffer(blob, dtype="<f2").tolist() == [0.5, -1.0, 2.0]
    assert embedding_bytes(None) is None
