"""Synthetic users: tastes over categories that may drift, heavy-tailed activity, profiles."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from freshrec.simulate.vocabulary import AGE_BANDS, COUNTRIES, category_words

if TYPE_CHECKING:
    from freshrec.simulate.shop import ShopConfig

DAY_SECONDS = 86_400.0
# A drifting user moves from the old to the new taste over about this share of the period.
DRIFT_WIDTH_SHARE = 0.03


@dataclass(frozen=True, slots=True)
class Population:
    """User attributes as arrays indexed by user number (user ``n`` is ``"u{n}"``).

    Attributes:
        taste: taste at the start, shape [n_users, n_categories], float32, rows sum to 1.
        drift_slot: row of ``drifted`` per user or -1 (never drifts), shape [n_users], int64.
        drifted: the taste drifting users move to, shape [n_drifting, n_categories], float32.
        drift_time: midpoint of each move, unix seconds, shape [n_drifting], float64.
        drift_width: seconds over which a move happens (logistic scale).
        activity_cum: cumulative share of sessions, shape [n_users], float64, ends at 1.
        age_band: index into ``AGE_BANDS``, shape [n_users], int64.
        country: index into ``COUNTRIES``, shape [n_users], int64.
        has_text: whether the user profile states tastes in words, shape [n_users], bool.
    """

    taste: np.ndarray
    drift_slot: np.ndarray
    drifted: np.ndarray
    drift_time: np.ndarray
    drift_width: float
    activity_cum: np.ndarray
    age_band: np.ndarray
    country: np.ndarray
    has_text: np.ndarray

    def taste_at(self, users: np.ndarray, times: np.ndarray) -> np.ndarray:
        """Return the tastes of ``users`` at ``times``, shape [len(users), n_categories]."""
        rows = self.taste[users].astype(np.float64)
        slot = self.drift_slot[users]
        moving = slot >= 0
        if moving.any():
            slots = slot[moving]
            scaled = (times[moving] - self.drift_time[slots]) / self.drift_width
            # Clipped so exp never overflows far from the midpoint.
            share = 1.0 / (1.0 + np.exp(-np.clip(scaled, -50.0, 50.0)))
            rows[moving] = (1.0 - share)[:, None] * rows[moving] + share[:, None] * self.drifted[
                slots
            ]
        return rows

    def pick_users(self, count: int, rng: np.random.Generator) -> np.ndarray:
        """Draw ``count`` user numbers by activity (heavy-tailed), shape [count], int64."""
        drawn = rng.random(count) * self.activity_cum[-1]
        users = np.searchsorted(self.activity_cum, drawn, side="right")
        picked: np.ndarray = np.minimum(users, self.activity_cum.size - 1)
        return picked


def build_population(config: ShopConfig, rng: np.random.Generator) -> Population:
    """Draw users for ``config``: Dirichlet tastes, drifting users, Zipf activity."""
    n, n_cat = config.n_users, config.n_categories
    alpha = np.full(n_cat, config.taste_concentration)
    taste = rng.dirichlet(alpha, n).astype(np.float32)
    moves = rng.random(n) < config.drift_probability
    drift_slot = np.where(moves, np.cumsum(moves) - 1, -1)
    n_moving = int(moves.sum())
    duration = config.duration_days * DAY_SECONDS
    # Activity ranks are a random permutation, so heavy users are not the low user numbers.
    weights = (rng.permutation(n) + 1.0) ** -config.activity_exponent
    return Population(
        taste=taste,
        drift_slot=drift_slot,
        drifted=rng.dirichlet(alpha, n_moving).astype(np.float32),
        drift_time=config.start_timestamp + duration * rng.uniform(0.2, 0.8, n_moving),
        drift_width=max(duration * DRIFT_WIDTH_SHARE, 1.0),
        activity_cum=np.cumsum(weights) / weights.sum(),
        age_band=rng.integers(0, len(AGE_BANDS), n),
        country=rng.integers(0, len(COUNTRIES), n),
        has_text=rng.random(n) < config.user_text_probability,
    )


def user_records(population: Population) -> Iterator[dict[str, Any]]:
    """Yield one user dict per user, in user-number order.

    The optional text names the user's two strongest categories at the start, so it is true
    (if stale for users whose taste drifts later).
    """
    for index in range(population.taste.shape[0]):
        text = ""
        if population.has_text[index]:
            top = np.argsort(-population.taste[index], kind="stable")[:2]
            names = [category_words(int(c)).name for c in top]
            text = f"likes {names[0]} and {names[1]}" if len(names) > 1 else f"likes {names[0]}"
        yield {
            "user_id": f"u{index}",
            "properties": {
                "age_band": AGE_BANDS[int(population.age_band[index])],
                "country": COUNTRIES[int(population.country[index])],
            },
            "text": text,
        }
