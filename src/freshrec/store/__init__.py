"""Durable storage behind a small protocol."""

from freshrec.store.base import Store
from freshrec.store.memory import MemoryStore
from freshrec.store.sqlite import SqliteStore

__all__ = ["MemoryStore", "SqliteStore", "Store"]
