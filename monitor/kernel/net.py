"""The network edge: the SSRF guard every outgoing request passes, and the secret scrubbing every
message about a request passes. One module, so connectors and sinks cannot drift apart on either.

SSRF guard: refuse to call private, loopback, link-local or otherwise internal addresses.

Base URLs (a Mastodon instance, an RSS feed, a Bluesky PDS) are user-supplied, and a self-hosted
monitor usually runs next to databases and cloud metadata endpoints (169.254.169.254). Every request
URL is checked, including pagination links a server hands back, unless the operator explicitly allows
private networks for that source (`allow_private_network = true`, also what tests on loopback use).
The checked addresses are returned and the caller connects to exactly those (`pinned_request`: the
URL rewritten to the address, the original name kept for the Host header and TLS), so a second DNS
answer (rebinding) cannot point a request inward; redirects are never followed either.

Scrubbing: secrets reach error text in surprising ways (a URL with `?key=`, a platform echoing the token
in its error body, slack-sdk logging headers at DEBUG), so every error message a connector or sink
raises goes through `Scrubber.scrub` (the secrets it knows, then the token shapes) and every log record
through `redact` (the token shapes alone; `monitor.kernel.logsetup` installs it as a filter).
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Iterable
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, SecretStr

Resolver = Callable[[str], list[str]]


class UnsafeURLError(ValueError):
    """A URL that must not be fetched (bad scheme, private address): a configuration problem."""


class UnresolvableHostError(OSError):
    """DNS gave no answer. Network weather, not configuration: the caller retries and backs off, because
    a resolver outage (or a laptop without network) must never switch a source off for good."""


def _system_resolver(host: str) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        raise UnresolvableHostError(f"cannot resolve host {host!r}: {exc}") from exc
    return [str(info[4][0]) for info in infos]


# IPv6 ranges that embed an IPv4 address which the kernel or a gateway may route to: the embedded
# address decides. `ipaddress` calls some of these "global" (NAT64 64:ff9b::/96 is, by RFC 6052).
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")  # deprecated ::a.b.c.d, still routed by some stacks


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if any(ip in net for net in _NAT64) or (ip in _IPV4_COMPATIBLE and int(ip) > 0xFFFF):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def is_public_address(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        if ip in _IPV4_COMPATIBLE and int(ip) <= 0xFFFF:  # ::, ::1 and their neighbours
            return False
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            ip = embedded
    return ip.is_global and not ip.is_multicast


def check_url(
    url: str,
    *,
    allow_private: bool = False,
    require_https: bool = False,
    resolver: Resolver | None = None,
    private_setting: str = "allow_private_network = true for this source",
) -> list[str]:
    """Raise `UnsafeURLError` unless `url` is http(s) and every address its host resolves to is public.

    Returns the checked addresses to connect to (empty when `allow_private` skips resolution).
    `require_https` (webhooks, which carry a signature and alert text) refuses plain http unless
    `allow_private` says the target is a trusted internal one. `resolver` defaults to the system's
    (tests inject their own); a host that does not resolve is `UnresolvableHostError`: retry later.
    `private_setting` is what the caller's user sets to allow private targets (named in the message).
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise UnsafeURLError(f"only http and https URLs can be fetched, not {parts.scheme or 'no scheme'!r}")
    if not parts.hostname:
        raise UnsafeURLError(f"URL has no host: {url!r}")
    if parts.username or parts.password:
        raise UnsafeURLError("URLs with embedded credentials are refused; put secrets in the settings")
    if allow_private:
        return []
    if require_https and parts.scheme != "https":
        raise UnsafeURLError(f"{parts.hostname}: use https (plain http only with {private_setting})")
    try:
        addresses = [str(ipaddress.ip_address(parts.hostname))]
    except ValueError:
        addresses = (resolver or _system_resolver)(parts.hostname)
    bad = [a for a in addresses if not is_public_address(a)]
    if bad or not addresses:
        raise UnsafeURLError(
            f"{parts.hostname} resolves to non-public address {', '.join(bad) or 'none'}; "
            f"set {private_setting} if that is intended"
        )
    return addresses


def pinned_request(url: str, address: str) -> tuple[str, dict[str, str], dict[str, str]]:
    """`url` rewritten to a checked address, plus the Host header and TLS SNI name of the original.

    httpcore verifies the server certificate against `sni_hostname`, so https keeps checking the real
    name while the connection goes to the address that was checked.
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    literal = f"[{address}]" if ":" in address else address
    port = f":{parts.port}" if parts.port else ""
    pinned = urlunsplit((parts.scheme, literal + port, parts.path, parts.query, ""))
    return pinned, {"Host": host + port}, {"sni_hostname": host}


# --------------------------------------------------------------------------- secret scrubbing

REDACTED = "[redacted]"
# Slack tokens (xoxb-, xoxp-, xapp-, xoxe-...), HTTP auth headers, secret-looking query parameters.
_SLACK_TOKEN = re.compile(r"x(?:ox[a-z]|app)-[A-Za-z0-9-]{6,}")  # no \b: "0xoxb-…" glued to a word still leaks
_AUTH_VALUE = re.compile(r"(?i)\b(bearer|basic|token)(\s+|=)[A-Za-z0-9._~+/=-]{8,}")
_SECRET_PARAMS = re.compile(
    r"(?i)([?&](?:key|api_?key|access_token|token|ticket|client_secret|password|sig|signature)=)[^&\s#'\"]+"
)
_AUTH_HEADER = re.compile(r"(?i)(['\"]?authorization['\"]?\s*[:=]\s*['\"]?)[^'\",}\n]+")


def redact(text: str) -> str:
    """`text` with every token-shaped substring replaced by `[redacted]` (no knowledge of actual secrets)."""
    text = _SLACK_TOKEN.sub(REDACTED, text)
    text = _AUTH_VALUE.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)
    text = _SECRET_PARAMS.sub(lambda m: m.group(1) + REDACTED, text)
    return _AUTH_HEADER.sub(lambda m: m.group(1) + REDACTED, text)


class Scrubber:
    """Replaces known secret values, then every token-shaped substring (`redact`), with `[redacted]`."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: set[str] = set()
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str | None) -> None:
        """Register a secret learned at run time (a session token, an OAuth bearer)."""
        if secret and len(secret) >= 4:
            self._secrets.add(secret)

    def scrub(self, text: str) -> str:
        for secret in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(secret, REDACTED)
        return redact(text)

    @classmethod
    def from_settings(cls, settings: BaseModel) -> Scrubber:
        """Every `SecretStr` field of a settings model is a secret."""
        values = [
            getattr(settings, name).get_secret_value()
            for name in type(settings).model_fields
            if isinstance(getattr(settings, name), SecretStr)
        ]
        return cls(values)
