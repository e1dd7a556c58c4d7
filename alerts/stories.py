"""Group mentions into stories: one story = one incident, so leads see that many posts are one event.

A story must never swallow distinct customers (each gets its own case; see docs/alerts.md), so only
evidence that two posts are about *the same thing* joins them. A new mention joins a recent story of its
brand (one updated within `stories.window`) on the first of:
1. a link: it replies to / reposts / quotes a member (`parent_external_id`), or a member points at it;
2. a shared URL (normalised: scheme, www., tracking parameters, fragment and trailing slash dropped;
   a bare home page is no evidence: everyone links the brand's site);
3. near-duplicate text: containment of word shingles (`RT @x:` prefixes, URLs, @handles and a truncation's
   cut-off last word removed) >= `stories.shingle_similarity` with a member: reposts, quotes that add a
   comment, truncations, copy-paste campaigns;
4. meaning: sentence vectors (`scores.embedding`) with cosine >= a threshold, or a lower cosine while the
   posts share rare words (see `Semantic`), at the thresholds calibrated for the running scorer's model
   version (`alerts/similarity_calibration.json`, written by `repmon eval grouping --calibrate`), compared
   with the story's first members, never with a centroid: a centroid drifts toward "a complaint in
   general" and then attracts every complaint. Without a calibration for that version meaning evidence
   is off (logged once) and structural evidence still groups.
Otherwise the mention starts a story keyed by its own identity, so re-running the grouping is a no-op.

The stage is set-based: a batch costs a fixed number of queries however many mentions it holds.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import numpy as np
from sqlalchemy import Row, and_, bindparam, func, literal, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from alerts.config import StoriesConfig
from alerts.view import excerpt, latest_scores
from monitor.kernel.store.tables import Mention, Score, Story

log = logging.getLogger(__name__)

CALIBRATION_FILE = Path(__file__).with_name("similarity_calibration.json")
MEMBERS_COMPARED = 20  # per story, for URL/text/vector evidence: the first posts define a story (no drift)
SHINGLE_WORDS = 3
MIN_SHINGLES = 4  # below this a text is too short for containment: only an exact copy counts ...
MIN_EXACT_WORDS = 4  # ... and then only with at least this many words ("thanks @x" is no evidence)
COMMON_SHINGLE_SHARE = 0.02  # candidate search skips shingles indexed for more than 2 % of members ...
COMMON_SHINGLE_MIN = 50  # ... and more than 50 of them
MIN_MEANING_WORDS = 5  # vectors of shorter posts ("+1", "same here!") say nothing about which incident
MIN_TOPIC_DOCUMENTS = 50  # rare-word weights need a pool of recent posts; fewer: no topic evidence
STOPWORD_SHARE = 0.02  # a word in more than 2 % of recent posts (and more than 5) is no specific
STOPWORD_MIN_POSTS = 5
TRACKING = re.compile(r"^(utm_\w+|fbclid|gclid|igshid|mc_cid|mc_eid|ref|ref_src|s|t|si)=", re.I)
WORD = re.compile(r"\w+", re.UNICODE)
REPOST_PREFIX = re.compile(r"^\s*(rt|repost|reposted|via)\s*:?\s*@\w+\s*:?", re.I)
NOISE = re.compile(r"https?://\S+|www\.\S+|@\w+|\[link\]", re.I)
TRUNCATED = re.compile(r"(…|\.\.\.)\s*$")

_warned_versions: set[str] = set()


# --------------------------------------------------------------------------- evidence


def normalise_url(url: str) -> str:
    """Compare links by host+path: drop scheme, www., tracking parameters, fragments, trailing slash."""
    parts = urlsplit(url.strip())
    host = parts.netloc.lower().removeprefix("www.")
    query = "&".join(q for q in parts.query.split("&") if q and not TRACKING.match(q))
    return urlunsplit(("", host, parts.path.rstrip("/"), query, ""))


def link_keys(url: str | None, links: Iterable[Any] | None) -> frozenset[str]:
    """Normalised URLs of a post's own address and the links it shares; bare home pages are left out."""
    found = set()
    for raw in [*(links or []), *([url] if url else [])]:
        if not isinstance(raw, str) or not raw.strip():
            continue
        try:
            key = normalise_url(raw)
        except ValueError:  # hostile input: a malformed URL is simply no evidence
            continue
        host, _, rest = key.removeprefix("//").partition("/")
        if host and rest:
            found.add(key)
    return frozenset(found)


