"""A synthetic shop: catalogue, users and their traffic, with the ground truth behind them."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from freshrec.simulate.catalogue import build_catalogue, item_records
from freshrec.simulate.population import build_population, user_records
from freshrec.simulate.traffic import EVENT_TYPES, EventColumns, simulate_traffic
from freshrec.simulate.vocabulary import category_words


@dataclass(frozen=True, slots=True)
class ShopConfig:
    """Size and behaviour of a synthetic shop.

    Attributes:
        n_users: users ``u0`` .. ``u{n_users-1}``.
        n_items: items ``i0`` .. ``i{n_items-1}``, numbered in creation order.
        n_events: exact number of events ``events()`` yields.
        n_categories: categories; the first 20 have names and real words, more are invented.
        seed: everything is a pure function of the config, seed included.
        start_timestamp: unix seconds of the first event.
        duration_days: approximate span of the event timestamps.
        drift_probability: share of users whose taste moves, once, to a new one.
        session_length_mean: mean number of items viewed per session (at least 1).
        taste_concentration: Dirichlet parameter of tastes; smaller means narrower tastes.
        activity_exponent: Zipf exponent of sessions per user.
        popularity_exponent: Zipf exponent of item popularity within a category.
        new_item_fraction: share of items created during the event period.
        catalogue_age_days: the other items are created up to this long before the start.
        second_category_probability: chance an item has a second category.
        user_text_probability: chance a user profile states tastes in words.
        explore_probability: chance a viewed item is from a uniformly random category.
    """

    n_users: int = 1_000
    n_items: int = 500
    n_events: int = 100_000
    n_categories: int = 20
    seed: int = 0
    start_timestamp: float = 1_700_000_000.0
    duration_days: float = 90.0
    drift_probability: float = 0.2
    session_length_mean: float = 4.0
    taste_concentration: float = 0.3
    activity_exponent: float = 0.7
    popularity_exponent: float = 1.0
    new_item_fraction: float = 0.3
    catalogue_age_days: float = 365.0
    second_category_probability: float = 0.25
    user_text_probability: float = 0.5
    explore_probability: float = 0.05

    def __post_init__(self) -> None:
        if self.n_users < 1 or self.n_categories < 1 or self.n_events < 0:
            raise ValueError("need n_users >= 1, n_categories >= 1 and n_events >= 0")
        if self.n_items < self.n_categories:
            raise ValueError("need n_items >= n_categories (every category needs an item)")
        for name in (
            "drift_probability",
            "new_item_fraction",
            "second_category_probability",
            "user_text_probability",
            "explore_probability",
        ):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be within [0, 1]")
        if self.session_length_mean < 1.0:
            raise ValueError("session_length_mean must be at least 1")
        positive = ("duration_days", "taste_concentration", "catalogue_age_days")
        if not all(math.isfinite(getattr(self, n)) and getattr(self, n) > 0 for n in positive):
            raise ValueError(f"{', '.join(positive)} must be positive")
        if self.start_timestamp < self.catalogue_age_days * 86_400.0:
            raise ValueError("start_timestamp must leave room for catalogue_age_days before it")


class SyntheticShop:
    """A deterministic synthetic shop: items, users and time-ordered events.

    Users have Dirichlet tastes over categories (some drift once during the period), their
    activity is heavy-tailed, and items are heavy-tailed in popularity within a category.
    Sessions walk a view → click → like/cart → purchase funnel with occasional dislikes and
    ratings; interest in a category raises every step of the funnel. Items appear only
    after their ``created_at``.

    Example:
        >>> shop = SyntheticShop(ShopConfig(n_users=50, n_items=40, n_events=200, seed=1))
        >>> events = list(shop.events())
        >>> len(events), {e["type"] for e in events} >= {"view", "click"}
        (200, True)
        >>> all(a["timestamp"] <= b["timestamp"] for a, b in zip(events, events[1:]))
        True
    """

    def __init__(self, config: ShopConfig) -> None:
        self.config = config
        catalogue_seed, users_seed, self._traffic_seed = np.random.SeedSequence(config.seed).spawn(
            3
        )
        self.catalogue = build_catalogue(config, np.random.default_rng(catalogue_seed))
        self.population = build_population(config, np.random.default_rng(users_seed))
        self.category_names = tuple(
            category_words(index).name for index in range(config.n_categories)
        )

    def items(self) -> Iterator[dict[str, Any]]:
        """Yield ``n_items`` item dicts (``upsert_items`` shape), oldest first."""
        return item_records(self.catalogue)

    def users(self) -> Iterator[dict[str, Any]]:
        """Yield ``n_users`` user dicts (``upsert_users`` shape) in user-number order."""
        return user_records(self.population)

    def events_arrays(self) -> Iterator[EventColumns]:
        """Yield all events as column chunks (see ``EventColumns``) in timestamp order.

        Cheap in memory at any size: one chunk (about 250k events) is held at a time.
        The same config always yields the same chunks.
        """
        return simulate_traffic(self.config, self.catalogue, self.population, self._traffic_seed)

    def events(self) -> Iterator[dict[str, Any]]:
        """Yield ``n_events`` event dicts (``ingest`` shape), timestamps non-decreasing.

        Keys: ``user_id``, ``item_id``, ``type``, ``timestamp`` (int unix seconds) and
        ``value`` (the 1-5 rating of ``rating`` events, else ``None``).
        """
        for chunk in self.events_arrays():
            values = chunk.value.tolist()
            for user, item, kind, stamp, value in zip(
                chunk.user.tolist(),
                chunk.item.tolist(),
                chunk.type.tolist(),
                chunk.timestamp.tolist(),
                values,
                strict=True,
            ):
                yield {
                    "user_id": f"u{user}",
                    "item_id": f"i{item}",
                    "type": EVENT_TYPES[kind],
                    "timestamp": stamp,
                    "value": None if value != value else value,  # NaN marks "no value"
                }

    def user_taste(self, user_id: str, at: float | None = None) -> np.ndarray:
        """Return the true taste of ``user_id`` at time ``at`` (default: the start).

        Returns:
            Weights over categories (``category_names`` order), shape [n_categories],
            float64, summing to 1.

        Raises:
            KeyError: ``user_id`` is not one of this shop's users.
        """
        user = _index(user_id, "u", self.config.n_users)
        when = self.config.start_timestamp if at is None else at
        taste: np.ndarray = self.population.taste_at(np.array([user]), np.array([when]))[0]
        return taste / taste.sum()

    def user_top_categories(self, user_id: str, k: int = 3, at: float | None = None) -> list[str]:
        """Return the names of the ``k`` categories ``user_id`` likes most at ``at``, best first.

        Raises:
            KeyError: ``user_id`` is not one of this shop's users.
        """
        taste = self.user_taste(user_id, at)
        return [self.category_names[c] for c in np.argsort(-taste, kind="stable")[:k]]

    def item_category(self, item_id: str) -> str:
        """Return the main category name of ``item_id``; raises ``KeyError`` if unknown."""
        item = _index(item_id, "i", self.config.n_items)
        return self.category_names[int(self.catalogue.category[item])]


def _index(external_id: str, prefix: str, size: int) -> int:
    digits = external_id[len(prefix) :]
    if not external_id.startswith(prefix) or not digits.isdigit() or int(digits) >= size:
        raise KeyError(external_id)
    return int(digits)
