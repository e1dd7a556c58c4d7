"""Keyed pseudonyms for author identities.

We must be able to group a complainer's posts (and to find them again for a data-subject request)
without storing who they are in a form that can be reversed by anyone holding the database: the key
lives outside the database (environment or secret file), and HMAC-SHA256 makes the pseudonym
useless for dictionary attacks on handles without it.
"""

from __future__ import annotations

import hashlib
import hmac
import unicodedata

from pydantic import SecretStr

MIN_KEY_BYTES = 16


class PseudonymKeyError(ValueError):
    """The configured key is missing or too weak."""


def normalise_handle(author: str) -> str:
    """One spelling per identity: handles differ only in case, a leading '@' and Unicode form."""
    return unicodedata.normalize("NFKC", author).strip().lstrip("@").casefold()


class Pseudonymiser:
    """HMAC-SHA256 of the normalised handle under a secret key; the same handle always maps the same."""

    def __init__(self, key: SecretStr | str | bytes) -> None:
        raw = key.get_secret_value() if isinstance(key, SecretStr) else key
        material = raw.encode() if isinstance(raw, str) else bytes(raw)
        if len(material) < MIN_KEY_BYTES:
            raise PseudonymKeyError(
                f"pseudonymisation key must be at least {MIN_KEY_BYTES} bytes "
                "(set REPMON_PSEUDONYM_KEY or REPMON_PSEUDONYM_KEY_FILE)"
            )
        self._key = material

    def author_key(self, author: str | None) -> str | None:
        """64 hex characters, or None for a post without an author."""
        if author is None or not author.strip():
            return None
        digest = hmac.new(self._key, normalise_handle(author).encode(), hashlib.sha256)
        return digest.hexdigest()

    __call__ = author_key

    def __repr__(self) -> str:  # never show the key
        return "Pseudonymiser(key=**********)"
