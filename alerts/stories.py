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
import threading
import unicodedata
import weakref
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from operator import itemgetter
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit, urlunsplit

import numpy as np
from sqlalchemy import Row, bindparam, func, literal, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from alerts.config import StoriesConfig
from alerts.view import excerpt
from monitor.kernel.store.tables import Mention, Score, Story

log = logging.getLogger(__name__)

CALIBRATION_FILE = Path(__file__).with_name("similarity_calibration.json")
POSTS_CACHED = 50_000  # derived evidence of recent story members kept in memory (~1 KB each)
DETAIL_CHUNK = 5_000  # members' texts read per query (bounded IN lists)
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
        self.journal: list[tuple[Callable[..., Any], tuple[Any, ...]]] | None = None  # undo log of a batch
        self._saved: tuple[int, int, np.ndarray] = (0, 0, self.matrix)

    # ------------------------------------------------------------------ a batch on a kept index

    def begin(self) -> None:
        """Record every change from now on, so `rollback` returns the index to the members alone."""
        self.journal = []
        self._saved = (self.documents, self.vector_count, self.matrix)

    def rollback(self) -> None:
        journal, self.journal = self.journal or [], None
        for undo, args in reversed(journal):
            undo(*args)
        self.documents, self.vector_count, self.matrix = self._saved

    def _keep(self, mapping: dict[str, _Group], key: str, group: _Group) -> None:
        """`mapping.setdefault(key, group)`: the first post with a key keeps it."""
        if key not in mapping:
            mapping[key] = group
            if self.journal is not None:
                self.journal.append((mapping.pop, (key,)))

    def _post_to(self, index: dict[str, list[int]], key: str, value: int) -> None:
        postings = index.get(key)
        if postings is None:
            index[key] = [value]
            if self.journal is not None:
                self.journal.append((index.pop, (key,)))
        else:
            postings.append(value)
            if self.journal is not None:
                self.journal.append((postings.pop, ()))

    def _append(self, items: list[Any], value: Any) -> None:
        items.append(value)
        if self.journal is not None:
            self.journal.append((items.pop, ()))

    # ------------------------------------------------------------------ indexing

    def add_links(self, post: _Post, group: _Group) -> None:
        self._keep(self.by_external, post.external_id, group)
        if post.parent:
            self._keep(self.by_parent, post.parent, group)

    def add(self, post: _Post, group: _Group) -> None:
        self.add_links(post, group)
        if group.compared >= MEMBERS_COMPARED:
            return
        if self.journal is not None:
            self.journal.append((setattr, (group, "compared", group.compared)))
        group.compared += 1
        for key in post.links:
            self._keep(self.by_link, key, group)
        if post.copy_key:
            self._keep(self.by_copy, post.copy_key, group)
        if len(post.shingles) >= MIN_SHINGLES:
            index = len(self.member_shingles)
            self._append(self.member_shingles, post.shingles)
            self._append(self.member_groups, group)
            if self.journal is not None:
                for shingle in post.shingles:
                    self._post_to(self.by_shingle, shingle, index)
            else:
                by_shingle = self.by_shingle  # the hottest loop of the stage: no new list per shingle
                for shingle in post.shingles:
                    postings = by_shingle.get(shingle)
                    if postings is None:
                        by_shingle[shingle] = [index]
                    else:
                        postings.append(index)
        self.documents += 1
        self.document_frequency.update(post.words)
        if self.journal is not None:
            self.journal.append((_forget_words, (self.document_frequency, post.words)))
        if post.vector is not None and len(post.words) >= MIN_MEANING_WORDS and self._append_vector(post.vector):
            self._append(self.vector_groups, group)
            for word in post.words:
                self._post_to(self.by_word, word, len(self.vector_words))
            self._append(self.vector_words, post.words)

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


def _forget_words(frequency: Counter[str], found: frozenset[str]) -> None:
    """Undo `frequency.update(found)` exactly (no zero counts left behind)."""
    for word in found:
        if frequency[word] == 1:
            del frequency[word]
        else:
            frequency[word] -= 1


@dataclass
class _KeptIndex:
    """A brand's index of its recent stories' members, kept between batches by this process.

    WHY: every batch used to index the first members of every recent story again (most of the stage's
    time). The next batch's members are usually this batch's members plus the posts just grouped, so
    the kept index is extended with those; anything else (a story left the window, a member anonymised,
    a concurrent worker's rows arriving out of id order, another model version) and it is rebuilt, so
    the index is always exactly the one a fresh build from the same rows would give. Each batch's own
    posts are undone afterwards (`_BrandIndex.begin/rollback`).
    """

    key: tuple[Any, ...]  # text threshold, semantic thresholds, vector version
    index: _BrandIndex
    groups: dict[int, _Group]  # story id -> group
    members: list[tuple[Any, ...]]  # signature of the member rows indexed, in order
    lock: threading.Lock = field(default_factory=threading.Lock)


