"""The declarative HTTP connector: a subclass says WHAT (request, parse, paginator); this says HOW.

`HttpConnector.fetch` walks each stream newest-first from the signpost (`BrandQuery.until`, frozen at
sync start, or now) down to the high-water mark of the previous run. Every page carries the full cursor,
including where the walk is, so a crash or Ctrl-C resumes at the same page; only when a walk completes
does the high-water mark move up to the signpost. Posts published between the signpost and the end of
the sync are therefore picked up by the next sync instead of being skipped.

Cursor shape (JSON, stored by the sync loop with each page):
    {"streams": {"<stream>": {"hwm": iso, "walk": {"upper": iso, "lower": iso, "token": ..., "pages": n},
                             "backfill": {"since": iso, "until": iso, "walk": ..., "done": bool}}}}
"""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from connectors.http.client import Decoder, Request, Response, SafeClient
from connectors.http.paging import Exhausted, Paginator, Slide
from connectors.http.policy import Action, RetryPolicy
from monitor.kernel.net import Resolver, Scrubber, UnsafeURLError, check_url
from monitor.kernel.store.ingest import bounded_count
from monitor.kernel.types import BrandQuery, EngagementUpdate, FetchedMention, Page, SourceError

log = logging.getLogger(__name__)

# What a hostile or odd item raises while being read: wrong types, missing keys, absurd numbers, nesting.
# An item that raises one of these is skipped with a note; the rest of its page is stored.
ITEM_SHAPE_ERRORS = (TypeError, KeyError, ValueError, AttributeError, IndexError, OverflowError, RecursionError)
MAX_ITEM_NOTES = 5  # per page: a page of 100 broken items needs one summary, not 100 notes
MAX_LINKS = 50
MAX_TOKEN_CHARS = 4096  # a next-page token or URL longer than this is not one
_OPTIONAL_TEXT = ("url", "author", "language", "title", "parent_external_id")
_COUNTS = ("author_followers", "likes", "reposts", "replies", "quotes", "rating")
EARLIEST_TIME = datetime(1970, 1, 1, tzinfo=UTC)
LATEST_TIME = datetime(9000, 1, 1, tzinfo=UTC)


class HttpSettings(BaseModel):
    """Settings every HTTP source has; connectors extend this with their own (secrets as SecretStr)."""

    model_config = ConfigDict(extra="forbid")

    base_url: str
    timeout_s: float = Field(20.0, gt=0)
    deadline_s: float = Field(80.0, gt=0, description="whole-response limit (timeouts reset per chunk)")
    max_response_bytes: int = Field(5_000_000, gt=0)
    page_size: int = Field(40, gt=0)
    max_pages: int = Field(20, gt=0, description="pages per stream per run; a longer walk resumes next run")
    backfill_max_pages: int = Field(10_000, gt=0, description="the same bound for `repmon backfill` runs")
    initial_lookback_hours: float = Field(24.0, ge=0)
    overlap_s: float = Field(120.0, ge=0, description="re-cover this much before the high-water mark")
    allow_private_network: bool = False
    user_agent: str = "reputation-monitor/0.1 (self-hosted brand monitoring)"
    max_attempts: int = Field(4, ge=1)
    backoff_base_s: float = Field(1.0, ge=0)
    backoff_cap_s: float = Field(60.0, ge=0)
    max_retry_after_s: float = Field(120.0, ge=0)
    repoll_batch_size: int = Field(25, gt=0)

    @field_validator("base_url")
    @classmethod
    def _url_shape(cls, value: str) -> str:
        try:
            check_url(value, allow_private=True)  # shape only; addresses are checked per request
        except UnsafeURLError as exc:
            raise ValueError(str(exc)) from exc
        return value.rstrip("/")


