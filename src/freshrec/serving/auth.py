"""API keys with scopes, stored hashed in the engine's store.

A key looks like ``fr_<key_id>_<secret>``. Only ``sha256(secret)`` is stored (under the blob
``auth/keys``), so a copy of the data directory does not reveal usable keys. The secret has
256 random bits, which is why a fast hash without salt is enough here (no dictionary to try).

Scopes:
    ``admin``: everything. ``read``: recommendations, items, users, similar, rank, metrics,
    dashboard. ``ingest``: only ``POST /v1/events`` (safe to embed in a web page).

A key may expire, and may be revoked; either way its record stays (``freshrec keys list``
shows it) and ``check`` refuses it, saying why. ``freshrec keys create`` and ``revoke`` write
the store directly, also while a server runs on the directory (they take no writer lock:
keys are not part of the engine's state). Each change also appends one byte to a small file
beside the store (``CHANGES_FILE``, when the store is given one): a server stats it on every
check, a microsecond, and re-reads the keys when its size changed, so a revocation holds from
the very next request.

When each key was last used is kept in memory and written (blob ``auth/last_used``) at most
once a minute, on a thread of its own, and at shutdown (``flush``): never a store write per
request.

>>> from freshrec.store import MemoryStore
>>> keys = KeyStore(MemoryStore())
>>> key = keys.create(Scope.READ)
>>> keys.authenticate(key)
<Scope.READ: 'read'>
>>> keys.authenticate(key + "x") is None
True
>>> revoked = keys.revoke(key)
>>> keys.check(key)
Traceback (most recent call last):
    ...
freshrec.serving.key_records.RevokedKeyError: API key ... was revoked at ...
"""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from freshrec.errors import FreshrecError
from freshrec.serving.key_records import (
    BlobStore,
    ExpiredKeyError,
    KeyInfo,
    KeyRefusedError,
    KeyStatus,
    RevokedKeyError,
    Scope,
    StoredKey,
    UnknownKeyError,
    iso_time,
)

__all__ = [
    "BLOB_NAME",
    "CHANGES_FILE",
    "KEY_PREFIX",
    "LAST_USED_BLOB",
    "BlobStore",
    "ExpiredKeyError",
    "KeyInfo",
    "KeyRefusedError",
    "KeyStatus",
    "KeyStore",
    "RevokedKeyError",
    "Scope",
    "StoredKey",
    "UnknownKeyError",
    "iso_time",
]

log = logging.getLogger(__name__)

BLOB_NAME = "auth/keys"
LAST_USED_BLOB = "auth/last_used"
# Beside the store in a data directory; its size counts the changes made to the keys.
CHANGES_FILE = "keys.changes"
KEY_PREFIX = "fr"
_KEY = re.compile(r"^fr_([0-9a-f]{16})_([A-Za-z0-9_-]{16,128})$")
_KEY_ID = re.compile(r"^[0-9a-f]{16}$")
# A request with an unknown key id re-reads the blob (keys written by something that does
# not append to the changes file), at most this often, so bad keys cannot hammer the store.
RELOAD_INTERVAL_SECONDS = 1.0
# When keys were last used is written at most this often (and at shutdown).
FLUSH_INTERVAL_SECONDS = 60.0


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


def _changes_count(path: Path | None) -> int:
    """How many changes the file counts (its size); 0 when it does not exist (yet)."""
    if path is None:
        return 0
    try:
        return os.stat(path).st_size
    except FileNotFoundError:
        return 0


def _key_id_of(text: str) -> str:
    """The id in a whole key, or ``text`` itself when it is an id.

    Raises:
        UnknownKeyError: ``text`` is neither.
    """
    match = _KEY.match(text)
    if match is not None:
        return match.group(1)
    if _KEY_ID.match(text):
        return text
    raise UnknownKeyError(
        f"{text!r} is neither a key id (16 hex digits, as `freshrec keys list` shows them) "
        f"nor a key ({KEY_PREFIX}_<key id>_<secret>)"
    )


