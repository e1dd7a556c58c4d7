"""Keep secrets out of every error message, log line and stored health reason.

Secrets reach error text in surprising ways (a URL with `?key=`, a platform echoing the token in its
error body), so every message a connector raises passes through `Scrubber.scrub` first.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from pydantic import BaseModel, SecretStr

REDACTED = "[redacted]"
_SECRET_PARAMS = re.compile(
    r"(?i)([?&](?:key|api_?key|access_token|token|client_secret|password|sig|signature)=)[^&\s#]+"
)
_AUTH_HEADER = re.compile(r"(?i)(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}")


class Scrubber:
    """Replaces known secret values and secret-looking URL parameters with `[redacted]`."""

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
        text = _SECRET_PARAMS.sub(lambda m: m.group(1) + REDACTED, text)
        return _AUTH_HEADER.sub(lambda m: f"{m.group(1)} {REDACTED}", text)

    @classmethod
    def from_settings(cls, settings: BaseModel) -> Scrubber:
        """Every `SecretStr` field of a settings model is a secret."""
        values = [
            getattr(settings, name).get_secret_value()
            for name in type(settings).model_fields
            if isinstance(getattr(settings, name), SecretStr)
        ]
        return cls(values)
