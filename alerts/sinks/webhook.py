"""Generic webhook sink for other helpdesks (Freshdesk, Jira Service Management, ...).

POSTs JSON with an `Idempotency-Key` header (the outbox key: receivers drop repeats) and a signature
`X-Repmon-Signature: t=<unix time>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`, so a receiver can
check both origin and freshness (reject old timestamps to stop replays).

The target URL is user-supplied configuration, so it is checked against SSRF before every delivery:
https only, and every address the host resolves to must be public (no loopback, private, link-local
such as cloud metadata at 169.254.169.254, multicast or reserved ranges) unless the webhook sets
`allow_private`. The request then goes to the checked address itself (Host header and TLS SNI keep the
name, so certificates are still verified against it): a DNS answer that changes between check and
connect (rebinding) cannot redirect it. Redirects are not followed either.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import httpx

from alerts.config import AlertsConfig, WebhookConfig
from alerts.sinks import SinkConfigError
from monitor.kernel.net import Resolver, UnresolvableHostError, UnsafeURLError, check_url, pinned_request
from monitor.kernel.types import Capability, Delivery, DeliveryResult

SIGNATURE_HEADER = "X-Repmon-Signature"


def sign(secret: bytes, body: bytes, timestamp: int) -> str:
    mac = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(secret: bytes, header: str, body: bytes, now: float, tolerance_s: float = 300) -> bool:
    """For receivers: a valid signature made within `tolerance_s` of `now`."""
    try:
        fields = dict(part.split("=", 1) for part in header.split(","))
        timestamp = int(fields["t"])
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, body, timestamp), header)


class WebhookSink:
    name: ClassVar[str] = "webhook"
    capabilities: ClassVar[frozenset[Capability]] = frozenset({Capability.POSTS, Capability.TICKETS})

    def __init__(
        self,
        webhooks: Mapping[str, WebhookConfig],
        client: httpx.Client | None = None,
        resolve: Resolver | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.webhooks = dict(webhooks)
        self.secrets: dict[str, bytes] = {}
        for name, hook in self.webhooks.items():
            secret = hook.secret()
            if secret is None:
                raise SinkConfigError(f"webhook {name!r}: secret not set, export {hook.secret_env}")
            self.secrets[name] = secret.get_secret_value().encode()
        self.client = client or httpx.Client(follow_redirects=False)
        self.resolve = resolve
        self.clock = clock

    @classmethod
    def from_config(cls, config: AlertsConfig) -> WebhookSink:
        if not config.webhooks:
            raise SinkConfigError("no webhooks configured ([alerts.webhooks.<name>])")
        return cls(config.webhooks)

    def deliver(self, delivery: Delivery) -> DeliveryResult:
        name = str(delivery.payload.get("webhook", ""))
        hook = self.webhooks.get(name)
        if hook is None:
            return DeliveryResult(ok=False, permanent=True, error=f"no webhook named {name!r}")
        try:
            addresses = check_url(
                hook.url,
                allow_private=hook.allow_private,
                require_https=True,
                resolver=self.resolve,
                private_setting=f"allow_private = true under [alerts.webhooks.{name}]",
            )
        except UnsafeURLError as exc:
            return DeliveryResult(ok=False, permanent=True, error=f"webhook {name}: {exc}")
        except UnresolvableHostError as exc:  # DNS weather: the outbox retries with backoff
            return DeliveryResult(ok=False, error=f"webhook {name}: {exc}")
        body = json.dumps(self._body(delivery), separators=(",", ":"), sort_keys=True).encode()
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": delivery.idempotency_key,
            SIGNATURE_HEADER: sign(self.secrets[name], body, int(self.clock())),
        }
        url, extensions = hook.url, {}
        if addresses:  # connect to the address we checked, not to whatever DNS says next
            url, host, extensions = pinned_request(hook.url, addresses[0])
            headers.update(host)
        try:
            resp = self.client.post(
                url, content=body, headers=headers, timeout=hook.timeout_s, extensions=extensions
            )
        except httpx.HTTPError as exc:
            return DeliveryResult(ok=False, error=f"webhook {name} unreachable: {type(exc).__name__}")
        if resp.is_success or resp.status_code == 409:  # 409: the receiver already has this key
            return DeliveryResult(ok=True, result={"status": resp.status_code})
        if resp.status_code == 429:
            try:
                seconds = float(resp.headers.get("Retry-After", "30"))
            except ValueError:
                seconds = 30.0
            return DeliveryResult(ok=False, retry_after=seconds, error=f"webhook {name} 429")
        permanent = 400 <= resp.status_code < 500 and resp.status_code not in (408, 425)
        return DeliveryResult(ok=False, permanent=permanent, error=f"webhook {name} HTTP {resp.status_code}")

    @staticmethod
    def _body(delivery: Delivery) -> dict[str, Any]:
        payload = {k: v for k, v in delivery.payload.items() if k not in ("webhook", "parent_result")}
        return {
            "id": delivery.idempotency_key,
            "action": delivery.action,
            "alert_id": delivery.alert_id,
            **payload,
        }