_kept: weakref.WeakKeyDictionary[Any, dict[int, _KeptIndex]] = weakref.WeakKeyDictionary()
_kept_lock = threading.Lock()


def _kept_of(session: Session) -> dict[int, _KeptIndex]:
    engine = session.get_bind()
    engine = getattr(engine, "engine", engine)
    with _kept_lock:
        if engine not in _kept:
            _kept[engine] = {}
        return _kept[engine]


# A member row's identity: id, story_id, source_id, external_id, parent_external_id (the columns of
# `_members`, by position: an itemgetter is several times faster than attribute access on each Row).
_signature = itemgetter(0, 1, 3, 4, 5)


# --------------------------------------------------------------------------- the stage


def story_key(mention: Mention) -> str:
    digest = hashlib.sha256(f"{mention.brand_id}:{mention.source_id}:{mention.external_id}".encode()).hexdigest()
    return f"st-{digest[:32]}"


def assign_stories(
    session: Session,
    mention_ids: Sequence[int],
    now: datetime,
    config: StoriesConfig | None = None,
    *,
    growth: StoryGrowth | None = None,
) -> list[int]:
    """Put each not-yet-grouped mention into a story; returns the ids of stories created or grown.

    Vectors are compared only between scores of the same model version (the newest in the batch: the
    running scorer's), at that version's calibrated threshold. The stories' counters are bumped at the
    end, or, given `growth`, left in it for the caller to `write` just before it commits.
    """
    config = config or StoriesConfig()
    mentions = session.scalars(
        select(Mention)
        .where(Mention.id.in_(list(mention_ids)), Mention.story_id.is_(None))
        .order_by(Mention.created_at, Mention.id)
    ).all()
    if not mentions:
        return []
    scores = _latest_vectors(session, [m.id for m in mentions])
    version = _running_version(scores.values())
    semantic = semantic_thresholds(version, config)
    vectors = version if semantic != OFF else None
    key = (config.shingle_similarity, semantic, vectors)
    rows = _members(session, mentions, now, config)
    kept = _kept_of(session)
    indexes: dict[int, _BrandIndex] = {}
    groups: dict[int, _Group] = {}
    held: list[_KeptIndex] = []
    try:
        for brand in sorted({m.brand_id for m in mentions}):
            brand_rows = [r for r in rows if r.brand_id == brand]
            entry = _kept_index(session, kept, brand, key, brand_rows)
            if entry is not None:
                held.append(entry)
            index, brand_groups = (
                (entry.index, entry.groups) if entry is not None else _fresh_index(session, key, brand_rows)
            )
            index.begin()
            indexes[brand] = index
            groups.update(brand_groups)
        for row in _linked_members(session, mentions, now, config):
            group = groups.get(row.story_id)
            if group is None:
                group = groups[row.story_id] = _Group(story_id=row.story_id)
            indexes[row.brand_id].add_links(_post(row, None), group)
        return _group_batch(session, mentions, scores, version, indexes, now, growth)
    finally:
        for entry in held:
            try:
                entry.index.rollback()
                for group in entry.groups.values():
                    group.added = []
            except Exception:  # never keep an index that may not be what a fresh build would give
                kept.pop(next(b for b, e in kept.items() if e is entry), None)
                raise
            finally:
                entry.lock.release()


def _kept_index(
    session: Session, kept: dict[int, _KeptIndex], brand: int, key: tuple[Any, ...], rows: Sequence[Row[Any]]
) -> _KeptIndex | None:
    """The brand's kept index extended to `rows` (rebuilt when it cannot be), locked for this batch; None
    when another thread of this process is using it (that batch then builds its own)."""
    entry = kept.get(brand)
    if entry is None:
        entry = kept.setdefault(brand, _KeptIndex(key, _BrandIndex(key[0], key[1]), {}, []))
    if not entry.lock.acquire(blocking=False):
        return None
    try:
        signatures = list(map(_signature, rows))
        done = len(entry.members)
        if entry.key != key or signatures[:done] != entry.members:
            entry.key, entry.members = key, []
            entry.index, entry.groups = _BrandIndex(key[0], key[1]), {}
            done = 0
        for row, member in _posts_of(session, rows[done:], key[2]):
            group = entry.groups.get(row.story_id)
            if group is None:
                group = entry.groups[row.story_id] = _Group(story_id=row.story_id)
            entry.index.add(member, group)
            entry.members.append(_signature(row))
        if entry.members != signatures:  # a member was anonymised meanwhile: next batch rebuilds
            entry.members = [("stale",)]
    except BaseException:
        kept.pop(brand, None)
        entry.lock.release()
        raise
    return entry


