"""The only place connectors touch the network: httpx with timeouts, a body-size cap, the SSRF guard,
the outcome table and retries. It turns every failure into a `SourceError` whose message is scrubbed.
"""

from __future__ import annotations

import base64
import json
import logging
import time
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from connectors.http.deadline import deadline, deadline_transport
from connectors.http.policy import Action, RetryPolicy, classify, parse_reset, parse_retry_after
from monitor.kernel.net import Resolver, Scrubber, UnresolvableHostError, UnsafeURLError, check_url, pinned_request
from monitor.kernel.types import SourceError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Request:
    """A request a connector wants sent; `url` is absolute."""

    url: str
    params: Mapping[str, Any] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    method: str = "GET"
    json_body: Any = None
    form: Mapping[str, str] | None = None
    auth: tuple[str, str] | None = None  # HTTP basic (Reddit client credentials)


@dataclass(frozen=True)
class Response:
    """A fully read, size-checked response."""

    status: int
    headers: httpx.Headers
    body: bytes
    url: str

    def json(self) -> Any:
        """Decoded JSON; a malformed body raises `MalformedBody` (retried, then reported)."""
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise MalformedBody(f"malformed JSON from {self.url}: {exc}") from exc
        except RecursionError as exc:  # nesting deeper than the interpreter's stack: hostile, not a bug of ours
            raise MalformedBody(f"JSON from {self.url} is nested too deeply") from exc

    @property
    def action(self) -> Action:
        return classify(self.status)


class MalformedBody(ValueError):
    """The body could not be decoded as the documented format."""


Decoder = Callable[[Response], Any]


class _Oversize(Exception):
    pass


# Content codings we decode ourselves, one layer at most: httpx decodes every listed layer of a chunk in
# full before any size check (`gzip, gzip` turned 1.8 KB into 2 GB), so the body is read raw and inflated
# with `max_length` bounded by what is still allowed.
_ZLIB_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}


class _BoundedDecoder:
    """Inflates at most `limit` bytes of a single gzip/deflate layer; raises `_Oversize` beyond it."""

    def __init__(self, encoding: str, limit: int) -> None:
        codings = [c.strip().lower() for c in encoding.split(",") if c.strip() and c.strip().lower() != "identity"]
        if len(codings) > 1:
            raise MalformedBody(f"refusing {len(codings)} stacked content encodings ({encoding[:60]!r})")
        if codings and codings[0] not in _ZLIB_WBITS:
            raise MalformedBody(f"unsupported content encoding {codings[0][:30]!r}")
        self._inflate = zlib.decompressobj(_ZLIB_WBITS[codings[0]]) if codings else None
        self.limit = limit
        self.size = 0

    def feed(self, raw: bytes) -> bytes:
        if self._inflate is None:
            out = raw
        else:
            try:
                out = self._inflate.decompress(raw, self.limit - self.size + 1)
            except zlib.error as exc:
                raise MalformedBody(f"corrupt compressed body: {exc}") from exc
            if self._inflate.unconsumed_tail:  # more output pending than the cap allows
                raise _Oversize(f"more than {self.limit} bytes after decompression")
        self.size += len(out)
        if self.size > self.limit:
            raise _Oversize(f"more than {self.limit} bytes streamed")
        return out


