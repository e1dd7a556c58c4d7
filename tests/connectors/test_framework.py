"""Framework pieces in isolation: outcome table, Retry-After, SSRF guard, secret scrubbing, HTML text."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fake_server import FakeServer, Reply
from platform_mastodon import TOKEN, MastodonPlatform, case
from pydantic import BaseModel, SecretStr

from connectors.http.client import Request, SafeClient
from connectors.http.policy import Action, RetryPolicy, classify, parse_reset, parse_retry_after
from connectors.mastodon import MastodonConnector
from connectors.text import html_to_text_and_links
from monitor.kernel.net import Scrubber, UnsafeURLError, check_url, pinned_request
from monitor.kernel.types import SourceError


@pytest.mark.parametrize(
    ("outcome", "action"),
    [
        (200, Action.OK),
        (204, Action.OK),
        (304, Action.NOT_MODIFIED),
        (401, Action.AUTH),
        (403, Action.AUTH),
        (404, Action.GONE),
        (429, Action.RATE_LIMITED),
        (400, Action.FATAL),
        (422, Action.FATAL),
        (500, Action.RETRY),
        (503, Action.RETRY),
        (301, Action.FATAL),
        ("timeout", Action.RETRY),
        ("oversize", Action.FATAL),
        ("malformed", Action.RETRY),
        (999, Action.FATAL),
    ],
)
def test_outcome_table(outcome: int | str, action: Action) -> None:
    assert classify(outcome) is action


def test_overrides_win_over_the_table() -> None:
    assert classify(403, {403: Action.RATE_LIMITED}) is Action.RATE_LIMITED
    assert classify(502, {"5xx": Action.FATAL}) is Action.FATAL


def test_retry_after_seconds_and_http_dates() -> None:
    now = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after("Fri, 20 Nov 2026 12:01:30 GMT", now) == 90.0
    assert parse_retry_after("Fri, 20 Nov 2026 11:00:00 GMT", now) == 0.0
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None
    assert parse_retry_after("inf") == 24 * 3600 and parse_retry_after("1e400") == 24 * 3600
    assert parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT", now) == 24 * 3600


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://10.1.2.3/x",
        "http://169.254.169.254/latest",
        "http://[::1]/",
        "http://[::ffff:192.168.0.1]/",
        "http://0.0.0.0/",
        "http://100.64.0.1/",
        "http://[::127.0.0.1]/",  # IPv4-compatible IPv6 (deprecated, still routed)
        "http://[64:ff9b::a9fe:a9fe]/",  # NAT64 of 169.254.169.254
        "http://[2002:a9fe:a9fe::]/",  # 6to4 of 169.254.169.254
        "http://[64:ff9b:1::a00:1]/",  # local-use NAT64 of 10.0.0.1
    ],
)
def test_private_addresses_are_refused(url: str) -> None:
    with pytest.raises(UnsafeURLError):
        check_url(url)


def test_names_resolving_to_private_addresses_are_refused() -> None:
    def resolver(host: str) -> list[str]:
        return {"metadata.internal": ["10.0.0.5"], "mixed.example": ["93.184.215.14", "192.168.1.1"]}.get(
            host, ["93.184.215.14"]
        )

    with pytest.raises(UnsafeURLError, match=r"10\.0\.0\.5"):
        check_url("https://metadata.internal/", resolver=resolver)
    with pytest.raises(UnsafeURLError, match=r"192\.168\.1\.1"):
        check_url("https://mixed.example/", resolver=resolver)
    check_url("https://mastodon.example/", resolver=resolver)
    check_url("http://127.0.0.1:8080/", allow_private=True)


def test_client_connects_to_the_checked_address_not_to_a_second_dns_answer() -> None:
    """DNS rebinding: the first answer is public and checked; a later one would point inward.

    The transport records what would go on the wire (no packet leaves: the addresses are not ours).
    """
    answers = iter([["93.184.215.14"], ["127.0.0.1"]])
    wire: list[tuple[str, str, object]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        wire.append((str(request.url), request.headers["Host"], request.extensions.get("sni_hostname")))
        return httpx.Response(200, json={"ok": True})

    client = SafeClient(
        source="t",
        timeout_s=5,
        max_response_bytes=10_000,
        user_agent="t",
        retry=RetryPolicy(sleep=lambda _s: None),
        scrubber=Scrubber(),
        transport=httpx.MockTransport(handler),
        resolver=lambda host: next(answers),
    )
    for _ in range(2):
        response, body = client.send(Request(url="https://api.example.test:8443/v1/search", params={"q": "x"}))
        assert body == {"ok": True}
    expected = ("https://93.184.215.14:8443/v1/search?q=x", "api.example.test:8443", "api.example.test")
    assert wire == [expected, expected]
    assert response.url == "https://api.example.test:8443/v1/search?q=x"  # errors and next links keep the name


def test_public_addresses_behind_ipv6_transition_prefixes_pass() -> None:
    assert check_url("http://[64:ff9b::5db8:d70e]/") == ["64:ff9b::5db8:d70e"]  # NAT64 of 93.184.215.14
    assert check_url("http://[2002:5db8:d70e::1]/") == ["2002:5db8:d70e::1"]


def test_unresolvable_host_is_network_weather_not_configuration() -> None:
    """No DNS answer (resolver down, laptop offline) must back off and retry, never disable the source."""
    slept: list[float] = []
    client = SafeClient(
        source="t",
        timeout_s=1,
        max_response_bytes=10_000,
        user_agent="t",
        retry=RetryPolicy(max_attempts=3, sleep=slept.append, rng=lambda: 0.5),
        scrubber=Scrubber(),
    )
    with pytest.raises(SourceError) as err:
        client.send(Request(url="https://no-such-host.invalid/api"))
    assert err.value.kind == "transient" and "cannot resolve host" in str(err.value)
    assert len(slept) == 2  # retried with backoff


def test_reset_headers_in_every_form_platforms_send() -> None:
    now = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    assert parse_reset("300", now) == 300.0  # Reddit: seconds until the window resets
    assert parse_reset(str(now.timestamp() + 60), now) == 60.0  # X: epoch seconds
    assert parse_reset("2026-11-20T12:05:00.000Z", now) == 300.0  # Mastodon: ISO-8601
    assert parse_reset("2026-11-20T13:05:00+01:00", now) == 300.0
    assert parse_reset("1e400", now) == 24 * 3600 and parse_reset("9999-12-31T23:59:59Z", now) == 24 * 3600
    assert parse_reset("soon", now) is None and parse_reset("nan", now) is None


def test_mastodon_iso_reset_is_waited_for_not_replaced_by_a_short_backoff() -> None:
    """Mastodon sends `X-RateLimit-Reset` as an ISO time; the client used to ignore it and give up in ~4 s."""
    platform = MastodonPlatform()
    slept: list[float] = []
    reset = (datetime.now(UTC) + timedelta(seconds=90)).isoformat().replace("+00:00", "Z")
    with FakeServer(platform) as server:
        connector = MastodonConnector(
            {
                "base_url": server.url,
                "allow_private_network": True,
                "access_token": TOKEN,
                "search": False,
                "hashtags": ["telia"],
                "initial_lookback_hours": 48,
                "max_attempts": 2,
            },
            clock=lambda: case()["now"],
            sleep=slept.append,
        )
        server.faults.append(Reply(429, {"error": "Too many requests"}, {"X-RateLimit-Reset": reset}))
        list(connector.fetch(case()["query"], None))
    assert slept and 60 < slept[0] <= 90


def test_pinned_request_brackets_ipv6_and_keeps_the_name_for_host_and_tls() -> None:
    url, headers, extensions = pinned_request("https://hooks.example/x?a=1", "2606:2800:220:1::1")
    assert url == "https://[2606:2800:220:1::1]/x?a=1"
    assert headers == {"Host": "hooks.example"} and extensions == {"sni_hostname": "hooks.example"}
    assert check_url("https://mastodon.example/", resolver=lambda h: ["93.184.215.14"]) == ["93.184.215.14"]
    assert check_url("http://127.0.0.1:8080/", allow_private=True) == []


@pytest.mark.parametrize("url", ["file:///etc/passwd", "gopher://x/", "https://user:pw@example.org/", "https:///"])
def test_bad_url_shapes_are_refused(url: str) -> None:
    with pytest.raises(UnsafeURLError):
        check_url(url, allow_private=True)


def test_scrubber_removes_settings_secrets_and_url_keys() -> None:
    class S(BaseModel):
        token: SecretStr
        name: str

    scrubber = Scrubber.from_settings(S(token=SecretStr("tok-123456"), name="visible"))
    text = scrubber.scrub("bad tok-123456 at https://x/y?key=AIzaSyABC&q=1 Authorization: Bearer abcdefghijkl")
    assert "tok-123456" not in text and "AIzaSyABC" not in text and "abcdefghijkl" not in text
    assert "q=1" in text and "[redacted]" in text


def test_mastodon_html_to_text_keeps_links_but_not_hashtags() -> None:
    html = (
        '<p>Hej <span class="h-card"><a href="https://social.example/@telia" class="u-url mention">'
        "@telia</a></span>"
        ' se <a href="https://example.org/a">example.org/a</a> <a href="https://social.example/tags/x" '
        'class="mention hashtag">#x</a></p><p>Rad två &amp; tre<br>fyra</p>'
    )
    text, links = html_to_text_and_links(html)
    assert text == "Hej @telia se example.org/a #x\n\nRad två & tre\nfyra"
    assert links == ("https://example.org/a",)


def test_pagination_link_to_another_host_is_refused() -> None:
    platform = MastodonPlatform()
    with FakeServer(platform) as server:
        connector = MastodonConnector(
            {
                "base_url": server.url,
                "allow_private_network": True,
                "access_token": TOKEN,
                "search": False,
                "hashtags": ["telia"],
                "initial_lookback_hours": 48,
            },
            clock=lambda: case()["now"],
        )
        page = [{**s} for s in platform.fixture("tag_telia.json")]
        server.faults.append(
            Reply(200, page, {"Link": '<https://evil.example/api/v1/timelines/tag/telia>; rel="next"'})
        )
        with pytest.raises(SourceError, match="another host refused"):
            list(connector.fetch(case()["query"], None))


def test_mastodon_settings_explain_what_is_missing() -> None:
    with pytest.raises(SourceError, match="search = true needs access_token"):
        MastodonConnector({"search": True, "hashtags": ["telia"]})
    with pytest.raises(SourceError, match="nothing to read"):
        MastodonConnector({"access_token": "t" * 10, "search": False})
    tags_only = MastodonConnector({"hashtags": ["telia"]})
    assert not tags_only.settings.searching
    assert MastodonConnector({"access_token": "t" * 10}).settings.searching


def test_parse_time_forms() -> None:
    from connectors.http.base import parse_time

    assert parse_time("2026-11-20T11:52:10.000Z") == datetime(2026, 11, 20, 11, 52, 10, tzinfo=UTC)
    assert parse_time("2026-11-20T12:30:00+01:00") == datetime(2026, 11, 20, 11, 30, tzinfo=UTC)
    assert parse_time(1763639530) == datetime.fromtimestamp(1763639530, UTC)
    assert parse_time("2026-11-20") == datetime(2026, 11, 20, tzinfo=UTC)
    assert parse_time("yesterday") is None and parse_time("") is None and parse_time(True) is None


@pytest.mark.parametrize("status", [301, 302, 308])
def test_a_redirect_says_where_the_resource_moved_and_what_to_do(status: int) -> None:
    """Redirects are not followed (SSRF); the error names the new address (bounded: the header is the
    server's text) so the user can fix the URL instead of guessing."""
    moved = "https://example.org/new-feed.xml"
    with FakeServer(MastodonPlatform()) as server:
        client = SafeClient(
            source="t",
            timeout_s=1,
            max_response_bytes=10_000,
            user_agent="t",
            retry=RetryPolicy(max_attempts=2, sleep=lambda s: None, rng=lambda: 0.5),
            scrubber=Scrubber(),
            allow_private_network=True,
        )
        server.faults.append(Reply(status, b"", {"Location": moved}))
        server.faults.append(Reply(status, b"", {"Location": moved + "?" + "x" * 5000}))
        with pytest.raises(SourceError) as err:
            client.send(Request(url=f"{server.url}/api/v1/timelines/tag/telia"))
        assert err.value.kind == "fatal"
        assert f"moved to {moved};" in str(err.value) and "configuration" in str(err.value)
        with pytest.raises(SourceError) as err:
            client.send(Request(url=f"{server.url}/api/v1/timelines/tag/telia"))
    assert err.value.kind == "fatal" and "x" * 300 not in str(err.value)
