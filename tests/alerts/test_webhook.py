"""Webhook sink: signed JSON with an idempotency key to a real loopback receiver; SSRF checks."""

from __future__ import annotations

import json

import pytest

from alerts.config import WebhookConfig
from alerts.sinks.webhook import WebhookSink, verify
from monitor.kernel.net import UnresolvableHostError, UnsafeURLError, check_url
from monitor.kernel.types import Delivery

from .local_http import LocalServer, Request, Response

SECRET = "whsec-test"
NOW = 1_800_000_000


class Receiver(LocalServer):
    """A helpdesk webhook endpoint that checks signatures and drops repeated idempotency keys."""

    def __init__(self) -> None:
        super().__init__()
        self.accepted: dict[str, dict] = {}
        self.rejected = 0

    def handle(self, request: Request) -> Response:
        if not verify(SECRET.encode(), request.headers.get("x-repmon-signature", ""), request.body, NOW):
            self.rejected += 1
            return 401, {}, {"error": "bad signature"}
        key = request.headers["idempotency-key"]
        if key in self.accepted:
            return 409, {}, {"error": "duplicate"}
        self.accepted[key] = json.loads(request.body)
        return 202, {}, {"ok": True}


def delivery(key: str = "k:webhook:fd:post") -> Delivery:
    payload = {"webhook": "fd", "alert": {"headline": "<b>x</b>", "severity": "high"}, "route": "r"}
    return Delivery(7, 3, "webhook", "post", payload, key, attempts=1)


def test_signed_delivery_once_per_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FD_SECRET", SECRET)
    with Receiver() as receiver:
        hook = WebhookConfig(url=receiver.base + "/hook", secret_env="FD_SECRET", allow_private=True)
        sink = WebhookSink({"fd": hook}, clock=lambda: NOW)
        assert sink.deliver(delivery()).ok
        assert sink.deliver(delivery()).ok  # a retry: the receiver answers 409, which counts as delivered
        assert list(receiver.accepted) == ["k:webhook:fd:post"]
        body = receiver.accepted["k:webhook:fd:post"]
        assert body["alert"]["headline"] == "<b>x</b>" and body["alert_id"] == 3 and "webhook" not in body
        stale = WebhookSink({"fd": hook}, clock=lambda: NOW - 3600)
        result = stale.deliver(delivery("other"))
        assert not result.ok and result.permanent and receiver.rejected == 1


def test_private_targets_are_refused_unless_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FD_SECRET", SECRET)
    with Receiver() as receiver:
        hook = WebhookConfig(url=receiver.base.replace("http", "https") + "/hook", secret_env="FD_SECRET")
        result = WebhookSink({"fd": hook}).deliver(delivery())
        assert not result.ok and result.permanent and "non-public address 127.0.0.1" in (result.error or "")
        assert receiver.accepted == {}


@pytest.mark.parametrize(
    ("url", "addresses"),
    [
        ("https://169.254.169.254/latest/meta-data", ["169.254.169.254"]),
        ("https://intranet.example/hook", ["10.1.2.3"]),
        ("https://v6.example/hook", ["::1"]),
        ("https://mapped.example/hook", ["::ffff:192.168.0.1"]),
        ("https://mixed.example/hook", ["93.184.216.34", "172.16.0.9"]),  # one private answer is enough
        ("http://public.example/hook", ["93.184.216.34"]),  # plain http
        ("https://user:pw@public.example/hook", ["93.184.216.34"]),
        ("file:///etc/passwd", []),
    ],
)
def test_ssrf_rules(url: str, addresses: list[str]) -> None:
    with pytest.raises(UnsafeURLError):
        check_url(url, require_https=True, resolver=lambda host: addresses)


def test_public_https_passes() -> None:
    public = ["93.184.216.34", "2606:2800:220:1::1"]
    assert check_url("https://hooks.example/x", require_https=True, resolver=lambda host: public) == public


def test_dns_failure_is_retried_not_dead_lettered(monkeypatch: pytest.MonkeyPatch) -> None:
    """One guard for connectors and sinks: a resolver outage is weather (retry), a private address is not."""
    monkeypatch.setenv("FD_SECRET", SECRET)
    hooks = {"fd": WebhookConfig(url="https://hooks.example/in", secret_env="FD_SECRET")}

    def no_dns(host: str) -> list[str]:
        raise UnresolvableHostError(f"cannot resolve host {host!r}")

    result = WebhookSink(hooks, resolve=no_dns).deliver(delivery())
    assert not result.ok and not result.permanent and "cannot resolve" in (result.error or "")
    refused = WebhookSink(hooks, resolve=lambda host: ["10.0.0.1"]).deliver(delivery())
    assert refused.permanent and "allow_private = true under [alerts.webhooks.fd]" in (refused.error or "")


def test_request_is_pinned_to_the_checked_address(monkeypatch: pytest.MonkeyPatch) -> None:
    """DNS rebinding: the connection goes to the address that passed the check, with the name kept for TLS."""
    import httpx

    monkeypatch.setenv("FD_SECRET", SECRET)
    seen: list[httpx.Request] = []

    def transport(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(202)

    answers = iter([["93.184.216.34"], ["127.0.0.1"]])  # a rebinding DNS server would answer this second
    hook = WebhookConfig(url="https://hooks.example:8443/in?x=1", secret_env="FD_SECRET")
    sink = WebhookSink(
        {"fd": hook},
        client=httpx.Client(transport=httpx.MockTransport(transport)),
        resolve=lambda host: next(answers),
    )
    assert sink.deliver(delivery()).ok
    (request,) = seen
    assert str(request.url) == "https://93.184.216.34:8443/in?x=1"
    assert request.headers["host"] == "hooks.example:8443"
    assert request.extensions["sni_hostname"] == "hooks.example"
