"""Live shoppers: a synthetic shop's users acting now and reacting to what they are shown.

``simulate_traffic`` writes a whole log in the shop's past. These shoppers instead act one
session at a time for a running service: a session opens on the user's recommendations (the
caller fetches them), opens a shown item when its category suits the user, browses the
session's topic and walks the same view → click → like/cart → purchase funnel, with the same
probabilities. Events carry no timestamp: whoever sends them stamps them.

A *spotlight* visitor, with no history in the shop, moves their interest to a new category
every ``spotlight_seconds``, so their recommendations can be watched following them.

>>> from freshrec.simulate import ShopConfig, SyntheticShop
>>> shoppers = LiveShoppers(SyntheticShop(ShopConfig(n_users=20, n_items=40, n_events=0)))
>>> events = shoppers.session("u3", shown=["i1", "i2"], recommendation_id="r1")
>>> all(event["user_id"] == "u3" for event in events)
True
>>> interest, step = shoppers.spotlight(elapsed=0.0, shown=[], recommendation_id=None)
>>> step[0]["user_id"], step[0]["type"]
('visitor', 'view')
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from freshrec.simulate.catalogue import ItemSampler
from freshrec.simulate.shop import SyntheticShop

DAY_SECONDS = 86_400.0
# Chance that a step of a session looks at the shown list rather than browsing the topic.
LOOK_AT_SHOWN = 0.4
# Chance that a browsing step stays on the session's topic, and that it explores at random.
TOPIC_STICKINESS = 0.75
EXPLORE = 0.05
# Weight of a shown item of a disliked category when the user picks one to look at.
SHOWN_FLOOR = 0.05
# Chance that the spotlight visitor opens a shown item of their interest when there is one.
SPOTLIGHT_FOLLOWS_LIST = 0.6

Event = dict[str, Any]


class LiveShoppers:
    """Taste-driven sessions of a ``SyntheticShop``'s users, one call per session.

    Users are drawn by the shop's heavy-tailed activity; their taste is the one they have at
    the end of the shop's period (after any drift). Deterministic for a seed and the same
    sequence of calls and shown lists.

    Args:
        shop: the shop whose users, items and tastes act.
        seed: seed of every random choice.
        spotlight_user: id of the visitor whose interest moves (not one of the shop's users).
        spotlight_seconds: how long the visitor keeps one interest.
    """

    def __init__(
        self,
        shop: SyntheticShop,
        seed: int = 0,
        spotlight_user: str = "visitor",
        spotlight_seconds: float = 30.0,
    ) -> None:
        config = shop.config
        self.shop = shop
        self.spotlight_user = spotlight_user
        self.spotlight_seconds = spotlight_seconds
        self._rng = np.random.default_rng(seed)
        self._sampler = ItemSampler(shop.catalogue, config.n_categories)
        # Shop time at which every item exists and every drift has happened.
        self._end = config.start_timestamp + config.duration_days * DAY_SECONDS
        self._tastes: dict[str, np.ndarray] = {}
        self._interests = self._rng.permutation(config.n_categories)

    # -- the shop's users ---------------------------------------------------------------------

    def pick_user(self) -> str:
        """Return the id of a user about to start a session, drawn by activity."""
        return f"u{int(self.shop.population.pick_users(1, self._rng)[0])}"

    def session(
        self, user_id: str, shown: Sequence[str], recommendation_id: str | None
    ) -> list[Event]:
        """Return the events of one session of ``user_id``, in order, without timestamps.

        Args:
            user_id: one of the shop's users (``u0`` ...).
            shown: item ids the user was just recommended, best first.
            recommendation_id: the id of that answer; events that follow from opening a
                shown item carry it.

        Returns:
            Event dicts (``user_id``, ``item_id``, ``type``, ``value`` for ratings,
            ``recommendation_id`` where one led there); may be empty.

        Raises:
            KeyError: ``user_id`` is not one of the shop's users.
        """
        taste = self._taste(user_id)
        rng = self._rng
        topic = int(rng.choice(taste.size, p=taste))
        steps = 1 + int(rng.poisson(self.shop.config.session_length_mean - 1.0))
        events: list[Event] = []
        for _ in range(steps):
            if shown and rng.random() < LOOK_AT_SHOWN:
                affinities = np.array([self._affinity(taste, item) for item in shown])
                weights = affinities + SHOWN_FLOOR
                pick = int(rng.choice(len(shown), p=weights / weights.sum()))
                # Opening a shown item is a click straight from the list (no view logged).
                events += self._funnel(user_id, shown[pick], affinities[pick], recommendation_id)
                continue
            category = (
                topic if rng.random() < TOPIC_STICKINESS else int(rng.choice(taste.size, p=taste))
            )
            if rng.random() < EXPLORE:
                category = int(rng.integers(taste.size))
            item_id = self._sample_item(category)
            events.append(_event(user_id, item_id, "view"))
            events += self._funnel(user_id, item_id, self._affinity(taste, item_id), None, True)
        return events

    # -- the spotlight visitor ----------------------------------------------------------------

    def interest(self, elapsed: float) -> str:
        """Return the category name the spotlight visitor likes ``elapsed`` seconds in."""
        turn = int(max(elapsed, 0.0) // self.spotlight_seconds) % self._interests.size
        return self.shop.category_names[int(self._interests[turn])]

    def spotlight(
        self, elapsed: float, shown: Sequence[str], recommendation_id: str | None
    ) -> tuple[str, list[Event]]:
        """Return the visitor's interest now and the events of their next step.

        The visitor opens the best shown item of their interest (most of the time, when the
        list has one), else views and clicks a popular item of it; a click is sometimes
        followed by a cart and a purchase.

        Args:
            elapsed: seconds since the traffic started (picks the interest).
            shown: item ids the visitor was just recommended, best first.
            recommendation_id: the id of that answer.
        """
        name = self.interest(elapsed)
        category = self.shop.category_names.index(name)
        rng = self._rng
        user = self.spotlight_user
        matching = [item for item in shown if self._category(item) == category]
        if matching and rng.random() < SPOTLIGHT_FOLLOWS_LIST:
            events = [_event(user, matching[0], "click", recommendation_id)]
        else:
            item_id = self._sample_item(category)
            events = [_event(user, item_id, "view"), _event(user, item_id, "click")]
            recommendation_id = None
        item_id = events[-1]["item_id"]
        if rng.random() < 0.3:
            events.append(_event(user, item_id, "cart", recommendation_id))
            if rng.random() < 0.5:
                events.append(_event(user, item_id, "purchase", recommendation_id))
        return name, events

    # -- helpers ------------------------------------------------------------------------------

    def _taste(self, user_id: str) -> np.ndarray:
        taste = self._tastes.get(user_id)
        if taste is None:
            taste = self._tastes[user_id] = self.shop.user_taste(user_id, at=self._end)
        return taste

    def _category(self, item_id: str) -> int:
        """Main category number of a shop item; -1 for ids the shop does not know."""
        digits = item_id[1:]
        if not item_id.startswith("i") or not digits.isdigit():
            return -1
        number = int(digits)
        category = self.shop.catalogue.category
        return int(category[number]) if number < category.size else -1

    def _affinity(self, taste: np.ndarray, item_id: str) -> float:
        """How much ``taste`` likes the item's category relative to its favourite, in [0, 1]."""
        category = self._category(item_id)
        return float(taste[category] / taste.max()) if category >= 0 else 0.0

    def _sample_item(self, category: int) -> str:
        drawn = self._sampler.sample(np.array([category]), np.array([self._end]), self._rng)
        return f"i{int(drawn[0])}"

    def _funnel(
        self,
        user_id: str,
        item_id: str,
        affinity: float,
        recommendation_id: str | None,
        viewed: bool = False,
    ) -> list[Event]:
        """Events after a view (``viewed``) or after opening a shown item (a click).

        Probabilities are those of ``simulate_traffic``: liked categories click, like, cart
        and buy more often; disliked ones are sometimes disliked.
        """
        draw = self._rng.random(6)
        if viewed and not draw[0] < 0.10 + 0.40 * affinity:
            if draw[4] < 0.12 * (1.0 - affinity):
                return [_event(user_id, item_id, "dislike")]
            return []
        events = [_event(user_id, item_id, "click", recommendation_id)]
        if draw[1] < 0.05 + 0.35 * affinity:
            events.append(_event(user_id, item_id, "like", recommendation_id))
        if draw[5] < 0.10:
            stars = float(np.clip(np.rint(1.0 + 4.0 * affinity + self._rng.normal(0.0, 0.6)), 1, 5))
            events.append({**_event(user_id, item_id, "rating", recommendation_id), "value": stars})
        if draw[2] < 0.05 + 0.30 * affinity:
            events.append(_event(user_id, item_id, "cart", recommendation_id))
            if draw[3] < 0.30 + 0.40 * affinity:
                events.append(_event(user_id, item_id, "purchase", recommendation_id))
        return events


def _event(user_id: str, item_id: str, kind: str, recommendation_id: str | None = None) -> Event:
    event: Event = {"user_id": user_id, "item_id": item_id, "type": kind}
    if recommendation_id is not None:
        event["recommendation_id"] = recommendation_id
    return event
