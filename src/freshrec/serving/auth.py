"""API keys with scopes, stored hashed in the engine's store.

A key looks like ``fr_<key_id>_<secret>``. Only ``sha256(secret)`` is stored (under the blob
``auth/keys``), so a copy of the data directory does not reveal usable keys. The secret has
256 random bits, which is why a fast hash without salt is enough here (no dictionary to try).

Scopes:
    ``admin``: everything. ``read``: recommendations, items, users, similar, rank, metrics,
    dashboard. ``ingest``: only ``POST /v1/events`` (safe to embed in a web page).

>>> from freshrec.store import MemoryStore
>>> keys = KeyStore(MemoryStore())
>>> key = keys.create(Scope.READ)
>>> keys.authenticate(key)
<Scope.READ: 'read'>
>>> keys.authenticate(key + "x") is None
True
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import json
import re
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Protocol

BLOB_NAME = "auth/keys"
KEY_PREFIX = "fr"
_KEY = re.compile(r"^fr_([0-9a-f]{16})_([A-Za-z0-9_-]{16,128})$")
# A request with an unknown key id re-reads the blob (keys made by ``freshrec keys create``
# while the server runs), at most this often, so bad keys cannot hammer the store.
RELOAD_INTERVAL_SECONDS = 1.0


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


@dataclass(frozen=True, slots=True)
class StoredKey:
    """What is kept of a key: its id, scope, the secret's sha256 (hex) and creation time."""

    key_id: str
    scope: Scope
    secret_sha256: str
    created_at: float


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


class KeyStore:
    """Creates and checks API keys; thread-safe.

    Args:
        store: where the hashed keys live (the engine's store).
        reload_interval_seconds: an unknown key id re-reads the store at most this often.
    """

    def __init__(
        self, store: BlobStore, reload_interval_seconds: float = RELOAD_INTERVAL_SECONDS
    ) -> None:
        self._store = store
        self._reload_interval = reload_interval_seconds
        self._lock = threading.Lock()
        self._keys: dict[str, StoredKey] = {}
        self._loaded_at = 0.0
        self._load()

    def _load(self) -> None:
        blob = self._store.get_blob(BLOB_NAME)
        keys: dict[str, StoredKey] = {}
        if blob is not None:
            for entry in json.loads(blob)["keys"]:
                key = StoredKey(
                    entry["key_id"], Scope(entry["scope"]), entry["sha256"], entry["created_at"]
                )
                keys[key.key_id] = key
        self._keys = keys
        self._loaded_at = time.monotonic()

    def _save(self) -> None:
        entries = [
            {
                "key_id": k.key_id,
                "scope": k.scope.value,
                "sha256": k.secret_sha256,
                "created_at": k.created_at,
            }
            for k in self._keys.values()
        ]
        self._store.put_blob(BLOB_NAME, json.dumps({"version": 1, "keys": entries}).encode())

    def __len__(self) -> int:
        return len(self._keys)

    def scopes(self) -> dict[str, Scope]:
        """Return ``{key_id: scope}`` of every stored key."""
        return {k.key_id: k.scope for k in self._keys.values()}

    def create(self, scope: Scope | str) -> str:
        """Create, store durably and return a new key; the secret is not kept anywhere.

        Raises:
            ValueError: ``scope`` is not admin, read or ingest.
        """
        scope = Scope(scope)
        key_id = secrets.token_hex(8)
        secret = secrets.token_urlsafe(32)
        with self._lock:
            self._load()  # another process may have added keys since
            self._keys[key_id] = StoredKey(key_id, scope, _digest(secret), time.time())
            self._save()
        return f"{KEY_PREFIX}_{key_id}_{secret}"

    def authenticate(self, key: str) -> Scope | None:
        """Return the scope of a valid key, or None for a malformed or unknown one."""
        match = _KEY.match(key)
        if match is None:
            return None
        key_id, secret = match.groups()
        stored = self._keys.get(key_id)
        if stored is None:
            with self._lock:
                if time.monotonic() - self._loaded_at >= self._reload_interval:
                    self._load()
                stored = self._keys.get(key_id)
            if stored is None:
                return None
        if not hmac.compare_digest(_digest(secret), stored.secret_sha256):
            return None
        return stored.scope
