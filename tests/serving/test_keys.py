"""``KeyStore``: expiry, revocation, changes seen across stores, and when keys were last used."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from freshrec.serving.auth import (
    BLOB_NAME,
    CHANGES_FILE,
    LAST_USED_BLOB,
    ExpiredKeyError,
    KeyRefusedError,
    KeyStatus,
    KeyStore,
    RevokedKeyError,
    Scope,
    UnknownKeyError,
)
from freshrec.store import MemoryStore, SqliteStore

NOW = 1_800_000_000.0  # 2027-01-15T08:00:00Z


class Clock:
    """A settable unix clock."""

    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class CountingStore(MemoryStore):
    """A MemoryStore that counts blob writes by name."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: dict[str, int] = {}

    def put_blob(self, name: str, data: bytes) -> None:
        self.writes[name] = self.writes.get(name, 0) + 1
        super().put_blob(name, data)


@pytest.fixture
def sqlite_pair(tmp_path: Path) -> Iterator[tuple[SqliteStore, SqliteStore, Path]]:
    """Two connections to one store file (a server's and a ``freshrec keys`` command's)."""
    first, second = SqliteStore(tmp_path / "freshrec.db"), SqliteStore(tmp_path / "freshrec.db")
    yield first, second, tmp_path / CHANGES_FILE
    first.close()
    second.close()


def test_a_valid_key_passes_check_and_authenticate() -> None:
    keys = KeyStore(MemoryStore())
    key = keys.create(Scope.INGEST)
    assert keys.check(key) is Scope.INGEST
    assert keys.authenticate(key) is Scope.INGEST


@pytest.mark.parametrize(
    "mangle",
    [
        lambda key: key + "x",  # wrong secret for a real id
        lambda key: key[:3] + "0" * 16 + key[19:],  # unknown id
        lambda key: "Bearer " + key,  # malformed
        lambda key: "",
    ],
)
def test_unknown_keys_are_refused_as_unknown(mangle: Callable[[str], str]) -> None:
    keys = KeyStore(MemoryStore())
    key = keys.create(Scope.ADMIN)
    with pytest.raises(UnknownKeyError) as refused:
        keys.check(mangle(key))
    assert refused.value.reason == "unknown" and refused.value.key_id is None
    assert keys.authenticate(mangle(key)) is None


def test_a_revoked_key_is_refused_saying_so_and_stays_listed() -> None:
    clock = Clock()
    keys = KeyStore(MemoryStore(), clock=clock)
    key, other = keys.create(Scope.READ), keys.create(Scope.READ)
    key_id = key.split("_")[1]
    clock.now += 60
    record = keys.revoke(key_id)
    assert record.revoked_at == NOW + 60 and record.key_id == key_id
    with pytest.raises(RevokedKeyError) as refused:
        keys.check(key)
    assert refused.value.reason == "revoked" and refused.value.key_id == key_id
    assert str(refused.value) == f"API key {key_id} was revoked at 2027-01-15T08:01:00Z"
    assert keys.authenticate(key) is None
    assert keys.check(other) is Scope.READ  # only that key
    listed = {info.key_id: info for info in keys.list_keys()}
    assert listed[key_id].status is KeyStatus.REVOKED
    assert listed[other.split("_")[1]].status is KeyStatus.ACTIVE


def test_a_wrong_secret_does_not_learn_that_an_id_was_revoked() -> None:
    keys = KeyStore(MemoryStore())
    key = keys.create(Scope.READ)
    keys.revoke(key)  # the whole key names its id too
    with pytest.raises(UnknownKeyError):
        keys.check(key[:-1] + ("A" if key[-1] != "A" else "B"))


def test_revoking_twice_keeps_the_first_time_and_unknown_ids_are_named() -> None:
    clock = Clock()
    keys = KeyStore(MemoryStore(), clock=clock)
    key_id = keys.create(Scope.READ).split("_")[1]
    first = keys.revoke(key_id)
    clock.now += 3600
    assert keys.revoke(key_id).revoked_at == first.revoked_at
    with pytest.raises(UnknownKeyError, match="no API key has the id 0123456789abcdef"):
        keys.revoke("0123456789abcdef")
    with pytest.raises(UnknownKeyError, match="neither a key id"):
        keys.revoke("not-an-id")


def test_a_key_expires_at_its_time() -> None:
    clock = Clock()
    keys = KeyStore(MemoryStore(), clock=clock)
    key = keys.create(Scope.READ, expires_at=NOW + 30)
    clock.now = NOW + 29.9
    assert keys.check(key) is Scope.READ
    clock.now = NOW + 30
    with pytest.raises(ExpiredKeyError) as refused:
        keys.check(key)
    key_id = key.split("_")[1]
    assert refused.value.reason == "expired" and refused.value.key_id == key_id
    assert str(refused.value) == f"API key {key_id} expired at 2027-01-15T08:00:30Z"
    assert isinstance(refused.value, KeyRefusedError)
    assert [info.status for info in keys.list_keys()] == [KeyStatus.EXPIRED]