class SafeClient:
    """Sends `Request`s, applying the outcome table with retries; returns OK / 304 / GONE responses.

    AUTH, FATAL and exhausted retries raise `SourceError` (kinds auth / fatal / transient /
    rate_limited). `decode` lets a caller re-run the retry loop for malformed bodies too.
    """

    def __init__(
        self,
        *,
        source: str,
        timeout_s: float,
        deadline_s: float | None = None,
        max_response_bytes: int,
        user_agent: str,
        retry: RetryPolicy,
        scrubber: Scrubber,
        allow_private_network: bool = False,
        overrides: Mapping[int | str, Action] | None = None,
        inspect: Callable[[Response], SourceError | None] | None = None,
        transport: httpx.BaseTransport | None = None,
        resolver: Resolver | None = None,
    ) -> None:
        self.source = source
        self.max_response_bytes = max_response_bytes
        # Per-phase timeouts reset with every chunk: a server dripping bytes would hold a worker forever.
        self.deadline_s = deadline_s if deadline_s is not None else 4 * timeout_s
        self.retry = retry
        self.scrubber = scrubber
        self.allow_private_network = allow_private_network
        self.overrides = dict(overrides or {})
        # Platform-specific reading of an error body (YouTube's 403 `quotaExceeded` is not an auth failure).
        self.inspect = inspect
        self._resolver = resolver
        self._addresses: dict[str, list[str]] = {}  # host -> checked addresses (empty: not pinned)
        self._http = httpx.Client(
            timeout=httpx.Timeout(timeout_s),
            follow_redirects=False,
            headers={"User-Agent": user_agent, "Accept-Encoding": "gzip"},
            transport=transport or deadline_transport(),
        )
        self.requests_sent = 0

    def close(self) -> None:
        self._http.close()

    # ------------------------------------------------------------------ errors

    def error(self, kind: Any, message: str, retry_after: float | None = None) -> SourceError:
        return SourceError(kind, self.scrubber.scrub(f"{self.source}: {message}"), retry_after=retry_after)

    # ------------------------------------------------------------------ sending

    def _guard(self, url: str) -> list[str]:
        """The host's checked public addresses (resolved once per client), or [] for private networks."""
        host = httpx.URL(url).host
        if host not in self._addresses:
            try:
                addresses = check_url(url, allow_private=self.allow_private_network, resolver=self._resolver)
            except UnsafeURLError as exc:
                raise self.error("config", str(exc)) from exc
            self._addresses[host] = addresses
        return self._addresses[host]

    def _send_once(self, request: Request) -> Response:
        try:
            built, shown_url = self._build(request)
        except (httpx.InvalidURL, UnicodeError) as exc:  # a Link header or cursor with control characters
            raise MalformedBody(f"cannot build a request from the server's answer: {exc}") from exc
        started = time.monotonic()
        try:
            with deadline(self.deadline_s):
                r = self._http.send(built, stream=True)
                try:
                    return self._read(r, started, shown_url)
                finally:
                    r.close()
        except httpx.TimeoutException as exc:
            if time.monotonic() - started < self.deadline_s:
                raise
            raise httpx.ReadTimeout(f"response not complete within {self.deadline_s:g}s") from exc

    def _build(self, request: Request) -> tuple[httpx.Request, str]:
        addresses = self._guard(request.url)
        self.requests_sent += 1
        headers = dict(request.headers)
        if request.auth:
            token = base64.b64encode(f"{request.auth[0]}:{request.auth[1]}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        built = self._http.build_request(
            request.method,
            request.url,
            params={k: v for k, v in request.params.items() if v is not None} or None,
            headers=headers,
            json=request.json_body,
            data=request.form,
        )
        shown_url = str(built.url)  # what errors and pagination see: the name, never the pinned address
        if addresses:  # connect to the address that was checked, not to a fresh DNS answer
            pinned, host_header, extensions = pinned_request(shown_url, addresses[0])
            built.url = httpx.URL(pinned)
            built.headers.update(host_header)
            built.extensions.update(extensions)
        return built, shown_url

    def _read(self, r: httpx.Response, started: float, shown_url: str) -> Response:
        """The body, read raw and inflated within the size cap (one content coding at most)."""
        declared = r.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > self.max_response_bytes:
            raise _Oversize(f"Content-Length {declared}")
        if r.is_stream_consumed:  # an in-process transport (tests) handed over a body already decoded
            return Response(
                r.status_code, r.headers, _BoundedDecoder("", self.max_response_bytes).feed(r.content), shown_url
            )
        decoder = _BoundedDecoder(r.headers.get("content-encoding", ""), self.max_response_bytes)
        chunks: list[bytes] = []
        for chunk in r.iter_raw():
            if time.monotonic() - started > self.deadline_s:
                raise httpx.ReadTimeout(f"response not complete within {self.deadline_s:g}s")
            chunks.append(decoder.feed(chunk))
        return Response(r.status_code, r.headers, b"".join(chunks), shown_url)

    def send(self, request: Request, *, decode: Decoder | None = Response.json) -> tuple[Response, Any]:
        """Send with retries; returns the response and its decoded body (None unless OK).

        `decode` raising `MalformedBody` counts as a malformed answer: retried, then reported.
        """
        policy = self.retry
        outcome = _Attempt(Action.RETRY, "no attempt made")
        for attempt in range(policy.max_attempts):
            outcome = self._attempt(request, decode)
            if outcome.result is not None:
                return outcome.result
            action, last_reason = outcome.action, outcome.reason
            if action is Action.AUTH:
                raise self.error("auth", f"credentials rejected: {last_reason}")
            if action is Action.FATAL:
                raise self.error("fatal", last_reason)
            last_try = attempt == policy.max_attempts - 1
            if action is Action.RATE_LIMITED:
                wait = outcome.retry_after if outcome.retry_after is not None else policy.backoff(attempt)
                if wait > policy.max_retry_after_s or last_try:
                    raise self.error("rate_limited", f"rate limited: {last_reason}", retry_after=wait)
                log.info("%s: rate limited, waiting %.1fs (Retry-After)", self.source, wait)
                policy.wait(wait)
                continue
            if last_try:
                break
            wait = policy.backoff(attempt)
            log.info("%s: %s; retry %d in %.1fs", self.source, self.scrubber.scrub(last_reason), attempt + 1, wait)
            policy.wait(wait)
        kind = "malformed" if outcome.malformed else "transient"
        raise self.error(kind, f"gave up after {policy.max_attempts} attempts: {outcome.reason}")

    def _attempt(self, request: Request, decode: Decoder | None) -> _Attempt:
        """One request, its failure (network weather, oversize, unreadable) classified like a status."""
        try:
            response = self._send_once(request)
        except _Oversize as exc:
            return _Attempt(classify("oversize", self.overrides), f"response too large ({exc})")
        except UnresolvableHostError as exc:
            return _Attempt(classify("dns", self.overrides), f"DNS: {exc}")
        except httpx.TimeoutException as exc:
            detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            return _Attempt(classify("timeout", self.overrides), f"timed out ({detail})")
        except httpx.TransportError as exc:
            return _Attempt(classify("network", self.overrides), f"network error: {exc}")
        except (MalformedBody, httpx.DecodingError) as exc:
            reason = f"unreadable response: {exc}"
            return _Attempt(classify("malformed", self.overrides), reason, malformed=True)
        return self._judge(response, decode)

    def _judge(self, response: Response, decode: Decoder | None) -> _Attempt:
        """What a response means: done (with its decoded body), or an action with the reason to report."""
        action = classify(response.status, self.overrides)
        if action is not Action.OK and self.inspect is not None:
            special = self.inspect(response)
            if special is not None:
                raise SourceError(special.kind, self.scrubber.scrub(str(special)), retry_after=special.retry_after)
        reason = f"HTTP {response.status} from {response.url}: {_snippet(response.body)}"
        if 300 <= response.status < 400 and action is Action.FATAL:
            reason = _redirect_reason(response)
        if action is Action.OK and decode is not None:
            try:
                return _Attempt(action, reason, result=(response, decode(response)))
            except MalformedBody as exc:
                return _Attempt(classify("malformed", self.overrides), str(exc), malformed=True)
        if action in (Action.OK, Action.NOT_MODIFIED, Action.GONE):
            return _Attempt(action, reason, result=(response, None))
        retry_after = None
        if action is Action.RATE_LIMITED:
            retry_after = parse_retry_after(response.headers.get("retry-after"))
            if retry_after is None:
                retry_after = _reset_header_wait(response.headers)
        return _Attempt(action, reason, retry_after=retry_after)