def words(text: str) -> list[str]:
    """The words that carry a post's content: repost prefix, URLs and @handles removed, NFKC, case folded."""
    text = unicodedata.normalize("NFKC", text or "")
    truncated = bool(TRUNCATED.search(text))
    text = NOISE.sub(" ", REPOST_PREFIX.sub(" ", text)).casefold()
    found = WORD.findall(text)
    if truncated and len(found) > 1:
        found = found[:-1]  # a truncation cuts its last word in half
    return found


def shingles(text: str, size: int = SHINGLE_WORDS) -> frozenset[str]:
    """Word n-grams of `words(text)` (the whole word list when it is shorter than n)."""
    return _grams(words(text), size)


def _grams(found: list[str], size: int = SHINGLE_WORDS) -> frozenset[str]:
    if len(found) < size:
        return frozenset([" ".join(found)]) if found else frozenset()
    return frozenset(" ".join(found[i : i + size]) for i in range(len(found) - size + 1))


def containment(a: frozenset[str], b: frozenset[str]) -> float:
    """Share of the smaller set found in the larger: 1.0 for a truncation, a quote or a repost of a text."""
    if not a or not b:
        return 0.0
    return len(a & b) / min(len(a), len(b))


def near_duplicate(a: frozenset[str], b: frozenset[str], threshold: float) -> float:
    """Containment when both texts are long enough to judge (else 0: short texts match only as exact copies)."""
    if min(len(a), len(b)) < MIN_SHINGLES:
        return 0.0
    score = containment(a, b)
    return score if score >= threshold else 0.0


def decode_vector(blob: bytes | None) -> np.ndarray | None:
    if not blob:
        return None
    vec = np.frombuffer(blob, dtype="<f2").astype(np.float32)
    norm = float(np.linalg.norm(vec))
    return vec / norm if norm > 0 and np.isfinite(norm) else None


# --------------------------------------------------------------------------- calibration


def load_calibration(path: Path | None = None) -> dict[str, Any]:
    """{model version: {"similarity": float, ...}}; an absent or unreadable file means no calibration."""
    path = path or CALIBRATION_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    versions = data.get("versions") if isinstance(data, dict) else None
    return versions if isinstance(versions, dict) else {}


@dataclass(frozen=True)
class Semantic:
    """Calibrated thresholds of one model version's vectors (None: that evidence is off).

    similarity: cosine alone. topic_similarity + topic_overlap: a lower cosine that counts only when the
    two posts also share rare words (IDF-weighted Jaccard of content words, IDF over the brand's recent
    posts): same-incident paraphrases share specifics (a flight number, a town, a payment app) even when
    the vectors, tuned for sentiment, see "one more complaint".
    """

    similarity: float | None = None
    topic_similarity: float | None = None
    topic_overlap: float | None = None

    @property
    def topic(self) -> bool:
        return self.topic_similarity is not None and self.topic_overlap is not None


OFF = Semantic()