def test_an_expiry_must_be_in_the_future() -> None:
    keys = KeyStore(MemoryStore(), clock=Clock())
    with pytest.raises(ValueError, match="not in the future"):
        keys.create(Scope.READ, expires_at=NOW)
    assert len(keys) == 0


def test_keys_of_the_first_format_still_load() -> None:
    store = MemoryStore()
    KeyStore(store).create(Scope.READ)
    entries = json.loads(store.get_blob(BLOB_NAME) or b"")["keys"]
    old = [{k: v for k, v in e.items() if k not in ("expires_at", "revoked_at")} for e in entries]
    store.put_blob(BLOB_NAME, json.dumps({"version": 1, "keys": old}).encode())
    [info] = KeyStore(store).list_keys()
    assert info.status is KeyStatus.ACTIVE and info.expires_at is None


def test_a_revocation_through_another_connection_counts_at_the_next_check(
    sqlite_pair: tuple[SqliteStore, SqliteStore, Path],
) -> None:
    server_store, command_store, changes = sqlite_pair
    # A reload interval of an hour: only the changes file can make the server re-read.
    server = KeyStore(server_store, reload_interval_seconds=3600, changes=changes)
    command = KeyStore(command_store, changes=changes)
    key = command.create(Scope.READ)
    assert server.check(key) is Scope.READ  # a new key: seen at once too
    command.revoke(key)
    with pytest.raises(RevokedKeyError):
        server.check(key)
    # Without the changes file the server keeps its cached copy: the file is what tells it.
    second = command.create(Scope.READ)
    unaware = KeyStore(server_store, reload_interval_seconds=3600)
    assert unaware.check(second) is Scope.READ
    command.revoke(second)
    assert unaware.check(second) is Scope.READ
    assert server.authenticate(second) is None


def test_writers_in_parallel_lose_no_key(
    sqlite_pair: tuple[SqliteStore, SqliteStore, Path],
) -> None:
    first_store, second_store, changes = sqlite_pair
    stores = [KeyStore(first_store, changes=changes), KeyStore(second_store, changes=changes)]
    made: list[str] = []

    def create(keys: KeyStore) -> None:
        for _ in range(15):
            made.append(keys.create(Scope.INGEST))

    threads = [threading.Thread(target=create, args=(keys,)) for keys in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    listed = {info.key_id for info in KeyStore(first_store).list_keys()}
    assert listed == {key.split("_")[1] for key in made} and len(listed) == 30
    assert changes.stat().st_size == 30  # one byte per change


def test_last_use_is_kept_in_memory_and_written_by_flush() -> None:
    clock, store = Clock(), CountingStore()
    keys = KeyStore(store, clock=clock, flush_interval_seconds=3600)
    key, unused = keys.create(Scope.READ), keys.create(Scope.ADMIN)
    for step in range(200):
        clock.now = NOW + step
        keys.check(key)
    assert LAST_USED_BLOB not in store.writes  # no store write per request
    listed = {info.key_id: info.last_used_at for info in keys.list_keys()}
    assert listed == {key.split("_")[1]: NOW + 199, unused.split("_")[1]: None}
    assert keys.flush() and store.writes[LAST_USED_BLOB] == 1
    assert keys.flush() and store.writes[LAST_USED_BLOB] == 1  # nothing new: no write
    # Another process (``freshrec keys list``) reads what was flushed.
    again = {info.key_id: info.last_used_at for info in KeyStore(store).list_keys()}
    assert again[key.split("_")[1]] == NOW + 199


def test_last_use_is_flushed_in_the_background_once_the_interval_passed() -> None:
    store = CountingStore()
    keys = KeyStore(store, flush_interval_seconds=0.0)
    key = keys.create(Scope.READ)
    keys.check(key)
    flusher = keys._flusher
    assert flusher is not None
    flusher.join(timeout=10)
    stored = json.loads(store.get_blob(LAST_USED_BLOB) or b"{}")
    assert set(stored) == {key.split("_")[1]}


def test_a_store_that_cannot_write_keeps_the_times_for_the_next_flush() -> None:
    class Failing(MemoryStore):
        fail = True

        def put_blob(self, name: str, data: bytes) -> None:
            if name == LAST_USED_BLOB and self.fail:
                raise OSError("disk full")
            super().put_blob(name, data)

    store = Failing()
    keys = KeyStore(store, flush_interval_seconds=3600)
    keys.check(keys.create(Scope.READ))
    assert keys.flush() is False
    store.fail = False
    assert keys.flush() is True and store.get_blob(LAST_USED_BLOB) is not None
