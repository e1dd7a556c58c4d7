"""Simulated source: a realistic, seeded stream of sv/da/no/en posts about a brand, with a complaint storm.

It is what `repmon demo` and end-to-end tests run on, so it must behave like a real source:

* Posts exist in simulated time and are generated only up to "now", read from an injectable clock,
  so the demo can accelerate time. The cursor is the time generated up to; the next poll continues
  from there. A baseline Poisson stream (varying over the day) mixes praise, questions, news shares
  and complaints about each aspect in monitor.kernel.types.ASPECTS, with emoji, hashtags and @handles.
* Deterministic by seed and independent of how often one polls: every minute of simulated time has
  its own random stream (seed, minute), so polling every 10 s or once an hour yields the same posts
  with the same ids.
* A complaint storm at `storm_at`: one viral complaint, then many negative posts in a short window:
  reposts of it, retellings that quote it (parent = the viral post) and similar complaints.
* Engagement grows over time as a self-exciting cascade (connectors.simulated_engagement); `repoll`
  returns the counts at the clock's current time. With `deleted_share`, some authors delete their posts
  later: deleted posts are no longer fetched and `repoll` reports them as deleted (the privacy path).

Each mention's `raw` carries the generator's ground truth (category, aspect, storm) for evaluation.
"""

from __future__ import annotations

import bisect
import math
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from connectors.simulated_engagement import EngagementParams, counts_at, params_for
from connectors.simulated_text import COMPLAINTS, FIRST_NAMES, GENERAL, REPOST, RETELLINGS
from monitor.kernel.types import ASPECTS, BrandQuery, EngagementUpdate, FetchedMention, Page

Clock = Callable[[], datetime]
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_BASELINE_MIX = (("praise", 0.25), ("question", 0.22), ("news", 0.13), ("complaint", 0.40))
_STORM_MIX = (("repost", 0.3), ("retelling", 0.3), ("complaint", 0.4))
_HANDLE_SUFFIX = {"sv": "Sverige", "da": "Danmark", "no": "Norge"}
_ID_RE = re.compile(r"sim-(\d+)-(?:(\d+)-(\d+)|s(\d+))$")


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _minute(t: datetime) -> int:
    return math.floor((t - EPOCH).total_seconds() / 60)


def _at(minute: int, seconds: float = 0.0) -> datetime:
    return EPOCH + timedelta(minutes=minute, seconds=seconds)


def diurnal_factor(minute: int) -> float:
    """Posting activity over a Nordic day (mean 1.0): lowest around 02:00, highest around 14:00 CET."""
    local_hour = ((minute / 60.0) + 1.0) % 24.0
    return 1.0 + 0.6 * math.cos(2 * math.pi * (local_hour - 14.0) / 24.0)


@dataclass(frozen=True, slots=True)
class _Post:
    external_id: str
    created_at: datetime
    key: tuple[int, ...]  # seed key of its content and engagement
    kind: str  # praise/question/news/complaint/viral/repost/retelling


