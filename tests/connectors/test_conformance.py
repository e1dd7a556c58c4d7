"""The shared conformance suite: every HTTP connector, against a real loopback server per platform.

Each platform module supplies a fake server speaking the documented API over recorded payloads and a
`case()` describing what the connector must find. No test sleeps: the retry policy's `sleep` is
replaced by a recorder, so waits are asserted instead of taken.
"""

from __future__ import annotations

import gzip
import importlib
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fake_server import FakeServer, Reply

from connectors.http.base import HttpConnector, parse_time
from monitor.kernel.types import BrandQuery, Connector, FetchedMention, Page, SourceError

PLATFORMS = [
    "platform_mastodon",
    "platform_bluesky",
    "platform_hackernews",
    "platform_rss",
    "platform_appstore",
    "platform_reddit",
    "platform_youtube",
    "platform_x",
    "platform_trustpilot",
]


def _cases() -> list[Any]:
    return [pytest.param(importlib.import_module(name).case(), id=name.split("_", 1)[1]) for name in PLATFORMS]


@pytest.fixture(params=_cases())
def case(request: pytest.FixtureRequest) -> dict[str, Any]:
    return request.param


@pytest.fixture
def server(case: dict[str, Any]) -> Iterator[FakeServer]:
    with FakeServer(case["platform"]()) as srv:
        yield srv


class Harness:
    """Builds connectors for one case against one server, recording every wait."""

    def __init__(self, case: dict[str, Any], server: FakeServer) -> None:
        self.case, self.server = case, server
        self.slept: list[float] = []
        self.now = case["now"]

    def _resolve(self, value: Any) -> dict[str, Any]:
        """Case settings may depend on the server's address (feed URLs): then they are a callable."""
        return dict(value(self.server.url) if callable(value) else value)

    def connector(self, **overrides: Any) -> HttpConnector:
        settings = {
            "base_url": self.server.url,
            "allow_private_network": True,
            "initial_lookback_hours": 48,
            "overlap_s": 0,
            "timeout_s": 2,
            "max_attempts": 3,
            "backoff_base_s": 1.0,
            **self._resolve(self.case["settings"]),
            **overrides,
        }
        return self.case["connector"](settings, sleep=self.slept.append, rng=lambda: 0.5, clock=lambda: self.now)

    def run(self, connector: HttpConnector, query: BrandQuery | None = None, cursor: Any = None) -> list[Page]:
        return list(connector.fetch(query or self.case["query"], cursor))


@pytest.fixture
def h(case: dict[str, Any], server: FakeServer) -> Harness:
    return Harness(case, server)


def ids(pages: list[Page]) -> list[str]:
    return [m.external_id for p in pages for m in p.mentions]


def mentions(pages: list[Page]) -> dict[str, FetchedMention]:
    return {m.external_id: m for p in pages for m in p.mentions}


def test_implements_the_connector_protocol(h: Harness) -> None:
    connector = h.connector()
    assert isinstance(connector, Connector)
    assert connector.name and connector.Settings is not None


def test_pages_through_everything_once(h: Harness) -> None:
    pages = h.run(h.connector())
    found = ids(pages)
    assert set(found) == h.case["expected_ids"]
    assert len(pages) > 2, "page_size is small (or several feeds) so that more than one page is exercised"
    assert len(found) == len(set(found)), "no mention is yielded twice within one walk"
    assert all(p.cursor is not None for p in pages)


def test_texts_keep_non_latin_and_emoji(h: Harness) -> None:
    texts = [m.text for m in mentions(h.run(h.connector())).values()]
    for expected in h.case["texts"]:
        assert any(expected in text for text in texts), expected


def test_mentions_are_normalised(h: Harness) -> None:
    for mention in mentions(h.run(h.connector())).values():
        assert mention.created_at.tzinfo is not None and mention.created_at.utcoffset() == timedelta(0)
        assert mention.text.strip()
        assert "<p>" not in mention.text and "&amp;" not in mention.text
        assert mention.url is None or mention.url.startswith("https://")


def test_missing_optional_fields_are_none(h: Harness) -> None:
    sparse = mentions(h.run(h.connector()))[h.case["sparse_id"]]
    assert sparse.text and sparse.created_at
    for attribute, expected in h.case["sparse_expect"].items():
        assert getattr(sparse, attribute) == expected, attribute


def test_empty_result_completes_the_walk(h: Harness) -> None:
    pages = h.run(h.connector(**h._resolve(h.case.get("empty_settings", {}))), h.case["empty_query"])
    assert ids(pages) == []
    last = pages[-1].cursor
    assert last is not None
    assert all(s.get("walk") is None and s.get("hwm") for s in last["streams"].values())


def test_second_sync_starts_at_the_high_water_mark(h: Harness) -> None:
    first = h.run(h.connector())
    h.now += timedelta(hours=1)
    second = h.run(h.connector(), cursor=first[-1].cursor)
    assert ids(second) == []
    hwms = {parse_time(s["hwm"]) for s in second[-1].cursor["streams"].values()}
    assert hwms == {h.now}


