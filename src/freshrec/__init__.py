"""freshrec: a real-time recommendation engine where every event changes the next answer."""

from freshrec.client import AsyncClient, Client
from freshrec.config import EngineConfig
from freshrec.engine import Engine
from freshrec.errors import (
    FreshrecError,
    OffsetNotReachedError,
    ReadError,
    StoreError,
    UnknownItemError,
    UnknownScenarioError,
    ValidationError,
)
from freshrec.types import Event, IngestResult, Item, Recommendation, User

__version__ = "0.1.0"

__all__ = [
    "AsyncClient",
    "Client",
    "Engine",
    "EngineConfig",
    "Event",
    "FreshrecError",
    "IngestResult",
    "Item",
    "OffsetNotReachedError",
    "ReadError",
    "Recommendation",
    "StoreError",
    "UnknownItemError",
    "UnknownScenarioError",
    "User",
    "ValidationError",
    "__version__",
]