class KeyStore:
    """Creates, checks, lists and revokes API keys; thread-safe.

    Args:
        store: where the hashed keys live (the engine's store).
        reload_interval_seconds: an unknown key id re-reads the store at most this often.
        changes: the data directory's ``CHANGES_FILE``, so that keys changed by another
            process (``freshrec keys create`` / ``revoke``) count from the next check; each
            check costs one ``stat`` of it. None: only this object's own changes count
            (and new keys, through the reload of unknown ids).
        flush_interval_seconds: when keys were last used is written at most this often.
        clock: unix time now (expiry, creation and use times).
    """

    def __init__(
        self,
        store: BlobStore,
        reload_interval_seconds: float = RELOAD_INTERVAL_SECONDS,
        *,
        changes: Path | None = None,
        flush_interval_seconds: float = FLUSH_INTERVAL_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._reload_interval = reload_interval_seconds
        self._changes = changes
        self._flush_interval = flush_interval_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._keys: dict[str, StoredKey] = {}
        self._loaded_at = 0.0
        # Read before the keys, so a change landing in between is seen by the next check.
        self._changes_seen = _changes_count(changes)
        self._load()
        self._used = self._stored_last_used()
        self._unflushed = False
        self._flush_lock = threading.Lock()
        self._flushed_at = time.monotonic()
        self._flusher: threading.Thread | None = None

    # -- the blob -------------------------------------------------------------------------

    def _load(self) -> None:
        blob = self._store.get_blob(BLOB_NAME)
        keys: dict[str, StoredKey] = {}
        if blob is not None:
            for entry in json.loads(blob)["keys"]:
                key = StoredKey(
                    entry["key_id"],
                    Scope(entry["scope"]),
                    entry["sha256"],
                    entry["created_at"],
                    entry.get("expires_at"),  # absent in version 1
                    entry.get("revoked_at"),
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
                "expires_at": k.expires_at,
                "revoked_at": k.revoked_at,
            }
            for k in self._keys.values()
        ]
        self._store.put_blob(BLOB_NAME, json.dumps({"version": 2, "keys": entries}).encode())

    def _stored_last_used(self) -> dict[str, float]:
        blob = self._store.get_blob(LAST_USED_BLOB)
        if blob is None:
            return {}
        try:
            stored = json.loads(blob)
            return {str(key_id): float(at) for key_id, at in stored.items()}
        except (ValueError, AttributeError, TypeError):  # a damaged record only loses times
            log.warning("ignoring an unreadable %s blob", LAST_USED_BLOB)
            return {}

    @contextmanager
    def _changing(self) -> Iterator[None]:
        """Around a change of the keys: the current keys are loaded on entry, saved on exit.

        Writers in other processes are kept out by an ``flock`` on the changes file (two
        ``freshrec keys`` commands at once would otherwise lose one's change); the byte
        appended after the save tells running servers to re-read the keys.
        """
        with self._lock:
            if self._changes is None:
                self._load()
                yield
                self._save()
                return
            fd = os.open(self._changes, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                self._load()  # another process may have changed keys since
                yield
                self._save()
                os.write(fd, b".")
                self._changes_seen = os.fstat(fd).st_size  # nobody else wrote: we hold it
            finally:
                os.close(fd)  # and with it the flock

    def _refresh(self) -> None:
        """Re-read the keys when another process changed them (one ``stat``, else nothing)."""
        if self._changes is None:
            return
        count = _changes_count(self._changes)
        if count == self._changes_seen:
            return
        with self._lock:
            self._load()
            self._changes_seen = count

    # -- reading --------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._keys)

    def scopes(self) -> dict[str, Scope]:
        """Return ``{key_id: scope}`` of every stored key (revoked and expired ones too)."""
        return {k.key_id: k.scope for k in self._keys.values()}

    def list_keys(self) -> list[KeyInfo]:
        """Return every key, oldest first, as stored now (revoked and expired ones too).

        ``last_used_at`` is this object's own record merged with the stored one, which a
        running server writes at most once a minute: read from another process, it may be
        up to ``flush_interval_seconds`` old.
        """
        with self._lock:
            count = _changes_count(self._changes)
            self._load()
            self._changes_seen = count
            keys = sorted(self._keys.values(), key=lambda k: (k.created_at, k.key_id))
        stored_use = self._stored_last_used()
        now = self._clock()
        listed = []
        for key in keys:
            uses = [at for at in (stored_use.get(key.key_id), self._used.get(key.key_id)) if at]
            listed.append(
                KeyInfo(
                    key.key_id,
                    key.scope,
                    key.created_at,
                    key.expires_at,
                    key.revoked_at,
                    max(uses) if uses else None,
                    key.status(now),
                )
            )
        return listed

    # -- changing -------------------------------------------------------------------------

    def create(self, scope: Scope | str, expires_at: float | None = None) -> str:
        """Create, store durably and return a new key; the secret is not kept anywhere.

        Args:
            scope: what the key may do.
            expires_at: unix seconds from which the key is refused; None: never.

        Raises:
            ValueError: ``scope`` is not admin, read or ingest, or ``expires_at`` is not
                in the future.
        """
        scope = Scope(scope)
        now = self._clock()
        if expires_at is not None and expires_at <= now:
            raise ValueError(f"expires_at {iso_time(expires_at)} is not in the future")
        key_id = secrets.token_hex(8)
        secret = secrets.token_urlsafe(32)
        with self._changing():
            self._keys[key_id] = StoredKey(key_id, scope, _digest(secret), now, expires_at)
        return f"{KEY_PREFIX}_{key_id}_{secret}"

    def revoke(self, key: str) -> StoredKey:
        """Revoke a key, named by its id or given whole; return its record.

        Revoking a revoked key changes nothing (its ``revoked_at`` stays the first one).
        Every ``KeyStore`` given the same changes file refuses the key from its next check.

        Raises:
            UnknownKeyError: no key has this id, or ``key`` is neither an id nor a key.
        """
        key_id = _key_id_of(key)
        with self._changing():
            stored = self._keys.get(key_id)
            if stored is None:
                raise UnknownKeyError(f"no API key has the id {key_id}", key_id)
            if stored.revoked_at is None:
                stored = dataclasses.replace(stored, revoked_at=self._clock())
                self._keys[key_id] = stored
        return stored

    # -- checking -------------------------------------------------------------------------

    def check(self, key: str) -> Scope:
        """Return the scope of a key that may be used now; note the use.

        Raises:
            UnknownKeyError: malformed, never created, or a wrong secret.
            RevokedKeyError: revoked (only said to whoever holds the right secret).
            ExpiredKeyError: past its expiry time (likewise).
        """
        match = _KEY.match(key)
        if match is None:
            raise UnknownKeyError(
                f"not a freshrec API key (they look like {KEY_PREFIX}_<key id>_<secret>)"
            )
        key_id, secret = match.groups()
        self._refresh()
        stored = self._keys.get(key_id)
        if stored is None:
            with self._lock:
                if time.monotonic() - self._loaded_at >= self._reload_interval:
                    self._load()
                stored = self._keys.get(key_id)
        if stored is None or not hmac.compare_digest(_digest(secret), stored.secret_sha256):
            raise UnknownKeyError("unknown API key")
        now = self._clock()
        if stored.revoked_at is not None:
            raise RevokedKeyError(
                f"API key {key_id} was revoked at {iso_time(stored.revoked_at)}", key_id
            )
        if stored.expires_at is not None and now >= stored.expires_at:
            raise ExpiredKeyError(
                f"API key {key_id} expired at {iso_time(stored.expires_at)}", key_id
            )
        self._note_use(key_id, now)
        return stored.scope

    def authenticate(self, key: str) -> Scope | None:
        """Return the scope of a key that may be used now, or None (``check`` says why)."""
        try:
            return self.check(key)
        except KeyRefusedError:
            return None

    # -- when keys were last used -----------------------------------------------------------

    def _note_use(self, key_id: str, now: float) -> None:
        # A dict store per check; the store is written by ``flush`` at most once a minute.
        self._used[key_id] = now
        self._unflushed = True
        if time.monotonic() - self._flushed_at < self._flush_interval:
            return
        with self._lock:
            if self._flusher is not None and self._flusher.is_alive():
                return
            self._flushed_at = time.monotonic()  # the next one a full interval later
            self._flusher = threading.Thread(
                target=self.flush, name="freshrec-key-use", daemon=True
            )
            self._flusher.start()

    def flush(self) -> bool:
        """Store when keys were last used, if that changed since the last flush.

        Called at most once a minute from checks (on a thread of its own) and at shutdown.
        A store that cannot write is logged, not raised (the times are kept for the next).

        Returns:
            Whether the stored times are now up to date.
        """
        with self._flush_lock:
            if not self._unflushed:
                return True
            self._unflushed = False
            used = dict(self._used)
            try:
                self._store.put_blob(LAST_USED_BLOB, json.dumps(used).encode())
            except (FreshrecError, OSError) as exc:
                self._unflushed = True
                log.warning("could not store when API keys were last used: %s", exc)
                return False
            self._flushed_at = time.monotonic()
            return True