def test_interrupted_walk_resumes_where_it_stopped(h: Harness) -> None:
    connector = h.connector()
    iterator = connector.fetch(h.case["query"], None)
    first_page = next(iterator)  # then "Ctrl-C": the iterator is abandoned
    calls_before = len(h.server.data_calls())
    rest = h.run(h.connector(), cursor=first_page.cursor)
    assert set(ids([first_page])) | set(ids(rest)) == h.case["expected_ids"]
    assert not set(ids([first_page])) & set(ids(rest)), "the stored page is not fetched again"
    assert len(h.server.data_calls()) - calls_before == len(rest)


def test_signpost_bounds_the_walk(h: Harness) -> None:
    everything = mentions(h.run(h.connector()))
    times = sorted(m.created_at for m in everything.values())
    until = times[len(times) // 2]
    query = BrandQuery(brand=h.case["query"].brand, terms=h.case["query"].terms, until=until)
    bounded = h.run(h.connector(), query)
    assert set(ids(bounded)) == {i for i, m in everything.items() if m.created_at <= until}
    assert {parse_time(s["hwm"]) for s in bounded[-1].cursor["streams"].values()} == {until}


def test_backfill_is_separate_and_resumable(h: Harness) -> None:
    since = h.now - timedelta(hours=47)
    query = BrandQuery(brand=h.case["query"].brand, terms=h.case["query"].terms, since=since, until=h.now)
    first = next(h.connector().fetch(query, {"streams": {}}))
    rest = h.run(h.connector(), query, first.cursor)
    assert set(ids([first])) | set(ids(rest)) == h.case["expected_ids"]
    final = rest[-1].cursor
    assert all(s["backfill"]["done"] for s in final["streams"].values())
    assert all("hwm" not in s for s in final["streams"].values()), "backfill leaves the live cursor alone"
    assert h.run(h.connector(), query, final) == [], "a finished backfill rerun fetches nothing"


def test_429_waits_retry_after_then_succeeds(h: Harness) -> None:
    h.server.faults.append(Reply(429, {"error": "Too many requests"}, {"Retry-After": "7"}))
    assert set(ids(h.run(h.connector()))) == h.case["expected_ids"]
    assert h.slept == [7.0]


def test_429_with_long_retry_after_reports_rate_limited(h: Harness) -> None:
    h.server.faults.append(Reply(429, {"error": "slow down"}, {"Retry-After": "3600"}))
    with pytest.raises(SourceError) as err:
        h.run(h.connector())
    assert err.value.kind == "rate_limited" and err.value.retry_after == 3600
    assert h.slept == []


def test_5xx_is_retried_with_jittered_backoff(h: Harness) -> None:
    h.server.faults += [Reply(503, b"upstream down"), Reply(502, b"bad gateway")]
    assert set(ids(h.run(h.connector()))) == h.case["expected_ids"]
    assert h.slept == [0.5 * 1.0, 0.5 * 2.0]  # rng 0.5 x base 1s x 2**attempt (full jitter)


def test_persistent_5xx_becomes_transient_error(h: Harness) -> None:
    echo = f"boom: upstream said token={h.case['secret']}".encode()  # servers do echo credentials
    h.server.faults += [Reply(500, echo)] * 3
    with pytest.raises(SourceError) as err:
        h.run(h.connector())
    assert err.value.kind == "transient" and "500" in str(err.value)
    if h.case["bad_credentials"]:  # sources with a real secret
        assert h.case["secret"] not in str(err.value)


def test_timeout_is_retried_then_transient(h: Harness) -> None:
    h.server.faults += [Reply(hang=True), Reply(hang=True)]
    with pytest.raises(SourceError) as err:
        h.run(h.connector(timeout_s=0.2, max_attempts=2))
    assert err.value.kind == "transient" and "timed out" in str(err.value)


def test_dripping_body_hits_the_deadline(h: Harness) -> None:
    h.server.faults += [Reply(drip=True)]
    with pytest.raises(SourceError) as err:
        h.run(h.connector(timeout_s=0.5, deadline_s=0.2, max_attempts=1))
    assert err.value.kind == "transient" and "not complete within 0.2s" in str(err.value)


def test_dripping_headers_hit_the_deadline(h: Harness) -> None:
    """The deadline counts from the first byte sent: per-phase timeouts restart with every header byte."""
    h.server.faults += [Reply(drip_headers=True)]
    with pytest.raises(SourceError) as err:
        h.run(h.connector(timeout_s=0.5, deadline_s=0.3, max_attempts=1))
    assert err.value.kind == "transient" and "not complete within 0.3s" in str(err.value)


def test_stacked_compression_is_refused_before_it_expands(h: Harness) -> None:
    """`gzip, gzip` of 10 MB of zeros is a few hundred bytes; it must be rejected, not inflated."""
    bomb = gzip.compress(gzip.compress(b"\0" * 10_000_000))
    h.server.faults += [Reply(200, bomb, {"Content-Encoding": "gzip, gzip"})]
    with pytest.raises(SourceError) as err:
        h.run(h.connector(max_attempts=1))
    assert err.value.kind == "malformed" and "stacked content encodings" in str(err.value)


def test_single_gzip_layer_is_capped_while_inflating(h: Harness) -> None:
    bomb = gzip.compress(b" " * 20_000_000)
    h.server.faults += [Reply(200, bomb, {"Content-Encoding": "gzip"})]
    with pytest.raises(SourceError) as err:
        h.run(h.connector(max_attempts=1, max_response_bytes=1_000_000))
    assert err.value.kind == "fatal" and "after decompression" in str(err.value)


@pytest.mark.parametrize("value", ["inf", "1e400", "1e12", "nan"])
def test_absurd_retry_after_is_bounded(h: Harness, value: str) -> None:
    """A server's wait goes into `datetime + timedelta`: unbounded, it overflowed and stopped the poll."""
    h.server.faults.append(Reply(429, {"error": "slow down"}, {"Retry-After": value}))
    with pytest.raises(SourceError) as err:
        h.run(h.connector(max_attempts=1))
    assert err.value.kind == "rate_limited"
    assert err.value.retry_after is not None and 0 <= err.value.retry_after <= 24 * 3600


def test_malformed_json_is_retried(h: Harness) -> None:
    h.server.faults.append(Reply(200, b"<html>502 Bad Gateway</html>", {"Content-Type": "text/html"}))
    assert set(ids(h.run(h.connector()))) == h.case["expected_ids"]
    assert len(h.slept) == 1


def test_persistently_malformed_json_is_reported(h: Harness) -> None:
    h.server.faults += [Reply(200, b'{"truncated": ')] * 3
    with pytest.raises(SourceError) as err:
        h.run(h.connector())
    assert err.value.kind == "malformed" and "malformed" in str(err.value)


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "streamed"])
def test_oversize_body_is_aborted(h: Harness, chunked: bool) -> None:
    h.server.faults.append(Reply(200, b'{"x": "' + b"a" * 300_000 + b'"}', chunked=chunked))
    with pytest.raises(SourceError) as err:
        h.run(h.connector(max_response_bytes=100_000))
    assert err.value.kind == "fatal" and "too large" in str(err.value)