def _fresh_index(
    session: Session, key: tuple[Any, ...], rows: Sequence[Row[Any]]
) -> tuple[_BrandIndex, dict[int, _Group]]:
    index, groups = _BrandIndex(key[0], key[1]), {}
    for row, member in _posts_of(session, rows, key[2]):
        group = groups.setdefault(row.story_id, _Group(story_id=row.story_id))
        index.add(member, group)
    return index, groups


def _group_batch(
    session: Session,
    mentions: Sequence[Mention],
    scores: dict[int, _Vector],
    version: str | None,
    indexes: dict[int, _BrandIndex],
    now: datetime,
    growth: StoryGrowth | None,
) -> list[int]:
    cache = _cache_of(session)
    touched: dict[int, _Group] = {}  # by id(): insertion order = order of first touch
    for mention in mentions:
        score = scores.get(mention.id)
        vector = decode_vector(score.embedding) if score is not None and score.model_version == version else None
        post = _post(mention, vector)
        cache.put(mention, post)  # a member of some story from now on
        index = indexes[mention.brand_id]
        group = index.match(post)
        if group is None:
            group = _Group(seed=mention)
        index.add(post, group)
        group.added.append(mention)
        touched.setdefault(id(group), group)
    _create_stories(session, [g for g in touched.values() if g.story_id is None], now)
    session.flush()
    mentions_table = Mention.__table__
    session.execute(  # one executemany through Core: the ORM's per-object bookkeeping was a third of it
        update(mentions_table).where(mentions_table.c.id == bindparam("mid")).values(story_id=bindparam("sid")),
        sorted(
            ({"mid": m.id, "sid": g.story_id} for g in touched.values() for m in g.added), key=lambda r: r["mid"]
        ),
    )
    for group in touched.values():
        for mention in group.added:
            set_committed_value(mention, "story_id", group.story_id)  # the session sees what was written
    pending = growth if growth is not None else StoryGrowth()
    pending.add({g.story_id: len(g.added) for g in touched.values() if g.story_id is not None}, now)
    if growth is None:
        pending.write(session)
    return [g.story_id for g in touched.values() if g.story_id is not None]


@dataclass
class StoryGrowth:
    """Stories' counters to bump (`mention_count + n`, `updated_at`), written by `write`.

    WHY separate: a story's row is locked from its UPDATE until the transaction commits, and a storm's
    story grows in every batch, so two workers scoring at once queued on it for the rest of the other's
    transaction (its case assignment too). Bumped last, just before the commit, the row is held only
    for the commit.
    """

    counts: dict[int, int] = field(default_factory=dict)
    now: datetime | None = None

    def add(self, counts: dict[int, int], now: datetime) -> None:
        for story_id, n in counts.items():
            self.counts[story_id] = self.counts.get(story_id, 0) + n
        self.now = now

    def write(self, session: Session) -> None:
        if not self.counts:
            return
        table = Story.__table__.c
        session.execute(  # one executemany; `+ n` so a concurrent worker's growth is never overwritten
            update(Story.__table__)
            .where(table.id == bindparam("sid"))
            .values(mention_count=table.mention_count + bindparam("n"), updated_at=bindparam("now")),
            # in story-id order: two workers then lock shared story rows in the same order and cannot deadlock
            [{"sid": sid, "n": n, "now": self.now} for sid, n in sorted(self.counts.items())],
        )
        for story in session.identity_map.values():
            if isinstance(story, Story):
                session.expire(story, ["mention_count", "updated_at"])
        self.counts = {}


class _Vector(NamedTuple):
    """What grouping reads of a post's latest score: its model version and sentence vector."""

    scored_at: datetime
    id: int
    model_version: str
    embedding: bytes | None


def _latest_vectors(session: Session, ids: list[int]) -> dict[int, _Vector]:
    """The latest score of each mention (as `latest_scores`), as plain rows: no ORM object per post."""
    if not ids:
        return {}
    rows = session.execute(
        select(Score.mention_id, Score.scored_at, Score.id, Score.model_version, Score.embedding)
        .where(Score.mention_id.in_(ids))
        .order_by(Score.scored_at, Score.id)
    )
    return {row[0]: _Vector(*row[1:]) for row in rows}


def _running_version(scores: Iterable[_Vector]) -> str | None:
    newest = sorted(scores, key=lambda s: (s.scored_at, s.id))
    return newest[-1].model_version if newest else None