@dataclass(frozen=True, slots=True)
class _Attempt:
    """The outcome of one try: `result` when done, else the action and the reason to report."""

    action: Action
    reason: str
    malformed: bool = False
    retry_after: float | None = None
    result: tuple[Response, Any] | None = None


def _redirect_reason(response: Response) -> str:
    """What to do about a redirect, which is never followed (it could lead to a private address): the
    new address, bounded and stripped of control characters since the header is the server's text."""
    location = response.headers.get("location") or ""
    shown = "".join(c for c in location[:300] if c.isprintable()) or "(no Location)"
    return (
        f"HTTP {response.status} from {response.url}: moved to {shown}; redirects are not followed, "
        "so put the new address in the configuration"
    )


def _snippet(body: bytes, limit: int = 200) -> str:
    text = body[:limit].decode("utf-8", "replace").replace("\n", " ").strip()
    return text + ("…" if len(body) > limit else "")


def _reset_header_wait(headers: httpx.Headers) -> float | None:
    """When Retry-After is absent: Reddit's `X-Ratelimit-Reset` (seconds until the window resets), X's
    `x-rate-limit-reset` (epoch seconds) or Mastodon's `X-RateLimit-Reset` (an ISO-8601 time)."""
    for name in ("x-ratelimit-reset", "x-rate-limit-reset"):
        wait = parse_reset(headers.get(name))
        if wait is not None:
            return wait
    return None
