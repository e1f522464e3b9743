"""What an API key is, apart from its secret: scope, status, the refusals, the listing.

``KeyStore`` (``serving/auth.py``) creates, checks and revokes keys; these are the records it
keeps and the errors it raises, shared with the CLI (``freshrec keys list``) and the HTTP
guard (``serving/access.py``).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar, Protocol

from freshrec.errors import FreshrecError


class Scope(enum.StrEnum):
    """What a key may do."""

    ADMIN = "admin"
    READ = "read"
    INGEST = "ingest"


class BlobStore(Protocol):
    """The part of a ``freshrec.store.Store`` keys need."""

    def get_blob(self, name: str) -> bytes | None:
        """Return a named blob, or None."""
        ...

    def put_blob(self, name: str, data: bytes) -> None:
        """Store a named blob durably."""
        ...


class KeyStatus(enum.StrEnum):
    """Whether a key is let in now."""

    ACTIVE = "active"
    EXPIRED = "expired"
    REVOKED = "revoked"


class KeyRefusedError(FreshrecError):
    """A key that lets nothing in (a 401); ``reason`` says why, the message says it in words.

    Attributes:
        reason: ``"unknown"``, ``"revoked"`` or ``"expired"`` (one per subclass).
        key_id: the key's id for revoked and expired keys; None for unknown ones (whoever
            sent a wrong secret learns nothing about which ids exist).
    """

    reason: ClassVar[str] = "unknown"

    def __init__(self, message: str, key_id: str | None = None) -> None:
        super().__init__(message)
        self.key_id = key_id


class UnknownKeyError(KeyRefusedError):
    """Malformed, never created, or the wrong secret for its id."""

    reason = "unknown"


class RevokedKeyError(KeyRefusedError):
    """Revoked (``freshrec keys revoke``)."""

    reason = "revoked"


class ExpiredKeyError(KeyRefusedError):
    """Past its expiry time."""

    reason = "expired"


def iso_time(seconds: float) -> str:
    """Return unix ``seconds`` as ISO-8601 UTC to the second, e.g. ``2026-11-22T10:00:00Z``."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True, slots=True)
class StoredKey:
    """What is kept of a key: never the secret, only its sha256 (hex).

    Attributes:
        key_id: 16 hex digits, the public part of the key.
        scope: what the key may do.
        secret_sha256: sha256 of the secret, hex.
        created_at: unix seconds.
        expires_at: unix seconds from which the key is refused, or None (never).
        revoked_at: unix seconds of its revocation, or None.
    """

    key_id: str
    scope: Scope
    secret_sha256: str
    created_at: float
    expires_at: float | None = None
    revoked_at: float | None = None

    def status(self, now: float) -> KeyStatus:
        """Return whether the key is active, expired or revoked at unix time ``now``."""
        if self.revoked_at is not None:
            return KeyStatus.REVOKED
        if self.expires_at is not None and now >= self.expires_at:
            return KeyStatus.EXPIRED
        return KeyStatus.ACTIVE


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """What ``freshrec keys list`` shows of a key (never its secret or hash); times unix s."""

    key_id: str
    scope: Scope
    created_at: float
    expires_at: float | None
    revoked_at: float | None
    last_used_at: float | None
    status: KeyStatus

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON shape: times as ISO-8601 UTC strings, or None."""

        def shown(seconds: float | None) -> str | None:
            return None if seconds is None else iso_time(seconds)

        return {
            "key_id": self.key_id,
            "scope": self.scope.value,
            "status": self.status.value,
            "created_at": shown(self.created_at),
            "last_used_at": shown(self.last_used_at),
            "expires_at": shown(self.expires_at),
            "revoked_at": shown(self.revoked_at),
        }
