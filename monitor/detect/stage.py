"""The detect stage: run the detectors on stored data and return alert candidates.

`detect(session, config, now)` is called by the daemon after scoring and story grouping. It reads
mentions, scores and engagement snapshots, advances each brand's streaming detectors over the 5-minute
bins that have closed since the last run, and writes the detectors' state to `detector_state` in the
caller's transaction: committed together with the routed alerts, a restart neither re-warms nor
re-alerts, and a rolled-back run is simply replayed (same data -> same candidates -> same keys).

Keys name the event, not the run: `negative_spike:<brand id>:<bin start>`, `virality:mention:<id>`,
`complaint:story:<id>` / `complaint:mention:<id>`, so the router can dedupe on them.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from monitor.detect.authors import REPEAT_WINDOW, repeat_negatives
from monitor.detect.config import DetectConfig
from monitor.detect.counts import SpikeDetector, SpikeParams
from monitor.detect.share import ShareParams
from monitor.detect.share_watch import ShareDecision, ShareWatch
from monitor.detect.virality import predict_from_counts
from monitor.kernel.store.tables import Brand, DetectorState, EngagementSnapshot, Mention, Score
from monitor.kernel.types import AlertCandidate, Severity

log = logging.getLogger(__name__)
EVIDENCE_IDS = 50  # mention ids carried as evidence per candidate


def detect(session: Session, config: DetectConfig, now: datetime) -> list[AlertCandidate]:
    """All candidates for all brands, in a deterministic order."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware (UTC)")
    now = now.astimezone(UTC)
    out: list[AlertCandidate] = []
    for brand in session.scalars(select(Brand).order_by(Brand.id)):
        if config.volume.enabled or config.negative_share.enabled:
            out.extend(_spikes(session, config, brand, now))
        if config.virality.enabled:
            out.extend(_virality(session, config, brand, now))
        if config.complaint.enabled:
            out.extend(_complaints(session, config, brand, now))
    return out


# --------------------------------------------------------------------------- persisted state


def _load_state(session: Session, detector: str, key: str) -> DetectorState:
    row = session.scalar(select(DetectorState).where(DetectorState.detector == detector, DetectorState.key == key))
    if row is None:
        row = DetectorState(detector=detector, key=key, state={})
        session.add(row)
    return row


def _save_state(row: DetectorState, state: dict[str, Any], now: datetime) -> None:
    row.state = state  # a new dict object, so SQLAlchemy sees the JSON change
    row.updated_at = now


# --------------------------------------------------------------------------- labels


def _latest_labels(session: Session, mention_ids: Iterable[int], config: DetectConfig) -> dict[int, str]:
    """Each mention's label: the configured model version's, else the most recently scored one's.

    Only the label column: a detection run reads every mention of its range, and whole score rows
    (aspects, a sentence vector) cost several times the reading of what the detectors use."""
    ids = list(mention_ids)
    out: dict[int, str] = {}
    for chunk_start in range(0, len(ids), 500):
        chunk = ids[chunk_start : chunk_start + 500]
        stmt = select(Score.mention_id, Score.label).where(Score.mention_id.in_(chunk))
        if config.model_version:
            stmt = stmt.where(Score.model_version == config.model_version)
        out.update(session.execute(stmt.order_by(Score.scored_at, Score.id)).tuples().all())  # later rows win
    return out


# --------------------------------------------------------------------------- volume and share spikes


