"""The stages after storage, each a plain function over a `Database` (session factory) and typed data.

    score_and_store  a batch of texts -> Scorer -> scores, + `group_scored` (stories, cases), one transaction
    detect_and_route detectors -> AlertCandidates -> Router: alerts + outbox rows, in the caller's transaction
    deliver          outbox -> sinks (OutboxSender)

The embedded daemon (monitor.daemon) and the cluster's procrastinate tasks (monitor.cluster.tasks) call
these same functions; only the driver differs (a loop over `pending_texts` vs one job per batch of ids).
None keeps state between calls: everything a stage needs to resume is in the database, so any stage can
crash and re-run.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from monitor.detect.config import DetectConfig
from monitor.kernel.store.engine import Database
from monitor.kernel.store.tables import Mention, Score
from monitor.kernel.types import AlertCandidate, Scorer, ScoreResult, TextToScore

if TYPE_CHECKING:
    from alerts.config import AlertsConfig

log = logging.getLogger(__name__)

OnScored = Callable[[Session, list[int], datetime], Any]


# --------------------------------------------------------------------------- score


@dataclass
class ScoreStats:
    batches: int = 0
    scored: int = 0
    mention_ids: list[int] = field(default_factory=list)
    model_version: str | None = None
    unscorable: list[int] = field(default_factory=list)  # the scorer failed on these (logged)


def pending_texts(
    session: Session, limit: int | None = None, ids: Sequence[int] | None = None
) -> list[TextToScore]:
    """The oldest unscored mentions, or the unscored ones among `ids` (anonymised ones have no text left).

    The embedded daemon asks for the oldest `limit`; a cluster score job for the ids it was given.
    """
    query = select(Mention.id, Mention.text, Mention.language).where(
        Mention.scored_at.is_(None), Mention.anonymised_at.is_(None)
    )
    if ids is not None:
        query = query.where(Mention.id.in_(list(ids)))
    rows = session.execute(query.order_by(Mention.id).limit(limit)).all()
    return [TextToScore(mention_id=i, text=text, language_hint=lang) for i, text, lang in rows]


def embedding_bytes(vector: Sequence[float] | None) -> bytes | None:
    """Sentence vectors stored compactly as float16 little-endian (the schema's documented format)."""
    if vector is None:
        return None
    return np.asarray(vector, dtype="<f2").tobytes()


def _score_row(result: ScoreResult, now: datetime) -> dict[str, Any]:
    probs = result.probabilities
    return {
        "mention_id": result.mention_id,
        "model_version": result.model_version,
        "label": result.label,
        "p_negative": float(probs.get("negative", 0.0)),
        "p_neutral": float(probs.get("neutral", 0.0)),
        "p_positive": float(probs.get("positive", 0.0)),
        "language": result.language,
        "needs_help": bool(result.needs_help),
        "needs_help_probability": float(result.needs_help_probability),
        "aspects": {k: float(v) for k, v in result.aspects.items()} or None,
        "embedding": embedding_bytes(result.embedding),
        "scored_at": now,
    }


def write_scores(session: Session, results: Sequence[ScoreResult], now: datetime) -> list[int]:
    """Insert scores (a score already stored for the same model version is kept) and mark mentions scored."""
    if not results:
        return []
    module: Any = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    stmt = module.insert(Score.__table__).on_conflict_do_nothing(index_elements=["mention_id", "model_version"])
    session.execute(stmt, [_score_row(r, now) for r in results])
    ids = sorted({r.mention_id for r in results})
    session.execute(update(Mention).where(Mention.id.in_(ids)).values(scored_at=now))
    return ids


def score_pending(
    db: Database,
    scorer: Scorer,
    now: Callable[[], datetime],
    *,
    batch_size: int = 64,
    max_batches: int | None = None,
    on_scored: OnScored | None = None,
    stop: threading.Event | None = None,
) -> ScoreStats:
    """Score unscored mentions batch by batch until none are left (or `max_batches`, or `stop`).

    The embedded daemon's driver of `score_and_store`; a cluster score job calls that for its own batch.
    """
    stats = ScoreStats(model_version=scorer.version)
    while max_batches is None or stats.batches < max_batches:
        with db.read() as session:
            batch = pending_texts(session, batch_size)
        if not batch:
            break
        done = score_and_store(db, scorer, batch, now, on_scored=on_scored)
        stats.batches += 1
        stats.unscorable += done.unscorable
        stats.scored += done.scored
        stats.mention_ids += done.mention_ids
        if stop is not None and stop.is_set():
            break
    return stats


def score_and_store(
    db: Database,
    scorer: Scorer,
    batch: Sequence[TextToScore],
    now: Callable[[], datetime],
    *,
    on_scored: OnScored | None = None,
) -> ScoreStats:
    """Score one batch and write it, with `on_scored` (stories, cases; a cluster job's detect deferral)
    in the same transaction, so a crash re-scores at most this batch and never groups a mention twice.

    The model runs outside any transaction (it is the slow part). The batch's rows are then locked and
    only the still-unscored ones written: a concurrent re-run of the same batch (a stalled cluster job
    retried) waits for the lock, then finds them scored and writes nothing. A text the scorer fails on
    is marked done WITHOUT a score: never a made-up result, never a stuck queue.
    """
    results, unscorable = score_batch(scorer, batch)
    moment = now()
    with db.transaction() as session:
        still_pending = set(
            session.scalars(
                select(Mention.id)
                .where(Mention.id.in_([t.mention_id for t in batch]), Mention.scored_at.is_(None))
                .order_by(Mention.id)
                .with_for_update()
            )
        )
        ids = write_scores(session, [r for r in results if r.mention_id in still_pending], moment)
        failed = sorted(still_pending & set(unscorable))
        if failed:
            session.execute(update(Mention).where(Mention.id.in_(failed)).values(scored_at=moment))
        if on_scored is not None and ids:
            on_scored(session, ids, moment)
    return ScoreStats(batches=1, scored=len(ids), mention_ids=ids, model_version=scorer.version, unscorable=failed)


Timer = Callable[[str], AbstractContextManager[Any]]


def group_scored(
    session: Session, mention_ids: list[int], now: datetime, config: AlertsConfig, *, timer: Timer | None = None
) -> None:
    """What follows scoring in the same transaction, under both drivers: stories, then cases (a case
    names its posts' stories). `timer(stage)` wraps each step (bench/pipeline.py measures them)."""
    from alerts.cases import assign_cases
    from alerts.stories import StoryGrowth, assign_stories

    timer = timer or _no_timer
    growth = StoryGrowth()
    with timer("stories"):
        assign_stories(session, mention_ids, now, config.stories, growth=growth)
    with timer("cases"):
        assign_cases(session, mention_ids, now, config)
    with timer("stories"):  # last: a story's row stays locked from this UPDATE to the commit
        growth.write(session)


def _no_timer(_stage: str) -> AbstractContextManager[Any]:
    return nullcontext()


def _checked(scorer: Scorer, batch: Sequence[TextToScore]) -> list[ScoreResult]:
    results = scorer.score(batch)
    if len(results) != len(batch) or {r.mention_id for r in results} != {t.mention_id for t in batch}:
        raise RuntimeError(f"scorer {scorer.version!r} returned {len(results)} results for {len(batch)} texts")
    return results


def score_batch(scorer: Scorer, batch: Sequence[TextToScore]) -> tuple[list[ScoreResult], list[int]]:
    """Score a batch; if it fails, score its texts one by one so one bad text cannot block the queue.

    Returns the results and the ids of mentions the scorer failed on (logged with the error). If every
    text fails alone too, the scorer itself is broken: that is raised, not papered over.
    """
    try:
        return _checked(scorer, batch), []
    except Exception:
        if len(batch) == 1:
            raise
        log.exception("scoring a batch of %d failed; retrying one by one", len(batch))
    results: list[ScoreResult] = []
    failed: list[int] = []
    for item in batch:
        try:
            results += _checked(scorer, [item])
        except Exception as exc:
            log.error("mention %d cannot be scored by %s: %s", item.mention_id, scorer.version, exc)
            failed.append(item.mention_id)
    if not results:
        raise RuntimeError(f"scorer {scorer.version!r} failed on every text of a batch of {len(batch)}")
    return results, failed


# --------------------------------------------------------------------------- detect + route


@dataclass
class RouteStats:
    candidates: list[AlertCandidate] = field(default_factory=list)
    alert_ids: list[int] = field(default_factory=list)


class AlertRouter(Protocol):
    """What routing needs from the alerts package: record candidates in the caller's transaction."""

    def record(
        self, session: Session, candidates: Sequence[AlertCandidate], now: datetime, *, coverage: bool = True
    ) -> list[int]: ...

    def coverage_candidates(self, session: Session, now: datetime) -> list[AlertCandidate]: ...


DetectFn = Callable[[Session, DetectConfig, datetime], list[AlertCandidate]]


def detect_and_route(
    session: Session, detect: DetectFn, config: DetectConfig, router: AlertRouter, now: datetime
) -> RouteStats:
    """Detectors and the router in the CALLER's transaction, so detector state, alerts and outbox rows
    (and, in the cluster, the deliver job) commit together: a crash can neither lose an alert whose
    detector state advanced nor send one twice. Coverage (sources failing too long) is checked once."""
    candidates = list(detect(session, config, now))
    candidates += router.coverage_candidates(session, now)
    alert_ids = router.record(session, candidates, now, coverage=False) if candidates else []
    return RouteStats(candidates=candidates, alert_ids=list(alert_ids))


# --------------------------------------------------------------------------- deliver


def deliver(sender: Any, now: datetime, limit: int = 100) -> Any:
    """Drain due outbox messages to their sinks (the sender manages its own transactions)."""
    return sender.drain(now=now, limit=limit)