def _threshold(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and 0 < value <= 1 else None


def vector_version(version: str) -> str:
    """The part of a scorer version that names its vectors.

    A `+suffix` (e.g. `+guard1`) marks post-processing of the probabilities after the encoder; it leaves the
    stored vectors unchanged, so a calibration made for the encoder holds for every such suffix.
    """
    return version.split("+", 1)[0]


def semantic_thresholds(version: str | None, config: StoriesConfig, path: Path | None = None) -> Semantic:
    """The thresholds for vectors of `version`: the config's overrides, else the calibration (else off)."""
    entry: dict[str, Any] = {}
    if version is not None:
        calibrations = load_calibration(path)
        found = calibrations.get(version, calibrations.get(vector_version(version)))
        entry = found if isinstance(found, dict) else {}
    calibrated = Semantic(
        _threshold(entry.get("similarity")),
        _threshold(entry.get("topic_similarity")),
        _threshold(entry.get("topic_overlap")),
    )
    result = Semantic(
        config.similarity if config.similarity is not None else calibrated.similarity,
        config.topic_similarity if config.topic_similarity is not None else calibrated.topic_similarity,
        config.topic_overlap if config.topic_overlap is not None else calibrated.topic_overlap,
    )
    if result == OFF and version is not None and version not in _warned_versions:
        _warned_versions.add(version)
        log.warning(
            "stories: no similarity calibration for scorer model version %r, so semantic merging is off "
            "(links, shared URLs and near-duplicate text still group); run `repmon eval grouping --calibrate`",
            version,
        )
    return result


def content_words(found: Iterable[str]) -> frozenset[str]:
    """Words that can name a specific (3+ letters or any digit), cut to 5 letters: a crude stem in 4 languages."""
    return frozenset(w[:5] for w in found if len(w) >= 3 or any(c.isdigit() for c in w))


# --------------------------------------------------------------------------- in-memory index


@dataclass
class _Group:
    """A story while grouping: an existing row (story_id) or one this batch will create (seed)."""

    story_id: int | None = None
    seed: Mention | None = None
    compared: int = 0  # members indexed for URL/text/vector evidence
    added: list[Mention] = field(default_factory=list)


@dataclass(frozen=True)
class _Post:
    external_id: str
    parent: str | None
    links: frozenset[str]
    shingles: frozenset[str]
    vector: np.ndarray | None
    words: frozenset[str]  # content words, for topic evidence
    copy_key: str | None  # the whole word sequence of a short text (>= MIN_EXACT_WORDS words)


class _BrandIndex:
    """Everything new mentions of one brand are compared with, indexed so a match costs no scan."""

    def __init__(self, text_threshold: float, semantic: Semantic) -> None:
        self.text_threshold = text_threshold
        self.semantic = semantic
        self.by_external: dict[str, _Group] = {}
        self.by_parent: dict[str, _Group] = {}
        self.by_link: dict[str, _Group] = {}
        self.by_copy: dict[str, _Group] = {}
        self.by_shingle: dict[str, list[int]] = {}
        self.member_shingles: list[frozenset[str]] = []
        self.member_groups: list[_Group] = []
        self.matrix = np.zeros((0, 0), dtype=np.float32)  # member vectors, rows [:vector_count], grown by doubling
        self.vector_count = 0
        self.vector_groups: list[_Group] = []
        self.vector_words: list[frozenset[str]] = []
        self.by_word: dict[str, list[int]] = {}  # content word -> indexes into vectors
        self.document_frequency: Counter[str] = Counter()
        self.documents = 0

    def add_links(self, post: _Post, group: _Group) -> None:
        self.by_external.setdefault(post.external_id, group)
        if post.parent:
            self.by_parent.setdefault(post.parent, group)

    def add(self, post: _Post, group: _Group) -> None:
        self.add_links(post, group)
        if group.compared >= MEMBERS_COMPARED:
            return
        group.compared += 1
        for key in post.links:
            self.by_link.setdefault(key, group)
        if post.copy_key:
            self.by_copy.setdefault(post.copy_key, group)
        if len(post.shingles) >= MIN_SHINGLES:
            index = len(self.member_shingles)
            self.member_shingles.append(post.shingles)
            self.member_groups.append(group)
            for shingle in post.shingles:
                self.by_shingle.setdefault(shingle, []).append(index)
        self.documents += 1
        self.document_frequency.update(post.words)
        if post.vector is not None and len(post.words) >= MIN_MEANING_WORDS and self._append_vector(post.vector):
            self.vector_groups.append(group)
            for word in post.words:
                self.by_word.setdefault(word, []).append(len(self.vector_words))
            self.vector_words.append(post.words)

    def _append_vector(self, vector: np.ndarray) -> bool:
        """Add a member vector; one of another dimension than the first (a corrupt blob) is left out."""
        if self.vector_count and len(vector) != self.matrix.shape[1]:
            return False
        if self.vector_count == len(self.matrix):
            grown = np.zeros((max(64, 2 * len(self.matrix)), len(vector)), dtype=np.float32)
            if self.vector_count:
                grown[: self.vector_count] = self.matrix[: self.vector_count]
            self.matrix = grown
        self.matrix[self.vector_count] = vector
        self.vector_count += 1
        return True

    def match(self, post: _Post) -> _Group | None:
        if post.parent and post.parent in self.by_external:
            return self.by_external[post.parent]
        if post.external_id in self.by_parent:
            return self.by_parent[post.external_id]
        for key in sorted(post.links):
            if key in self.by_link:
                return self.by_link[key]
        if post.copy_key and post.copy_key in self.by_copy:
            return self.by_copy[post.copy_key]
        best, best_score = None, 0.0
        # Phrases many posts share ("i have been waiting") find nothing a rarer shingle would not: skip their
        # long posting lists. A campaign still matches: a story indexes at most MEMBERS_COMPARED copies.
        common = max(COMMON_SHINGLE_SHARE * len(self.member_shingles), COMMON_SHINGLE_MIN)
        candidates = {
            i for s in post.shingles if len(postings := self.by_shingle.get(s, ())) <= common for i in postings
        }
        for i in sorted(candidates):
            score = near_duplicate(post.shingles, self.member_shingles[i], self.text_threshold)
            if score > best_score:
                best, best_score = self.member_groups[i], score
        if best is not None:
            return best
        if self.semantic == OFF or post.vector is None or len(post.words) < MIN_MEANING_WORDS:
            return None
        if not self.vector_count or len(post.vector) != self.matrix.shape[1]:
            return None
        sims = self.matrix[: self.vector_count] @ post.vector
        i = int(np.argmax(sims))
        if self.semantic.similarity is not None and float(sims[i]) >= self.semantic.similarity:
            return self.vector_groups[i]
        if self.semantic.topic and self.documents >= MIN_TOPIC_DOCUMENTS:
            return self._topic_match(post, sims)
        return None

    def _topic_match(self, post: _Post, sims: np.ndarray) -> _Group | None:
        assert self.semantic.topic_similarity is not None and self.semantic.topic_overlap is not None
        best, best_score = None, self.semantic.topic_overlap
        common = max(STOPWORD_SHARE * self.documents, STOPWORD_MIN_POSTS)
        sharing = {i for w in post.words if self.document_frequency[w] <= common for i in self.by_word.get(w, ())}
        for i in sorted(sharing):
            if sims[i] < self.semantic.topic_similarity:
                continue
            score = self.rare_overlap(post.words, self.vector_words[i])
            if score >= best_score:
                best, best_score = self.vector_groups[i], score
        return best

    def rare_overlap(self, a: frozenset[str], b: frozenset[str]) -> float:
        """IDF-weighted Jaccard of content words; words in many recent posts weigh nothing (stopwords, the
        brand's everyday vocabulary), so only shared specifics count, in any language."""
        if not a or not b:
            return 0.0
        n = self.documents + 1
        common = max(STOPWORD_SHARE * self.documents, STOPWORD_MIN_POSTS)

        def weight(found: Iterable[str]) -> float:
            total = 0.0
            for w in found:
                df = self.document_frequency[w]
                total += 0.0 if df > common else math.log(n / (df + 0.5))
            return total

        union = weight(a | b)
        return weight(a & b) / union if union > 0 else 0.0


# --------------------------------------------------------------------------- the stage


def story_key(mention: Mention) -> str:
    digest = hashlib.sha256(f"{mention.brand_id}:{mention.source_id}:{mention.external_id}".encode()).hexdigest()
    return f"st-{digest[:32]}"


def assign_stories(
    session: Session, mention_ids: Sequence[int], now: datetime, config: StoriesConfig | None = None
) -> list[int]:
    """Put each not-yet-grouped mention into a story; returns the ids of stories created or grown.

    Vectors are compared only between scores of the same model version (the newest in the batch: the
    running scorer's), at that version's calibrated threshold.
    """
    config = config or StoriesConfig()
    mentions = session.scalars(
        select(Mention)
        .where(Mention.id.in_(list(mention_ids)), Mention.story_id.is_(None))
        .order_by(Mention.created_at, Mention.id)
    ).all()
    if not mentions:
        return []
    scores = latest_scores(session, [m.id for m in mentions])
    version = _running_version(scores.values())
    semantic = semantic_thresholds(version, config)
    indexes = {b: _BrandIndex(config.shingle_similarity, semantic) for b in {m.brand_id for m in mentions}}
    groups: dict[int, _Group] = {}
    for row in _members(session, mentions, now, config, version if semantic != OFF else None):
        group = groups.setdefault(row.story_id, _Group(story_id=row.story_id))
        indexes[row.brand_id].add(_post(row, decode_vector(row.embedding)), group)
    for row in _linked_members(session, mentions, now, config):
        group = groups.setdefault(row.story_id, _Group(story_id=row.story_id))
        indexes[row.brand_id].add_links(_post(row, None), group)

    touched: dict[int, _Group] = {}  # by id(): insertion order = order of first touch
    for mention in mentions:
        score = scores.get(mention.id)
        vector = decode_vector(score.embedding) if score is not None and score.model_version == version else None
        post = _post(mention, vector)
        index = indexes[mention.brand_id]
        group = index.match(post)
        if group is None:
            group = _Group(seed=mention)
        index.add(post, group)
        group.added.append(mention)
        touched.setdefault(id(group), group)
    _create_stories(session, [g for g in touched.values() if g.story_id is None], now)
    for group in touched.values():
        for mention in group.added:
            mention.story_id = group.story_id
    session.flush()
    table = Story.__table__.c
    session.execute(  # one executemany; `+ n` so a concurrent worker's growth is never overwritten
        update(Story.__table__)
        .where(table.id == bindparam("sid"))
        .values(mention_count=table.mention_count + bindparam("n"), updated_at=bindparam("now")),
        # in story-id order: two workers then lock shared story rows in the same order and cannot deadlock
        sorted(
            ({"sid": g.story_id, "n": len(g.added), "now": now} for g in touched.values()),
            key=lambda row: row["sid"],
        ),
    )
    for story in session.identity_map.values():
        if isinstance(story, Story):
            session.expire(story, ["mention_count", "updated_at"])
    return [g.story_id for g in touched.values() if g.story_id is not None]


def _running_version(scores: Iterable[Score]) -> str | None:
    newest = sorted(scores, key=lambda s: (s.scored_at, s.id))
    return newest[-1].model_version if newest else None


def _post(row: Any, vector: np.ndarray | None) -> _Post:
    found = words(row.text)
    grams = _grams(found)
    short = len(grams) < MIN_SHINGLES and len(found) >= MIN_EXACT_WORDS
    return _Post(
        external_id=row.external_id,
        parent=row.parent_external_id,
        links=link_keys(row.url, row.links),
        shingles=grams,
        vector=vector,
        words=content_words(found),
        copy_key=" ".join(found) if short else None,
    )


def _members(
    session: Session, mentions: Sequence[Mention], now: datetime, config: StoriesConfig, version: str | None
) -> Sequence[Row[Any]]:
    """The first MEMBERS_COMPARED members of every recent story of the batch's brands: one query."""
    ranked = (
        select(
            Mention.id,
            Mention.story_id,
            Story.brand_id,
            Mention.external_id,
            Mention.parent_external_id,
            Mention.url,
            Mention.links,
            Mention.text,
            func.row_number().over(partition_by=Mention.story_id, order_by=Mention.id).label("rank"),
        )
        .join(Story, Story.id == Mention.story_id)
        .where(
            Story.brand_id.in_({m.brand_id for m in mentions}),
            Story.updated_at >= now - config.window,
            Mention.anonymised_at.is_(None),
        )
        .subquery()
    )
    if version is None:
        query = select(ranked, literal(None).label("embedding"))
    else:
        query = select(ranked, Score.embedding).outerjoin(
            Score, and_(Score.mention_id == ranked.c.id, Score.model_version == version)
        )
    return session.execute(query.where(ranked.c.rank <= MEMBERS_COMPARED).order_by(ranked.c.id)).all()


def _linked_members(
    session: Session, mentions: Sequence[Mention], now: datetime, config: StoriesConfig
) -> Sequence[Row[Any]]:
    """Members of recent stories that the batch replies to / quotes, or that reply to / quote it: one query.

    Separate from `_members` because a link is certain evidence, so it must find the 500th member too.
    """
    parents = sorted({m.parent_external_id for m in mentions if m.parent_external_id})
    externals = sorted({m.external_id for m in mentions})
    query = (
        select(
            Mention.story_id,
            Story.brand_id,
            Mention.external_id,
            Mention.parent_external_id,
            Mention.url,
            Mention.links,
            literal("").label("text"),
        )
        .join(Story, Story.id == Mention.story_id)
        .where(
            Story.brand_id.in_({m.brand_id for m in mentions}),
            Story.updated_at >= now - config.window,
            or_(Mention.external_id.in_(parents), Mention.parent_external_id.in_(externals)),
        )
        .order_by(Mention.id)
    )
    return session.execute(query).all()


def _create_stories(session: Session, groups: list[_Group], now: datetime) -> None:
    """Insert the batch's new stories in one statement (a concurrent worker's identical key is kept)."""
    if not groups:
        return
    rows = []
    for group in groups:
        assert group.seed is not None
        seed = group.seed
        rows.append(
            {
                "key": story_key(seed),
                "brand_id": seed.brand_id,
                "headline": excerpt(seed.title or seed.text, 200),
                "first_mention_id": seed.id,
                "mention_count": 0,
                "created_at": now,
                "updated_at": now,
            }
        )
    module: Any = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    session.execute(module.insert(Story).on_conflict_do_nothing(index_elements=["key"]), rows)
    keys = [row["key"] for row in rows]
    ids = dict(session.execute(select(Story.key, Story.id).where(Story.key.in_(keys))).all())
    for group, row in zip(groups, rows, strict=True):
        group.story_id = ids[row["key"]]