def _floor_bin(t: datetime, minutes: int) -> datetime:
    epoch_minutes = int(t.timestamp() // 60)
    return datetime.fromtimestamp((epoch_minutes - epoch_minutes % minutes) * 60, tz=UTC)


def _spike_params(config: DetectConfig) -> tuple[SpikeParams, ShareParams]:
    bins_per_day = 24 * 60 // config.bin_minutes
    v, s = config.volume, config.negative_share
    spike = SpikeParams(
        bins_per_day=bins_per_day,
        fire=v.fire,
        warmup=v.warmup_bins,
        cooldown=v.cooldown_bins,
        min_excess=v.min_excess,
    )
    share = ShareParams(
        fire=s.fire,
        cooldown=s.cooldown_bins,
        min_negative=s.min_negative,
        rate_min_negative=s.rate_min_negative,
        rate_fire=s.rate_fire,
        warmup_mentions=s.warmup_mentions,
        warmup_bins=s.warmup_bins,
        prior_share=s.prior_share,
    )
    return spike, share


def _spikes(session: Session, config: DetectConfig, brand: Brand, now: datetime) -> list[AlertCandidate]:
    width = timedelta(minutes=config.bin_minutes)
    row = _load_state(session, "spikes", f"brand:{brand.id}")
    state = dict(row.state or {})
    spike_params, share_params = _spike_params(config)
    volume = SpikeDetector.from_state(state.get("volume"), spike_params)
    cooldown = share_params.cooldown * width
    watch = ShareWatch.from_state(state.get("share"), share_params, cooldown, state.get("early_alerts", ()))

    settled_end = _floor_bin(now - timedelta(minutes=config.settle_minutes), config.bin_minutes)
    if state.get("next_bin"):
        start = datetime.fromisoformat(state["next_bin"])
    else:
        first = session.scalar(
            select(Mention.created_at).where(Mention.brand_id == brand.id).order_by(Mention.created_at).limit(1)
        )
        if first is None:
            return []
        start = max(_floor_bin(first, config.bin_minutes), settled_end - timedelta(hours=config.catchup_hours))

    rows = session.execute(
        select(Mention.id, Mention.created_at, Mention.scored_at)
        .where(Mention.brand_id == brand.id, Mention.created_at >= start, Mention.created_at < settled_end)
        .order_by(Mention.created_at, Mention.id)
    ).all()
    labels = _latest_labels(session, [r.id for r in rows], config)
    per_bin: dict[datetime, list[tuple[int, bool]]] = defaultdict(list)  # bin -> (mention id, scored)
    for r in rows:
        per_bin[_floor_bin(r.created_at, config.bin_minutes)].append((r.id, r.id in labels))

    repeats = _repeat_ids(session, config, brand, start, settled_end)
    score_deadline = now - timedelta(minutes=config.score_wait_minutes)
    out: list[AlertCandidate] = []
    recent_negative: list[list[int]] = [list(x) for x in state.get("recent_negative", [])]
    recent_all: list[list[int]] = [list(x) for x in state.get("recent_all", [])]
    keep = max(max(spike_params.scales), max(share_params.scales))
    b = start
    while b < settled_end:
        mentions = per_bin.get(b, [])
        if any(not scored for _, scored in mentions) and b + width > score_deadline:
            break  # wait for the scorer rather than under-count negatives; strict bin order
        ids = [mid for mid, _ in mentions]
        negative = [mid for mid in ids if labels.get(mid) == "negative"]
        recent_all = [*recent_all, ids][-keep:]
        recent_negative = [*recent_negative, negative][-keep:]
        bin_in_day = int((b - b.replace(hour=0, minute=0)).total_seconds() // 60) // config.bin_minutes
        vres = volume.update(len(ids), bin_in_day)
        repeated = sum(1 for mid in negative if mid in repeats)
        decision = watch.settled(b, len(negative) - repeated, len(ids) - repeated)
        if config.negative_share.enabled and decision is not None:
            out.append(_share_candidate(config, brand, decision, recent_negative, b + width))
        if config.volume.enabled and vres.fired and vres.severity:
            evidence_ids = [m for bin_ids in recent_all[-vres.scale :] for m in bin_ids][-EVIDENCE_IDS:]
            window_negative = sum(len(x) for x in recent_negative[-vres.scale :])
            neg_share = window_negative / vres.observed if vres.observed else 0.0
            base_share = watch.detector.baseline_share()
            # A volume spike without an unusual negative share is a buzz: informative, never a page.
            severity: Severity = vres.severity if neg_share > 1.5 * base_share else "low"
            out.append(
                AlertCandidate(
                    kind="volume_spike",
                    brand=brand.name,
                    key=f"volume_spike:{brand.id}:{b.isoformat()}",
                    severity=severity,
                    detected_at=b + width,
                    headline=(
                        f"{brand.name}: {vres.observed:.0f} mentions in {vres.scale * config.bin_minutes} min, "
                        f"expected about {vres.expected:.0f}"
                    ),
                    evidence={
                        "window_start": (b + width - vres.scale * width).isoformat(),
                        "window_end": (b + width).isoformat(),
                        "count": vres.observed,
                        "baseline": vres.expected,
                        "negative": window_negative,
                        "negative_share": neg_share,
                        "baseline_negative_share": base_share,
                        "surprise_log10": vres.surprise,
                    },
                    mention_ids=tuple(evidence_ids),
                )
            )
        b += width

    if config.negative_share.enabled and config.negative_share.early:
        decision, negatives = _early_share(session, config, brand, watch, b, now)
        if decision is not None:
            window = [*recent_negative, *negatives][: len(recent_negative) + 1 + int((decision.bin - b) / width)]
            out.append(_share_candidate(config, brand, decision, window, now))

    _save_state(
        row,
        {
            "next_bin": b.isoformat(),
            "volume": volume.state(),
            "share": watch.state(),
            "recent_all": recent_all,
            "recent_negative": recent_negative,
        },
        now,
    )
    return out


def _share_candidate(
    config: DetectConfig,
    brand: Brand,
    decision: ShareDecision,
    negatives: list[list[int]],
    detected_at: datetime,
) -> AlertCandidate:
    """A `negative_spike` candidate; `negatives` holds the ids per bin up to and including `decision.bin`.

    An escalation carries the storm's first key, so the router raises that alert's severity and adds the
    new mentions to its thread instead of opening a second alert.
    """
    width = timedelta(minutes=config.bin_minutes)
    sres = decision.result
    evidence_ids = [m for bin_ids in negatives[-sres.scale :] for m in bin_ids][-EVIDENCE_IDS:]
    window_end = min(decision.bin + width, detected_at)
    scored = "scored " if decision.early else ""
    evidence: dict[str, Any] = {
        "window_start": (decision.bin + width - sres.scale * width).isoformat(),
        "window_end": window_end.isoformat(),
        "negative": sres.negative,
        "total": sres.total,
        "share": sres.negative / sres.total,
        "baseline_share": sres.baseline_share,
        "expected_negative": sres.baseline_share * sres.total,
        "surprise_log10": sres.surprise,
    }
    if decision.early:
        evidence["early"] = True
    if not decision.new:
        evidence["escalated_to"] = decision.severity
    return AlertCandidate(
        kind="negative_spike",
        brand=brand.name,
        key=f"negative_spike:{brand.id}:{decision.key_bin.isoformat()}",
        severity=decision.severity,
        detected_at=detected_at,
        headline=(
            f"{brand.name}: {sres.negative} of {sres.total} {scored}mentions negative in the last "
            f"{sres.scale * config.bin_minutes} min (usually {sres.baseline_share:.0%})"
        ),
        evidence=evidence,
        mention_ids=tuple(evidence_ids),
    )


def _early_share(
    session: Session, config: DetectConfig, brand: Brand, watch: ShareWatch, first_open: datetime, now: datetime
) -> tuple[ShareDecision | None, list[list[int]]]:
    """Judge the bins that have not settled yet (the open one included) on what is scored so far.

    Why: waiting `settle_minutes` after a bin ends means nothing can page within 15 minutes of a storm's
    first post. The share of negatives among the mentions *already scored* is an unbiased sample of the
    bin's share, so a storm shows in it within minutes. Nothing learnt here is kept (`ShareWatch.early`
    works on a copy of the detector): late arrivals and late scores are counted in full by the settled
    pass, which then starts the cooldown at the early alert's bin instead of paging a second time.
    Returns the decision and the negative ids per open bin (evidence).
    """
    width = timedelta(minutes=config.bin_minutes)
    rows = session.execute(
        select(Mention.id, Mention.created_at)
        .where(Mention.brand_id == brand.id, Mention.created_at >= first_open, Mention.created_at <= now)
        .order_by(Mention.created_at, Mention.id)
    ).all()
    if not rows:
        return None, []
    labels = _latest_labels(session, [r.id for r in rows], config)
    repeats = _repeat_ids(session, config, brand, first_open, now)
    n_bins = int((_floor_bin(now, config.bin_minutes) - first_open) / width) + 1
    counts = [[0, 0] for _ in range(n_bins)]
    negatives: list[list[int]] = [[] for _ in range(n_bins)]
    for r in rows:
        label = labels.get(r.id)
        i = int((_floor_bin(r.created_at, config.bin_minutes) - first_open) / width)
        if label is None or not 0 <= i < n_bins:
            continue  # unscored: neither negative nor not-negative yet
        if r.id in repeats:
            negatives[i].append(r.id)  # evidence, but the author's earlier complaint already counted
            continue
        counts[i][1] += 1
        if label == "negative":
            counts[i][0] += 1
            negatives[i].append(r.id)
    bins = [(first_open + i * width, neg, tot) for i, (neg, tot) in enumerate(counts)]
    return watch.early(bins), negatives


def _repeat_ids(session: Session, config: DetectConfig, brand: Brand, start: datetime, end: datetime) -> set[int]:
    """Ids of negative mentions created in [start, end] whose author complained within `REPEAT_WINDOW`
    before (see `monitor.detect.authors`): they stay evidence but never count as another customer.

    Why two reads: only the authors of this range's negatives need their history, and that read goes
    through the author-key index, so a busy brand does not re-read three hours of mentions every run.
    """
    if not config.negative_share.authors_once:
        return set()

    def negatives(*where: Any) -> list[tuple[int, datetime, str | None, bool]]:
        rows = session.execute(
            select(Mention.id, Mention.created_at, Mention.author_key)
            .where(Mention.brand_id == brand.id, Mention.author_key.is_not(None), *where)
            .order_by(Mention.created_at, Mention.id)
        ).all()
        labels = _latest_labels(session, [r.id for r in rows], config)
        return [(r.id, r.created_at, r.author_key, True) for r in rows if labels.get(r.id) == "negative"]

    current = negatives(Mention.created_at >= start, Mention.created_at <= end)
    authors = sorted({author for _, _, author, _ in current if author is not None})
    earlier: list[tuple[int, datetime, str | None, bool]] = []
    for i in range(0, len(authors), 500):  # bounded IN lists (SQLite allows 999 parameters)
        earlier += negatives(
            Mention.author_key.in_(authors[i : i + 500]),
            Mention.created_at >= start - REPEAT_WINDOW,
            Mention.created_at < start,
        )
    earlier.sort(key=lambda m: (m[1], m[0]))
    return repeat_negatives([*earlier, *current])


# --------------------------------------------------------------------------- virality


def _virality(session: Session, config: DetectConfig, brand: Brand, now: datetime) -> list[AlertCandidate]:
    vc = config.virality
    row = _load_state(session, "virality", f"brand:{brand.id}")
    since = now - timedelta(hours=vc.lookback_hours)
    alerted: dict[str, str] = {
        k: v for k, v in dict((row.state or {}).get("alerted", {})).items() if datetime.fromisoformat(v) >= since
    }
    # Only a post that has been reposted can be spreading (one with no repost is skipped below anyway):
    # read those, not every post of the lookback, which a detection run after each score batch would
    # otherwise load again and again.
    reposted = select(EngagementSnapshot.mention_id).where(
        EngagementSnapshot.reposts > 0,
        EngagementSnapshot.observed_at >= since,
        EngagementSnapshot.observed_at <= now,
    )
    mentions = session.scalars(
        select(Mention)
        .where(
            Mention.brand_id == brand.id,
            Mention.created_at >= since,
            or_(Mention.reposts > 0, Mention.id.in_(reposted)),
        )
        .order_by(Mention.id)
    ).all()
    snaps: dict[int, list[EngagementSnapshot]] = defaultdict(list)
    ids = [m.id for m in mentions if str(m.id) not in alerted]
    for start in range(0, len(ids), 500):
        for s in session.scalars(
            select(EngagementSnapshot)
            .where(EngagementSnapshot.mention_id.in_(ids[start : start + 500]))
            .order_by(EngagementSnapshot.observed_at)
        ):
            snaps[s.mention_id].append(s)
    out: list[AlertCandidate] = []
    for m in mentions:
        if str(m.id) in alerted:
            continue
        points = [
            ((s.observed_at - m.created_at).total_seconds(), s.reposts or 0, s.author_followers)
            for s in snaps.get(m.id, [])
            if s.observed_at <= now and s.reposts is not None
        ]
        if not points and m.reposts is not None and m.engagement_checked_at is not None:
            points = [((m.engagement_checked_at - m.created_at).total_seconds(), m.reposts, m.author_followers)]
        if not points or max(p[1] for p in points) == 0:
            continue
        followers = next((p[2] for p in reversed(points) if p[2] is not None), m.author_followers)
        pred = predict_from_counts([p[0] for p in points], [p[1] for p in points], followers, vc.reach_threshold)
        if pred.p_exceed < vc.min_probability:
            continue
        severity: Severity = (
            "critical"
            if pred.predicted_final >= 10 * vc.reach_threshold
            else "high"
            if pred.predicted_final >= 3 * vc.reach_threshold
            else "medium"
        )
        alerted[str(m.id)] = m.created_at.isoformat()
        out.append(
            AlertCandidate(
                kind="virality",
                brand=brand.name,
                key=f"virality:mention:{m.id}",
                severity=severity,
                detected_at=now,
                headline=(
                    f"{brand.name}: a post is spreading ({pred.observed} reposts so far, "
                    f"about {pred.predicted_final:.0f} expected)"
                ),
                evidence={
                    "observed_reposts": pred.observed,
                    "predicted_final": pred.predicted_final,
                    "p_exceed": pred.p_exceed,
                    "reach_threshold": vc.reach_threshold,
                    "infectiousness": pred.infectiousness,
                    "supercritical": pred.supercritical,
                    "method": pred.method,
                    "age_seconds": points[-1][0],
                    "author_followers": followers,
                },
                mention_ids=(m.id,),
                story_id=m.story_id,
            )
        )
    _save_state(row, {"alerted": alerted}, now)
    return out


# --------------------------------------------------------------------------- single complaints


def _complaints(session: Session, config: DetectConfig, brand: Brand, now: datetime) -> list[AlertCandidate]:
    """New scores that say: negative and needs help. One candidate per story.

    Which scores are new: a plain "id > last id seen" watermark loses a complaint whenever scores
    commit out of id order (PostgreSQL sequences are not commit-ordered, and several workers score
    at once): a score with a lower id that commits after a higher one was seen is skipped forever.
    So the watermark (`settled_id`) only passes scores written `settle_minutes` ago, by which time
    every transaction that allocated a lower id has long finished; the ids above it that were already
    handled are remembered (`seen`) so none is raised twice.
    """
    cc = config.complaint
    row_state = _load_state(session, "complaint", f"brand:{brand.id}")
    state = row_state.state or {}
    settled_id = int(state.get("settled_id", state.get("last_score_id", 0)))  # last_score_id: older state
    seen = {int(i) for i in state.get("seen", [])}
    since = now - timedelta(hours=cc.lookback_hours)
    settle_before = now - timedelta(minutes=config.settle_minutes)
    new_scores = [Mention.brand_id == brand.id, Score.id > settled_id, Mention.created_at >= since]
    if config.model_version:
        new_scores.append(Score.model_version == config.model_version)
    # Only the complaints are read (scores never change, so whether one is a complaint never does
    # either); the watermark is an aggregate over all the new scores.
    settled_now = session.scalar(
        select(func.max(Score.id))
        .join(Mention, Mention.id == Score.mention_id)
        .where(*new_scores, Score.scored_at <= settle_before)
    )
    new_settled = max(settled_id, settled_now or 0)
    rows = session.execute(
        select(*_COMPLAINT_COLUMNS)
        .join(Mention, Mention.id == Score.mention_id)
        .where(
            *new_scores,
            Score.label == "negative",
            Score.needs_help.is_(True),
            Score.needs_help_probability >= cc.min_probability,
        )
        .order_by(Score.id)
    ).all()
    groups: dict[str, list[Any]] = {}
    for row in rows:
        if row.score_id in seen:
            continue
        key = f"complaint:story:{row.story_id}" if row.story_id else f"complaint:mention:{row.mention_id}"
        groups.setdefault(key, []).append(row)
    out = []
    for key, items in groups.items():
        items.sort(key=lambda r: r.mention_id)
        first = items[0]
        top = max(items, key=lambda r: r.needs_help_probability)
        followers = max((r.author_followers or 0) for r in items)
        reach_known = any(r.author_followers is not None for r in items)
        severity: Severity = "high" if followers >= 10_000 or len(items) >= 5 else "medium"
        out.append(
            AlertCandidate(
                kind="complaint",
                brand=brand.name,
                key=key,
                severity=severity,
                detected_at=now,
                headline=f"{brand.name}: a customer needs help: {first.text[:140]}",
                evidence={
                    "needs_help_probability": top.needs_help_probability,
                    "p_negative": top.p_negative,
                    "aspects": top.aspects or {},
                    "mentions": len(items),
                    # unknown reach stays unknown ("author reach 0 followers" would be a false statement)
                    "author_followers": followers if reach_known else None,
                    "model_version": top.model_version,
                },
                mention_ids=tuple(r.mention_id for r in items[:EVIDENCE_IDS]),
                story_id=first.story_id,
            )
        )
    # the complaints above the watermark, so none is raised twice (other new scores never will be)
    unsettled = sorted(row.score_id for row in rows if row.score_id > new_settled)
    _save_state(row_state, {"settled_id": new_settled, "seen": unsettled}, now)
    return out


_COMPLAINT_COLUMNS = (
    Score.id.label("score_id"),
    Score.needs_help_probability,
    Score.p_negative,
    Score.aspects,
    Score.model_version,
    Mention.id.label("mention_id"),
    Mention.story_id,
    Mention.text,
    Mention.author_followers,
)