def test_rejected_credentials_disable_without_leaking_secrets(h: Harness) -> None:
    bad = h.case["bad_credentials"]
    if not bad:
        pytest.skip(f"{h.case['name']} needs no credentials")
    h.server.faults.append(Reply(401, {"error": f"invalid token {next(iter(bad.values()))}"}))
    with pytest.raises(SourceError) as err:
        h.run(h.connector(**bad))
    assert err.value.kind == "auth"
    for secret in (h.case["secret"], *bad.values()):
        assert secret not in str(err.value)


def test_pagination_loop_is_detected(h: Harness) -> None:
    if not h.case.get("paginated", True):
        pytest.skip(f"{h.case['name']} has no pages (one document per stream)")
    h.server.platform.ignore_paging = True
    pages = h.run(h.connector())
    assert any("pagination loop" in note for p in pages for note in p.notes)
    assert len(h.server.data_calls()) < 20


def test_private_address_refused_without_explicit_allow(h: Harness) -> None:
    with pytest.raises(SourceError) as err:
        h.run(h.connector(allow_private_network=False))
    assert err.value.kind == "config" and "non-public" in str(err.value)
    assert h.server.calls == []


def test_repoll_reports_counts_and_deletions(h: Harness) -> None:
    if not h.case.get("repoll", True):
        assert list(h.connector().repoll(["anything"])) == []
        return
    wanted = [*h.case["repoll_ids"], h.case["deleted_id"]]
    updates = {u.external_id: u for u in h.connector().repoll(wanted)}
    assert set(updates) == set(wanted)
    assert updates[h.case["deleted_id"]].deleted
    for external_id in h.case["repoll_ids"]:
        assert not updates[external_id].deleted
        assert updates[external_id].likes is not None


@pytest.mark.parametrize("body", ["not a lookup", [1, 2]], ids=["string", "list"])
def test_a_broken_lookup_answer_deletes_nothing(h: Harness, body: Any) -> None:
    """Posts a lookup does not return are erased from the store as deleted, so an answer of the wrong
    shape must be a malformed error, never read as "none of these exists any more"."""
    if not h.case.get("repoll", True):
        return
    h.server.faults.extend([Reply(200, body)] * 5)
    with pytest.raises(SourceError) as err:
        list(h.connector().repoll([*h.case["repoll_ids"], h.case["deleted_id"]]))
    assert err.value.kind == "malformed"
