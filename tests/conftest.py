"""Shared fixtures: a small deterministic event generator and a fast engine configuration."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest

from freshrec.config import EngineConfig

# Fixed base time (2023-11-14) so every generated timestamp is in the past.
BASE_TIME = 1_700_000_000

EventFactory = Callable[..., list[dict[str, Any]]]


def generate_events(
    n_users: int = 20,
    n_items: int = 30,
    n_events: int = 300,
    seed: int = 0,
    with_ids: bool = True,
    id_prefix: str = "e",
) -> list[dict[str, Any]]:
    """Return ``n_events`` event dicts, the same for the same arguments.

    Users ``u0..`` prefer the items whose index has their parity (two loose taste groups), so
    co-visitation and factor models have structure to find. Types are mostly clicks with some
    views, purchases, ratings and dislikes; timestamps increase by one second per event.
    """
    rng = random.Random(seed)
    events: list[dict[str, Any]] = []
    for k in range(n_events):
        user = rng.randrange(n_users)
        item = rng.randrange(user % 2, n_items, 2) if rng.random() < 0.8 else rng.randrange(n_items)
        kind = rng.choices(
            ["click", "view", "purchase", "rating", "dislike"], weights=[6, 3, 1, 1, 0.5]
        )[0]
        event: dict[str, Any] = {
            "user_id": f"u{user}",
            "item_id": f"i{item}",
            "type": kind,
            "timestamp": BASE_TIME + k,
        }
        if kind == "rating":
            event["value"] = float(rng.randint(1, 5))
        if with_ids:
            event["event_id"] = f"{id_prefix}{k}"
        events.append(event)
    return events


def catalogue(n_items: int = 30) -> list[dict[str, Any]]:
    """The bare items ``i0..`` that ``generate_events`` uses (only the catalogue lists items)."""
    return [{"item_id": f"i{k}"} for k in range(n_items)]


@pytest.fixture
def make_events() -> EventFactory:
    """The deterministic event generator (see ``generate_events``)."""
    return generate_events


def small_config(**sections: dict[str, Any]) -> EngineConfig:
    """Return an engine configuration with small, fast factor models and no auto-retrain."""
    data: dict[str, Any] = {
        "factors": {"factors": 8, "iterations": 6, "regularization": 1.0, "seed": 3},
        "training": {"retrain_every_events": 0},
        # Pinned, so tests that assert exact answers do not move when defaults are retuned.
        "blend": {"covisitation": 1.0, "factors": 0.5, "ease": 0.0, "trending": 0.0},
        "covisitation": {"recency_decay": 0.9},
        # Tests that count cache hits must not race the 1 s default age limit on a loaded
        # machine; the tests of that limit set their own.
        "serving": {"cache": {"max_age_seconds": 3600.0}},
    }
    for name, values in sections.items():
        data[name] = {**data.get(name, {}), **values}
    return EngineConfig.from_dict(data)


ConfigFactory = Callable[..., EngineConfig]


@pytest.fixture
def make_config() -> ConfigFactory:
    """Build small configurations: ``make_config(blend={"ease": 1.0})`` overrides sections."""
    return small_config


@pytest.fixture
def engine_config() -> EngineConfig:
    """A configuration whose retrains take milliseconds and never start on their own."""
    return small_config()