def parse_time(value: Any) -> datetime | None:
    """ISO 8601 (with `Z`), epoch seconds, or None (also for an unreadable value: one post with a
    broken date is skipped instead of failing the whole page); always timezone-aware UTC."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        if isinstance(value, int | float):
            parsed = datetime.fromtimestamp(value, UTC)
        else:
            parsed = datetime.fromisoformat(str(value)[:64].strip().replace("Z", "+00:00"))
        # `0001-01-01T00:00:00+01:00` overflows here; anyone can write such a date into a post
        parsed = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except (ValueError, OverflowError, OSError, TypeError):
        return None
    if not EARLIEST_TIME <= parsed <= LATEST_TIME:  # later arithmetic (+ overlap, + repoll) must not overflow
        return None
    return parsed


def typed(mention: FetchedMention) -> FetchedMention:
    """The mention with every field of the type `FetchedMention` declares, checked where it is built.

    Whatever a platform put in a post (a list as `lang`, a dict as a like count, a number as a title)
    must not reach matching, language detection or the store, where it would fail the whole page. An id
    or text that is not a string makes the post unreadable (TypeError: skipped with a note); a wrong
    optional field becomes unknown; an id number becomes its string."""
    if not isinstance(mention.external_id, str) or not mention.external_id.strip():
        raise TypeError(f"id is {type(mention.external_id).__name__} {str(mention.external_id)[:40]!r}")
    if not isinstance(mention.text, str):
        raise TypeError(f"text is {type(mention.text).__name__}, not a string")
    if not isinstance(mention.created_at, datetime) or mention.created_at.tzinfo is None:
        raise TypeError("created_at is not a timezone-aware datetime")
    changes: dict[str, Any] = {}
    for name in _OPTIONAL_TEXT:
        value = getattr(mention, name)
        if value is not None and not isinstance(value, str):
            is_number = isinstance(value, int) and not isinstance(value, bool)
            changes[name] = str(value) if is_number and name == "parent_external_id" else None
    for name in _COUNTS:
        value = getattr(mention, name)
        if value is not None and bounded_count(value) is None:
            changes[name] = None
    links = mention.links
    if not isinstance(links, tuple) or len(links) > MAX_LINKS or not all(isinstance(u, str) for u in links):
        links = tuple(u for u in links if isinstance(u, str)) if isinstance(links, list | tuple) else ()
        changes["links"] = links[:MAX_LINKS]
    if mention.raw is not None and not isinstance(mention.raw, Mapping):
        changes["raw"] = None
    return replace(mention, **changes) if changes else mention


def iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


class HttpConnector:
    """Base class implementing `monitor.kernel.types.Connector` for paginated JSON HTTP APIs."""

    name: ClassVar[str]
    Settings: ClassVar[type[HttpSettings]] = HttpSettings
    paginator: ClassVar[Paginator]
    cursor_field: ClassVar[str] = "created_at"  # FetchedMention attribute the high-water mark follows
    outcome_overrides: ClassVar[Mapping[int | str, Action]] = {}
    # What this source can never reach, shown in backfill coverage reports and `sources list`.
    limits: ClassVar[tuple[str, ...]] = ()
    # How far back the platform lets anyone search (X recent search: 7 days); None = no fixed horizon.
    max_lookback: ClassVar[timedelta | None] = None
    description: ClassVar[str] = ""

    def __init__(
        self,
        settings: HttpSettings | Mapping[str, Any],
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] | None = None,
        rng: Callable[[], float] | None = None,
        clock: Callable[[], datetime] | None = None,
        resolver: Resolver | None = None,
    ) -> None:
        if not isinstance(settings, self.Settings):
            try:
                settings = self.Settings.model_validate(dict(settings))  # type: ignore[arg-type]
            except ValidationError as exc:  # without input values: a mistyped secret must not be echoed
                problems = "; ".join(
                    f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}"
                    for e in exc.errors(include_input=False, include_url=False)
                )
                raise SourceError("config", f"{self.name}: invalid settings: {problems}") from None
        self.settings = settings
        self._item_notes: list[str] = []  # filled by `mentions_from`, drained into the page's notes
        self.clock = clock or (lambda: datetime.now(UTC))
        retry = RetryPolicy(
            max_attempts=settings.max_attempts,
            base_s=settings.backoff_base_s,
            cap_s=settings.backoff_cap_s,
            max_retry_after_s=settings.max_retry_after_s,
        )
        if sleep is not None:
            retry.sleep = sleep
        if rng is not None:
            retry.rng = rng
        self.scrubber = Scrubber.from_settings(settings)
        self.client = SafeClient(
            source=self.name,
            timeout_s=settings.timeout_s,
            deadline_s=settings.deadline_s,
            max_response_bytes=settings.max_response_bytes,
            user_agent=settings.user_agent,
            retry=retry,
            scrubber=self.scrubber,
            allow_private_network=settings.allow_private_network,
            overrides=self.outcome_overrides,
            inspect=self.inspect_failure,
            transport=transport,
            resolver=resolver,
        )

    # ------------------------------------------------------------------ what subclasses declare

    def streams(self, query: BrandQuery) -> Sequence[str]:
        """Independent result lists for one brand (e.g. search plus one timeline per hashtag).

        Default: one search stream per brand term, each with its own cursor."""
        return [f"search:{term}" for term in query.terms]

    def build_request(
        self, query: BrandQuery, stream: str, lower: datetime, upper: datetime, token: Any
    ) -> Request:
        raise NotImplementedError

    def parse_page(self, body: Any, response: Response, stream: str) -> list[FetchedMention]:
        raise NotImplementedError

    def inspect_failure(self, response: Response) -> SourceError | None:
        """A platform's own reading of a non-2xx answer, before the generic table (None = use the table)."""
        return None

    def spend(self, state: dict[str, Any], stream: str) -> str | None:
        """Account for one request about to be sent; a returned note stops the walk until the next run."""
        return None

    def authenticate(self) -> Mapping[str, str]:
        """Headers that authenticate a request (session tokens are fetched lazily and cached)."""
        return {}

    def repoll(self, external_ids: Sequence[str]) -> Iterator[EngagementUpdate]:
        """Current engagement for stored mentions; sources without a lookup API yield nothing."""
        return iter(())

    def close(self) -> None:
        self.client.close()

    def lookup_updates(
        self,
        batch: Sequence[str],
        items: Sequence[Any],
        ident: Callable[[dict[str, Any]], Any],
        convert: Callable[[dict[str, Any], datetime], EngagementUpdate | None],
    ) -> Iterator[EngagementUpdate]:
        """Updates for `batch` from a batch lookup's `items` (`ident(item)` is the post's id, `convert`
        builds its update). A post the answer leaves out was deleted, and deleted posts are erased, so
        that is only concluded from an answer fully accounted for: every item readable and one of those
        asked for. Otherwise the missing posts are left as they are (read again next time). One item
        that cannot be converted is skipped and logged, never the batch."""
        wanted, found, unaccounted = set(batch), {}, 0
        for item in items:
            key = ident(item) if isinstance(item, dict) else None
            if isinstance(key, str) and key in wanted:
                found[key] = item
            else:
                unaccounted += 1
        if unaccounted:
            log.warning(
                "%s: lookup answer with %d unreadable or unasked item(s): no deletion concluded",
                self.name,
                unaccounted,
            )
        now = self.clock()
        for external_id in batch:
            item = found.get(external_id)
            if item is None:
                if not unaccounted:
                    yield EngagementUpdate(external_id=external_id, observed_at=now, deleted=True)
                continue
            update = self.converted(external_id, convert, item, now)
            if update is not None:
                yield update

    def converted(
        self,
        external_id: str,
        convert: Callable[[dict[str, Any], datetime], EngagementUpdate | None],
        item: dict[str, Any],
        now: datetime,
    ) -> EngagementUpdate | None:
        """`convert(item, now)`, or None (logged) when the item is of a shape it cannot read."""
        try:
            return convert(item, now)
        except ITEM_SHAPE_ERRORS as exc:
            problem = f"{type(exc).__name__}: {str(exc)[:120]}"
            log.warning("%s: unreadable re-poll item %s: %s", self.name, external_id[:80], problem)
            return None

    def looked_up(self, body: Any, *path: str) -> list[Any]:
        """The list at `path` in a batch lookup's answer. A lookup decides which posts were deleted, and
        those are erased from the store, so an answer without that list is malformed: never read as
        "none of these exists" (a platform that leaves the list out when nothing was found says so)."""
        node = body
        for key in path:
            if not isinstance(node, dict):
                break
            node = node.get(key)
        else:
            if isinstance(node, list):
                return node
        raise self.client.error("malformed", f"a lookup answered without a list at `{'.'.join(path)}`")

    def mentions_from(
        self, items: Sequence[Any], convert: Callable[..., FetchedMention | None], *args: Any
    ) -> list[FetchedMention]:
        """`convert(item, *args)` for every item; one that is not an object or that raises is skipped and
        noted (the page's notes), so one hostile post never blocks its neighbours. A non-empty page of which
        no item could be read is a malformed answer (the platform changed shape): reported, not paged past.
        """
        found: list[FetchedMention] = []
        broken: list[str] = []
        passed: list[int] = []
        for index, item in enumerate(items):
            if not isinstance(item, dict):
                broken.append(f"item {index} is {type(item).__name__}, not an object")
                continue
            try:
                mention = convert(item, *args)
                if mention is not None:
                    mention = typed(mention)
            except ITEM_SHAPE_ERRORS as exc:
                broken.append(f"item {index}: {type(exc).__name__}: {str(exc)[:120]}")
                continue
            if mention is not None:
                found.append(mention)
            else:
                passed.append(index)
        if passed:  # no id, no readable date, deleted, not a post: said once per page, never silently
            note = f"passed over {len(passed)} item(s) without an id or a readable date, or not posts"
            log.info("%s: %s (items %s)", self.name, note, passed[:MAX_ITEM_NOTES])
            self._item_notes.append(note)
        if broken:
            # All of several posts unreadable: the platform changed its shape. A page of one bad post is that
            # post's problem (reported below), or it would stop the source on every poll.
            if len(broken) == len(items) > 1:
                raise self.client.error("malformed", f"none of {len(items)} items readable ({broken[0]})")
            summary = "; ".join(broken[:MAX_ITEM_NOTES]) + (" …" if len(broken) > MAX_ITEM_NOTES else "")
            note = self.scrubber.scrub(f"skipped {len(broken)} unreadable item(s): {summary}")
            log.warning("%s: %s", self.name, note)
            self._item_notes.append(note)
        return found

    # ------------------------------------------------------------------ helpers for subclasses

    def url(self, path: str) -> str:
        return f"{self.settings.base_url}/{path.lstrip('/')}"

    def send(self, request: Request, *, decode: Decoder | None = Response.json) -> tuple[Response, Any]:
        if auth := self.authenticate():
            request = Request(
                url=request.url,
                params=request.params,
                headers={**auth, **request.headers},
                method=request.method,
                json_body=request.json_body,
                form=request.form,
                auth=request.auth,
            )
        return self.client.send(request, decode=decode)

    # ------------------------------------------------------------------ the walk

    def fetch(self, query: BrandQuery, cursor: Mapping[str, Any] | None) -> Iterator[Page]:
        state: dict[str, Any] = copy.deepcopy(dict(cursor or {}))
        state.setdefault("streams", {})
        for stream in self.streams(query):
            stream_state = state["streams"].setdefault(stream, {})
            yield from self._walk_stream(query, stream, stream_state, state)

    def _bounds(self, query: BrandQuery, stream_state: dict[str, Any]) -> tuple[dict[str, Any], str]:
        """The walk to continue or start, and the key it lives under ("walk" or "backfill")."""
        now = self.clock()
        if query.since is not None:  # backfill: its own walk, the live high-water mark is left alone
            job = stream_state.get("backfill") or {}
            same_job = job.get("since") == iso(query.since) and (
                query.until is None or job.get("until") == iso(query.until)
            )
            if not same_job:
                job = {
                    "since": iso(query.since),
                    "until": iso(query.until or now),
                    "walk": None,
                    "done": False,
                }
                stream_state["backfill"] = job
            if job.get("done"):
                return {}, "backfill"
            if not job.get("walk"):
                job["walk"] = {
                    "upper": job["until"],
                    "lower": job["since"],
                    "signpost": job["until"],
                    "token": None,
                    "pages": 0,
                }
            return job["walk"], "backfill"
        walk = stream_state.get("walk")
        if not walk:
            hwm = parse_time(stream_state.get("hwm"))
            lower = (
                hwm - timedelta(seconds=self.settings.overlap_s)
                if hwm
                else now - timedelta(hours=self.settings.initial_lookback_hours)
            )
            upper = iso(query.until or now)
            # `upper` may slide down past result caps; `signpost` is what a finished walk has covered.
            walk = {"upper": upper, "lower": iso(lower), "signpost": upper, "token": None, "pages": 0}
            stream_state["walk"] = walk
        return walk, "walk"

    def _walk_stream(
        self, query: BrandQuery, stream: str, stream_state: dict[str, Any], state: dict[str, Any]
    ) -> Iterator[Page]:
        walk, mode = self._bounds(query, stream_state)
        if not walk:
            return
        lower, upper = parse_time(walk["lower"]), parse_time(walk["upper"])
        assert lower is not None and upper is not None
        seen_tokens = {json.dumps(walk["token"], sort_keys=True)}
        pages_this_run = 0
        page_limit = self.settings.backfill_max_pages if mode == "backfill" else self.settings.max_pages
        yielded: set[str] = set()  # a slid window re-serves its boundary item: yield each mention once
        while True:
            notes: list[str] = []
            if pages_this_run >= page_limit:
                log.info("%s/%s: %d pages this run; walk continues next run", self.name, stream, pages_this_run)
                return
            if stop := self.spend(state, stream):
                yield Page(mentions=[], cursor=copy.deepcopy(state), notes=(f"{stream}: {stop}",))
                return
            request = self.build_request(query, stream, lower, upper, walk["token"])
            response, body = self.send(request)
            if response.status // 100 != 2:
                raise self.client.error("fatal", f"HTTP {response.status} from {response.url}: endpoint not found")
            pages_this_run += 1
            walk["pages"] = int(walk.get("pages", 0)) + 1
            self._item_notes.clear()
            mentions = self.parse_page(body, response, stream)
            notes.extend(self._item_notes)
            # A page whose readable posts were all seen is a loop, unless some of its posts were unreadable:
            # then it also holds unseen posts and the walk goes on (repeated tokens and max_pages still stop it).
            if mentions and not self._item_notes and all(m.external_id in yielded for m in mentions):
                notes.append(
                    f"{stream}: pagination loop (page {walk['pages']} repeats earlier results); walk ended"
                )
                log.warning("%s: %s", self.name, notes[-1])
                self._finish(stream_state, mode, walk)
                yield Page(mentions=[], cursor=copy.deepcopy(state), notes=tuple(notes))
                return
            kept = [m for m in mentions if lower <= self._position(m) <= upper and m.external_id not in yielded]
            yielded.update(m.external_id for m in kept)
            reached_floor = self._past_floor(mentions, lower)
            # An empty page ends the walk only if the paginator says so: some APIs (Bluesky search)
            # return pages emptied by moderation filtering that still carry a cursor onwards.
            step = None if reached_floor else self._next_token(response, body, mentions, walk["token"])
            if isinstance(step, Exhausted):
                notes.append(f"{stream}: {step.note}")
                step = None
            if isinstance(step, Slide) and step.upper >= upper:
                notes.append(f"{stream}: result cap reached inside one second; the rest of it is not reachable")
                step = None
            if isinstance(step, Slide):
                notes.append(step.note)
                upper = min(upper, step.upper)
                walk["upper"], step = iso(upper), None
                seen_tokens = {json.dumps(None)}
                walk["token"] = None
                yield Page(mentions=kept, cursor=copy.deepcopy(state), notes=tuple(notes))
                continue
            key = json.dumps(step, sort_keys=True)
            if step is not None and key in seen_tokens:
                notes.append(f"{stream}: pagination loop (token repeated after {walk['pages']} pages); walk ended")
                log.warning("%s: %s", self.name, notes[-1])
                step = None
            seen_tokens.add(key)
            if step is None:
                self._finish(stream_state, mode, walk)
            else:
                walk["token"] = step
            yield Page(mentions=kept, cursor=copy.deepcopy(state), notes=tuple(notes))
            if step is None:
                return

    def _past_floor(self, mentions: Sequence[FetchedMention], lower: datetime) -> bool:
        """Pages are newest first: the walk is past its floor when the page's last post is, confirmed by the
        one before it. One post with a hostile date (1970) must not end the walk and lose the posts after it
        (at worst one more page is read when exactly the last post crossed the floor)."""
        tail = [self._position(m) < lower for m in mentions[-2:]]
        return bool(tail) and all(tail)

    def _next_token(self, response: Response, body: Any, mentions: Sequence[FetchedMention], token: Any) -> Any:
        """The paginator's answer, checked: the token goes into the next URL and into the stored cursor, so a
        platform's paging field that is a dict, a huge number or a 10 KB string is a malformed answer."""
        try:
            step = self.paginator.next_token(response, body, mentions, token)
        except ITEM_SHAPE_ERRORS as exc:
            raise self.client.error(
                "malformed", f"unreadable paging fields ({type(exc).__name__}: {exc})"
            ) from exc
        if step is None or isinstance(step, Slide | Exhausted):
            return step
        readable = isinstance(step, str) and 0 < len(step) <= MAX_TOKEN_CHARS
        readable |= isinstance(step, int) and not isinstance(step, bool) and 0 <= step < 2**63
        if not readable:
            raise self.client.error(
                "malformed", f"unreadable next-page token ({type(step).__name__} {str(step)[:60]!r})"
            )
        return step

    def _finish(self, stream_state: dict[str, Any], mode: str, walk: dict[str, Any]) -> None:
        """A complete walk covered everything up to its upper bound: that becomes the high-water mark."""
        if mode == "backfill":
            stream_state["backfill"]["walk"] = None
            stream_state["backfill"]["done"] = True
            return
        previous = parse_time(stream_state.get("hwm"))
        upper = parse_time(walk.get("signpost") or walk["upper"])
        assert upper is not None
        stream_state["hwm"] = iso(max(upper, previous) if previous else upper)
        stream_state["walk"] = None

    def _position(self, mention: FetchedMention) -> datetime:
        value = getattr(mention, self.cursor_field)
        assert isinstance(value, datetime)
        return value