class SimulatedConnector:
    """A generated stream for one brand; see the module docstring."""

    name: ClassVar[str] = "simulated"

    class Settings(BaseModel):
        model_config = ConfigDict(extra="forbid")

        brand: str | None = Field(None, description="Brand name in the posts (default: the query's brand).")
        seed: int = Field(7, ge=0, description="Same seed, same posts, ids and engagement.")
        start: datetime | None = Field(None, description="Simulated time zero (default: the clock at start).")
        rate_per_hour: float = Field(30.0, gt=0, le=100_000, description="Mean baseline posts per hour.")
        storm_at: float | datetime | None = Field(
            45.0, description="Storm start: minutes after `start`, or a time; none for no storm."
        )
        storm_size: int = Field(150, ge=0, le=100_000, description="Posts in the storm.")
        storm_duration_minutes: float = Field(30.0, gt=0, le=7 * 24 * 60)
        storm_aspect: Literal[ASPECTS] | None = Field(None, description="Complaint topic (default: by seed).")  # type: ignore[valid-type]
        languages: list[str] = Field(default_factory=lambda: ["sv", "da", "no", "en"], min_length=1)
        language_tag_share: float = Field(
            0.7, ge=0, le=1, description="Share of posts whose platform supplies a language tag."
        )
        page_size: int = Field(200, ge=1, le=10_000)
        deleted_share: float = Field(
            0.0, ge=0, le=1, description="Share of posts their authors delete later (mean 3 h after posting)."
        )

        @field_validator("storm_at")
        @classmethod
        def _storm_not_before_start(cls, value: float | datetime | None) -> float | datetime | None:
            if isinstance(value, int | float) and value < 0:
                raise ValueError("storm_at in minutes counts from `start` and cannot be negative")
            return value

        @field_validator("languages")
        @classmethod
        def _known_languages(cls, value: list[str]) -> list[str]:
            unknown = sorted(set(value) - set(GENERAL))
            if unknown:
                raise ValueError(f"unsupported language(s) {unknown}; choose from {sorted(GENERAL)}")
            return list(dict.fromkeys(value))

    def __init__(self, settings: Settings | Mapping[str, Any], clock: Clock | None = None) -> None:
        self.settings = settings if isinstance(settings, self.Settings) else self.Settings(**settings)
        self.clock: Clock = clock or (lambda: datetime.now(UTC))
        s = self.settings
        self.start = _aware(s.start) if s.start else _at(_minute(_aware(self.clock())))
        self._storm = self._plan_storm()
        self._storm_times = [p.created_at for p in self._storm]
        storm_rng = np.random.default_rng([s.seed, 2, 1])
        self.storm_aspect = s.storm_aspect or ASPECTS[int(storm_rng.integers(len(ASPECTS)))]
        non_english = [lang for lang in s.languages if lang != "en"] or s.languages
        self.storm_language = non_english[int(storm_rng.integers(len(non_english)))]

    # ------------------------------------------------------------------ schedule

    @property
    def storm_start(self) -> datetime | None:
        at = self.settings.storm_at
        if at is None or self.settings.storm_size == 0:
            return None
        return _aware(at) if isinstance(at, datetime) else self.start + timedelta(minutes=float(at))

    def _plan_storm(self) -> list[_Post]:
        begin = self.storm_start
        if begin is None:
            return []
        s = self.settings
        rng = np.random.default_rng([s.seed, 2, 0])
        duration = s.storm_duration_minutes * 60.0
        # Front-loaded: most of the storm comes early, then it tails off.
        offsets = np.sort(duration * rng.beta(1.3, 2.5, s.storm_size - 1)) + 30.0
        kinds = rng.choice([k for k, _ in _STORM_MIX], size=offsets.size, p=[p for _, p in _STORM_MIX])
        posts = [_Post(f"sim-{s.seed}-s0", begin + timedelta(seconds=5), (s.seed, 4, 0), "viral")]
        posts += [
            _Post(f"sim-{s.seed}-s{j + 1}", begin + timedelta(seconds=float(off)), (s.seed, 4, j + 1), str(kind))
            for j, (off, kind) in enumerate(zip(offsets, kinds, strict=True))
        ]
        return posts

    def _baseline(self, minute: int) -> list[_Post]:
        s = self.settings
        rng = np.random.default_rng([s.seed, 0, minute])
        count = int(rng.poisson(s.rate_per_hour / 60.0 * diurnal_factor(minute)))
        offsets = np.sort(rng.uniform(0.0, 60.0, count))
        kinds = rng.choice([k for k, _ in _BASELINE_MIX], size=count, p=[p for _, p in _BASELINE_MIX])
        return [
            _Post(f"sim-{s.seed}-{minute}-{k}", _at(minute, float(off)), (s.seed, 1, minute, k), str(kind))
            for k, (off, kind) in enumerate(zip(offsets, kinds, strict=True))
        ]

    def _posts_between(self, lo: datetime, hi: datetime) -> Iterator[tuple[int, list[_Post]]]:
        """Posts with lo < created_at <= hi, grouped by minute (in order)."""
        first = bisect.bisect_right(self._storm_times, lo)
        last = bisect.bisect_right(self._storm_times, hi)
        storm = self._storm[first:last]
        for minute in range(_minute(lo), _minute(hi) + 1):
            posts = [p for p in self._baseline(minute) if lo < p.created_at <= hi]
            end = _at(minute + 1)
            while storm and storm[0].created_at < end:
                posts.append(storm.pop(0))
            yield minute, sorted(posts, key=lambda p: p.created_at)

    # ------------------------------------------------------------------ protocol

    def fetch(self, query: BrandQuery, cursor: Mapping[str, Any] | None) -> Iterator[Page]:
        """Posts generated after the cursor's time up to the clock's now, in pages cut at minute ends."""
        now = _aware(self.clock())
        hi = min(now, _aware(query.until)) if query.until else now
        if cursor and cursor.get("t"):
            lo = datetime.fromisoformat(cursor["t"])
        else:
            lo = _aware(query.since) if query.since else self.start
        if hi <= lo:
            return
        brand = self.settings.brand or query.brand
        batch: list[FetchedMention] = []
        for minute, posts in self._posts_between(lo, hi):
            batch += [self._mention(p, brand, now) for p in posts if not self._deleted(p, now)]
            if len(batch) >= self.settings.page_size:
                yield Page(tuple(batch), {"t": min(_at(minute + 1), hi).isoformat()})
                batch = []
        yield Page(tuple(batch), {"t": hi.isoformat()})

    def repoll(self, external_ids: Sequence[str]) -> Iterator[EngagementUpdate]:
        """Current engagement of our own posts (ids of other seeds or sources are ignored)."""
        now = _aware(self.clock())
        for external_id in external_ids:
            post = self._post_by_id(external_id)
            if post is None or post.created_at > now:
                continue
            if self._deleted(post, now):
                yield EngagementUpdate(external_id, now, deleted=True)
                continue
            likes, reposts, replies = counts_at(
                post.key, self._engagement(post), (now - post.created_at).total_seconds()
            )
            yield EngagementUpdate(external_id, now, likes=likes, reposts=reposts, replies=replies)

    # ------------------------------------------------------------------ content

    def _post_by_id(self, external_id: str) -> _Post | None:
        m = _ID_RE.match(external_id)
        if not m or int(m.group(1)) != self.settings.seed:
            return None
        if m.group(4) is not None:
            j = int(m.group(4))
            return self._storm[j] if j < len(self._storm) else None
        minute, k = int(m.group(2)), int(m.group(3))
        posts = self._baseline(minute)
        return posts[k] if k < len(posts) else None

    def _deleted(self, post: _Post, now: datetime) -> bool:
        """Whether the author has deleted the post by `now` (the viral complaint is never deleted)."""
        if not self.settings.deleted_share or post.kind == "viral":
            return False
        rng = np.random.default_rng([*post.key, 7])
        if rng.random() >= self.settings.deleted_share:
            return False
        return post.created_at + timedelta(seconds=float(rng.exponential(3 * 3600.0))) <= now

    def _engagement(self, post: _Post) -> EngagementParams:
        return params_for(post.kind, np.random.default_rng([*post.key, 9]))

    def _mention(self, post: _Post, brand: str, now: datetime) -> FetchedMention:
        s = self.settings
        rng = np.random.default_rng([*post.key, 1])
        storm = post.key[1] == 4
        if storm and (post.kind in ("viral", "repost") or rng.random() < 0.8):
            lang = self.storm_language
        else:
            lang = s.languages[int(rng.integers(len(s.languages)))]
        author = self._author(rng, lang)
        aspect: str | None = None
        parent: str | None = None
        viral = self._storm[0] if self._storm else None
        viral_author = self._author(np.random.default_rng([*viral.key, 1]), self.storm_language) if viral else ""
        if post.kind in ("praise", "question", "news"):
            template = _pick(rng, GENERAL[lang][post.kind])
        elif post.kind in ("repost", "retelling") and viral is not None:
            parent, aspect = viral.external_id, self.storm_aspect
            if post.kind == "repost":
                viral_text = self._mention(viral, brand, now).text
                template = REPOST.replace("{text}", viral_text.replace("{", "{{").replace("}", "}}"))
            else:
                template = _pick(rng, RETELLINGS[lang])
        else:
            aspect = self.storm_aspect if storm else ASPECTS[int(rng.integers(len(ASPECTS)))]
            template = _pick(rng, COMPLAINTS[lang][aspect])
        text = _render(template, brand, lang, rng, viral_author)
        likes, reposts, replies = counts_at(
            post.key, self._engagement(post), (now - post.created_at).total_seconds()
        )
        followers = int(rng.lognormal(5.0, 1.5)) if post.kind != "viral" else int(rng.integers(5_000, 20_000))
        category = "complaint" if post.kind in ("viral", "retelling", "repost") else post.kind
        links = (f"https://news.invalid/{lang}/{post.external_id}",) if post.kind == "news" else ()
        return FetchedMention(
            external_id=post.external_id,
            text=text,
            created_at=post.created_at,
            url=f"https://simulated.invalid/@{author}/{post.external_id}",
            author=author,
            author_followers=followers,
            language=lang if rng.random() < s.language_tag_share else None,
            likes=likes,
            reposts=reposts,
            replies=replies,
            parent_external_id=parent,
            links=links,
            raw={"simulated": True, "kind": post.kind, "category": category, "aspect": aspect, "storm": storm},
        )

    @staticmethod
    def _author(rng: np.random.Generator, lang: str) -> str:
        return f"{_pick(rng, FIRST_NAMES[lang])}{int(rng.integers(1, 999))}"


def _pick(rng: np.random.Generator, options: Sequence[str]) -> str:
    return options[int(rng.integers(len(options)))]


def _genitive(brand: str, lang: str) -> str:
    if lang == "en":
        return f"{brand}'s"
    if brand.isupper() and lang == "sv":
        return f"{brand}:s"
    if brand.lower().endswith(("s", "x", "z")):
        return brand if lang == "sv" else f"{brand}'"
    return f"{brand}s"


def _render(template: str, brand: str, lang: str, rng: np.random.Generator, viral_author: str) -> str:
    slug = re.sub(r"\W+", "", brand)
    handle = f"@{slug}_{_HANDLE_SUFFIX.get(lang, 'Help')}"
    return template.format(
        brand=brand,
        brand_s=_genitive(brand, lang),
        handle=handle,
        tag=f"#{slug.lower()}" if rng.random() < 0.5 else f"#{slug}Fail",
        n=int(rng.integers(20, 180)),
        amount=int(rng.integers(2, 60)) * 50,
        days=int(rng.integers(3, 21)),
        author=viral_author,
    )
