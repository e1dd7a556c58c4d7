"""Group near-duplicate mentions into stories, so one event yields one alert and one ticket.

A mention joins an existing story of its brand (updated within `stories.window`) when, in this order:
1. it replies to / reposts / quotes a story member (`parent_external_id`), or a member quotes it;
2. it shares a link or its own URL with a member (syndicated news, cross-posts of the same article);
3. its sentence vector (`scores.embedding`, float16) has cosine similarity >= `stories.similarity`
   with the story's centroid: the same complaint retold in other words;
4. without vectors, the Jaccard similarity of word 3-shingles with a member >= `stories.shingle_similarity`.
Otherwise it starts a story keyed by its own identity, so re-running the grouping is idempotent.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urlsplit, urlunsplit

import numpy as np
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from alerts.config import StoriesConfig
from alerts.view import excerpt, latest_scores
from monitor.store.tables import Mention, Story

MAX_MEMBERS_COMPARED = 50  # per story, for link/shingle matching: the first posts define a story
TRACKING = re.compile(r"^(utm_\w+|fbclid|gclid|igshid|ref|s|t)=", re.I)
WORD = re.compile(r"\w+", re.UNICODE)
NOISE = re.compile(r"https?://\S+|[@#]\w+")


def normalise_url(url: str) -> str:
    """Compare links by host+path: drop scheme, www., tracking parameters, fragments, trailing slash."""
    parts = urlsplit(url.strip())
    host = parts.netloc.lower().removeprefix("www.")
    query = "&".join(q for q in parts.query.split("&") if q and not TRACKING.match(q))
    return urlunsplit(("", host, parts.path.rstrip("/"), query, ""))


def shingles(text: str, size: int = 3) -> frozenset[str]:
    words = WORD.findall(NOISE.sub(" ", text.lower()))
    if len(words) < size:
        return frozenset(words)
    return frozenset(" ".join(words[i : i + size]) for i in range(len(words) - size + 1))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0


def decode_vector(blob: bytes | None) -> np.ndarray | None:
    if not blob:
        return None
    vec = np.frombuffer(blob, dtype="<f2").astype(np.float32)
    norm = float(np.linalg.norm(vec))
    return vec / norm if norm > 0 else None


@dataclass
class _Candidate:
    """A story in memory while grouping: what new mentions are compared against."""

    story: Story
    external_ids: set[str] = field(default_factory=set)
    parents: set[str] = field(default_factory=set)
    links: set[str] = field(default_factory=set)
    shingle_sets: list[frozenset[str]] = field(default_factory=list)
    centroid: np.ndarray | None = None
    vectors: int = 0

    def add(self, mention: Mention, vector: np.ndarray | None) -> None:
        self.external_ids.add(mention.external_id)
        if mention.parent_external_id:
            self.parents.add(mention.parent_external_id)
        self.links |= _links(mention)
        if len(self.shingle_sets) < MAX_MEMBERS_COMPARED:
            self.shingle_sets.append(shingles(mention.text))
        if vector is not None:
            total = (self.centroid * self.vectors if self.centroid is not None else 0) + vector
            self.vectors += 1
            norm = float(np.linalg.norm(total))
            self.centroid = total / norm if norm > 0 else None


def _links(mention: Mention) -> set[str]:
    urls = [*(mention.links or []), *([mention.url] if mention.url else [])]
    return {normalise_url(u) for u in urls if isinstance(u, str) and u}


def story_key(mention: Mention) -> str:
    digest = hashlib.sha256(f"{mention.brand_id}:{mention.source_id}:{mention.external_id}".encode()).hexdigest()
    return f"st-{digest[:32]}"


def assign_stories(
    session: Session, mention_ids: Sequence[int], now: datetime, config: StoriesConfig | None = None
) -> list[int]:
    """Put each not-yet-grouped mention into a story; returns the ids of stories created or grown."""
    config = config or StoriesConfig()
    mentions = session.scalars(
        select(Mention)
        .where(Mention.id.in_(list(mention_ids)), Mention.story_id.is_(None))
        .order_by(Mention.created_at, Mention.id)
    ).all()
    if not mentions:
        return []
    scores = latest_scores(session, [m.id for m in mentions])
    vectors = {mid: decode_vector(score.embedding) for mid, score in scores.items()}
    by_brand: dict[int, list[_Candidate]] = {}
    touched: list[int] = []
    for mention in mentions:
        if mention.brand_id not in by_brand:
            by_brand[mention.brand_id] = _recent_stories(session, mention.brand_id, now, config)
        candidates = by_brand[mention.brand_id]
        vector = vectors.get(mention.id)
        match = _best_match(mention, vector, candidates, config)
        if match is None:
            match = _new_story(session, mention, now)
            candidates.append(match)
        story = match.story
        mention.story_id = story.id
        story.mention_count += 1
        story.updated_at = now
        match.add(mention, vector)
        if match.centroid is not None:
            story.centroid = match.centroid.astype("<f2").tobytes()
        if story.id not in touched:
            touched.append(story.id)
    session.flush()
    return touched


def _best_match(
    mention: Mention, vector: np.ndarray | None, candidates: list[_Candidate], config: StoriesConfig
) -> _Candidate | None:
    for cand in candidates:  # explicit relations first: they are certain
        if mention.parent_external_id and mention.parent_external_id in cand.external_ids:
            return cand
        if mention.external_id in cand.parents:
            return cand
    links = _links(mention)
    for cand in candidates:
        if links & cand.links:
            return cand
    if vector is not None:
        scored = [(float(vector @ c.centroid), c) for c in candidates if c.centroid is not None]
        best = max(scored, key=lambda pair: pair[0], default=None)
        if best and best[0] >= config.similarity:
            return best[1]
        # With vectors on both sides a low similarity is a real "different"; shingles only for the rest.
        candidates = [c for c in candidates if c.centroid is None]
    own = shingles(mention.text)
    scored_text = [(max((jaccard(own, s) for s in c.shingle_sets), default=0.0), c) for c in candidates]
    best_text = max(scored_text, key=lambda pair: pair[0], default=None)
    if best_text and best_text[0] >= config.shingle_similarity:
        return best_text[1]
    return None


def _recent_stories(session: Session, brand_id: int, now: datetime, config: StoriesConfig) -> list[_Candidate]:
    stories = session.scalars(
        select(Story).where(Story.brand_id == brand_id, Story.updated_at >= now - config.window).order_by(Story.id)
    ).all()
    found = []
    for story in stories:
        cand = _Candidate(story)
        members = session.scalars(
            select(Mention).where(Mention.story_id == story.id).order_by(Mention.id).limit(MAX_MEMBERS_COMPARED)
        ).all()
        for member in members:
            cand.add(member, None)
        cand.centroid = decode_vector(story.centroid)
        cand.vectors = story.mention_count if cand.centroid is not None else 0
        found.append(cand)
    return found


def _new_story(session: Session, mention: Mention, now: datetime) -> _Candidate:
    key = story_key(mention)
    story = session.scalars(select(Story).where(Story.key == key)).first()
    if story is None:
        story = Story(
            key=key,
            brand_id=mention.brand_id,
            headline=excerpt(mention.title or mention.text, 200),
            first_mention_id=mention.id,
            mention_count=0,
            created_at=now,
            updated_at=now,
        )
        try:
            with session.begin_nested():
                session.add(story)
                session.flush()
        except IntegrityError:  # another worker grouped the same first mention concurrently
            story = session.scalars(select(Story).where(Story.key == key)).one()
    return _Candidate(story)