def _post(row: Any, vector: np.ndarray | None) -> _Post:
    """The evidence a post offers (row: a Mention or a row with its fields)."""
    found = words(row.text)
    grams = _grams(found)
    short = len(grams) < MIN_SHINGLES and len(found) >= MIN_EXACT_WORDS
    return _Post(
        external_id=row.external_id,
        parent=row.parent_external_id,
        links=link_keys(row.url, row.links if isinstance(row.links, list) else None),
        shingles=grams,
        vector=vector,
        words=content_words(found),
        copy_key=" ".join(found) if short else None,
    )


class _PostCache:
    """Derived evidence of story members by mention id, so a batch does not re-derive (and re-read) the
    words, shingles and links of every recent story's members: that was most of the stage's time.

    Valid because a stored mention's text, url and links never change while it is not anonymised
    (ingest never updates them; retention and erasure set `anonymised_at`, and anonymised members are
    never read). Every hit is checked against the row's identity (source, external and parent id:
    erasure rewrites them, and a reused row id would belong to another (source, external id)). One cache
    per database engine. Bounded: the oldest half is dropped when full.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self.posts: dict[int, tuple[tuple[Any, ...], _Post]] = {}

    def get(self, row: Any) -> _Post | None:
        found = self.posts.get(row.id)
        if found is None or found[0] != _identity(row):
            return None
        return found[1]

    def put(self, row: Any, post: _Post) -> None:
        if len(self.posts) >= self.size:
            for key in list(self.posts)[: self.size // 2]:
                del self.posts[key]
        self.posts[row.id] = (_identity(row), replace(post, vector=None) if post.vector is not None else post)


def _identity(row: Any) -> tuple[Any, ...]:
    return (row.source_id, row.external_id, row.parent_external_id)  # (source, external id) is unique


_caches: weakref.WeakKeyDictionary[Any, _PostCache] = weakref.WeakKeyDictionary()


def _cache_of(session: Session) -> _PostCache:
    engine = session.get_bind()
    engine = getattr(engine, "engine", engine)  # a Connection when the session is bound to one
    if engine not in _caches:
        _caches[engine] = _PostCache(POSTS_CACHED)
    return _caches[engine]


def _posts_of(session: Session, rows: Sequence[Row[Any]], version: str | None) -> list[tuple[Row[Any], _Post]]:
    """Member rows with their evidence: derived before by this process, or read (one query per
    DETAIL_CHUNK members) and derived now; with their vectors of `version` (if any; one query per
    DETAIL_CHUNK members). A member anonymised meanwhile is left out."""
    cache = _cache_of(session)
    posts = [cache.get(r) for r in rows]
    missing = [r.id for r, post in zip(rows, posts, strict=True) if post is None]
    for start in range(0, len(missing), DETAIL_CHUNK):
        details = session.execute(
            select(
                Mention.id,
                Mention.source_id,
                Mention.external_id,
                Mention.parent_external_id,
                Mention.url,
                Mention.links,
                Mention.text,
            ).where(Mention.id.in_(missing[start : start + DETAIL_CHUNK]), Mention.anonymised_at.is_(None))
        ).all()
        for row in details:
            cache.put(row, _post(row, None))
    vectors = _vectors(session, [r.id for r in rows], version)
    out = []
    for row, post in zip(rows, posts, strict=True):
        post = post or cache.get(row)
        if post is None:  # anonymised since the first query: no longer evidence
            continue
        vector = decode_vector(vectors.get(row.id))
        out.append((row, post if vector is None else replace(post, vector=vector)))
    return out


def _vectors(session: Session, ids: list[int], version: str | None) -> dict[int, bytes | None]:
    if version is None:
        return {}
    found: dict[int, bytes | None] = {}
    for start in range(0, len(ids), DETAIL_CHUNK):
        found.update(
            session.execute(
                select(Score.mention_id, Score.embedding).where(
                    Score.mention_id.in_(ids[start : start + DETAIL_CHUNK]), Score.model_version == version
                )
            ).all()
        )
    return found


def _members(
    session: Session, mentions: Sequence[Mention], now: datetime, config: StoriesConfig
) -> Sequence[Row[Any]]:
    """Who the first MEMBERS_COMPARED members of every recent story of the batch's brands are (ids and
    identity only: texts and vectors are read for the members a kept index does not have yet)."""
    ranked = (
        select(
            Mention.id,
            Mention.story_id,
            Story.brand_id,
            Mention.source_id,
            Mention.external_id,
            Mention.parent_external_id,
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
    return session.execute(select(ranked).where(ranked.c.rank <= MEMBERS_COMPARED).order_by(ranked.c.id)).all()


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
    session.execute(module.insert(Story.__table__).on_conflict_do_nothing(index_elements=["key"]), rows)
    keys = [row["key"] for row in rows]
    ids = dict(session.execute(select(Story.key, Story.id).where(Story.key.in_(keys))).all())
    for group, row in zip(groups, rows, strict=True):
        group.story_id = ids[row["key"]]
