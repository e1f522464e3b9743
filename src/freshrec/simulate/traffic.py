"""Synthetic traffic: sessions of view → click → like/cart → purchase, in timestamp order.

Work is done in numpy chunks of sessions. A session starts on a clock that advances with
the number of items viewed, so the next chunk never starts before the current one's
boundary: events before it are final and are emitted, later ones wait for the next chunk.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from freshrec.simulate.catalogue import ItemSampler

if TYPE_CHECKING:
    from freshrec.simulate.catalogue import Catalogue
    from freshrec.simulate.population import Population
    from freshrec.simulate.shop import ShopConfig

EVENT_TYPES = ("view", "click", "like", "dislike", "cart", "purchase", "rating")
VIEW, CLICK, LIKE, DISLIKE, CART, PURCHASE, RATING = range(len(EVENT_TYPES))
DAY_SECONDS = 86_400.0
# Events per viewed item on average under the funnel below; it sets the session clock so
# that n_events span about duration_days.
EVENTS_PER_VIEW = 1.65
# Chance that a viewed item is from the session's own category (a session has a topic).
SESSION_TOPIC_STICKINESS = 0.75
MEAN_SECONDS_BETWEEN_VIEWS = 45.0
CHUNK_EVENTS = 250_000


@dataclass(frozen=True, slots=True)
class EventColumns:
    """A chunk of events as columns; together the chunks are in timestamp order.

    Attributes:
        user: user number (``"u{n}"``), shape [n], int64.
        item: item number (``"i{n}"``), shape [n], int64.
        type: index into ``EVENT_TYPES``, shape [n], int8.
        timestamp: unix seconds, shape [n], int64, non-decreasing within and across chunks.
        value: the rating for ``rating`` events, NaN otherwise, shape [n], float32.
    """

    user: np.ndarray
    item: np.ndarray
    type: np.ndarray
    timestamp: np.ndarray
    value: np.ndarray

    def __len__(self) -> int:
        return int(self.user.size)

    def take(self, index: np.ndarray | slice) -> EventColumns:
        """Return the rows selected by ``index`` (an index array or a slice)."""
        return EventColumns(*(column[index] for column in self._columns()))

    def _columns(self) -> tuple[np.ndarray, ...]:
        return (self.user, self.item, self.type, self.timestamp, self.value)

    @staticmethod
    def concat(parts: list[EventColumns]) -> EventColumns:
        """Return the rows of ``parts`` one after the other."""
        columns = zip(*(part._columns() for part in parts), strict=True)
        return EventColumns(*(np.concatenate(column) for column in columns))


def simulate_traffic(
    config: ShopConfig, catalogue: Catalogue, population: Population, seed: np.random.SeedSequence
) -> Iterator[EventColumns]:
    """Yield exactly ``config.n_events`` events in chunks, in non-decreasing timestamp order.

    Timestamps are float seconds internally (so a click sorts after its view) and floored to
    whole seconds on the way out. Deterministic for ``seed``.
    """
    rng = np.random.default_rng(seed)
    sampler = ItemSampler(catalogue, config.n_categories)
    views_total = max(config.n_events / EVENTS_PER_VIEW, 1.0)
    seconds_per_view = config.duration_days * DAY_SECONDS / views_total
    sessions_per_chunk = max(int(CHUNK_EVENTS / (EVENTS_PER_VIEW * config.session_length_mean)), 1)
    views_so_far, generated, emitted = 0, 0, 0
    pending: EventColumns | None = None
    while emitted < config.n_events:
        parts = [] if pending is None else [pending]
        boundary = np.inf
        if generated < config.n_events:
            lengths = 1 + rng.poisson(config.session_length_mean - 1.0, sessions_per_chunk)
            clock = config.start_timestamp + views_so_far * seconds_per_view
            starts = clock + (np.cumsum(lengths) - lengths) * seconds_per_view
            chunk = _sessions(lengths, starts, population, sampler, config, rng)
            views_so_far += int(lengths.sum())
            generated += len(chunk)
            parts.append(chunk)
            boundary = config.start_timestamp + views_so_far * seconds_per_view
        ready, pending = _release(parts, boundary, config.n_events - emitted)
        emitted += len(ready)
        if len(ready):
            yield ready


def _release(
    parts: list[EventColumns], boundary: float, remaining: int
) -> tuple[EventColumns, EventColumns]:
    """Split pending and fresh events into those final before ``boundary`` and the rest.

    The final ones are sorted, capped at ``remaining`` and get whole-second timestamps.
    """
    pool = EventColumns.concat(parts) if len(parts) > 1 else parts[0]
    pool = pool.take(np.argsort(pool.timestamp, kind="stable"))
    cut = int(np.searchsorted(pool.timestamp, boundary, side="left"))
    ready = pool.take(slice(0, min(cut, remaining)))
    floored = np.floor(ready.timestamp).astype(np.int64)
    ready = EventColumns(ready.user, ready.item, ready.type, floored, ready.value)
    return ready, pool.take(slice(cut, None))


def _sessions(
    lengths: np.ndarray,
    starts: np.ndarray,
    population: Population,
    sampler: ItemSampler,
    config: ShopConfig,
    rng: np.random.Generator,
) -> EventColumns:
    """Events of one chunk of sessions, unsorted, with float timestamps."""
    n_sessions = lengths.size
    users = population.pick_users(n_sessions, rng)
    taste = population.taste_at(users, starts)
    topic = _draw_categories(taste, rng)
    session = np.repeat(np.arange(n_sessions), lengths)
    # Most views follow the session's topic; some roam the user's taste, a few explore.
    category = np.where(
        rng.random(session.size) < SESSION_TOPIC_STICKINESS,
        topic[session],
        _draw_categories(taste[session], rng),
    )
    explore = rng.random(session.size) < config.explore_probability
    category[explore] = rng.integers(0, config.n_categories, int(explore.sum()))
    firsts = np.cumsum(lengths) - lengths
    gaps = rng.exponential(MEAN_SECONDS_BETWEEN_VIEWS, session.size)
    gaps[firsts] = 0.0  # each session opens with its first view at its start time
    elapsed = np.cumsum(gaps)
    times = starts[session] + elapsed - elapsed[firsts][session]
    items = sampler.sample(category, times, rng)
    # Affinity in [0, 1]: how much the user likes this category relative to their favourite.
    affinity = taste[session, category] / taste.max(axis=1)[session]
    return _funnel(users[session], items, times, affinity, rng)


def _draw_categories(taste: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One category per taste row, drawn with the row's weights, shape [rows], int64."""
    cumulative = np.cumsum(taste, axis=1)
    drawn = rng.random(taste.shape[0]) * cumulative[:, -1]
    picked = (cumulative < drawn[:, None]).sum(axis=1)
    result: np.ndarray = np.minimum(picked, taste.shape[1] - 1)
    return result


CLICK_AFTER_VIEW_SHARE = 0.5


def _funnel(
    users: np.ndarray,
    items: np.ndarray,
    times: np.ndarray,
    affinity: np.ndarray,
    rng: np.random.Generator,
) -> EventColumns:
    """Expand views into the funnel; liked categories click, cart and buy more often."""
    n = users.size
    draw = rng.random((7, n))
    click = draw[0] < 0.10 + 0.40 * affinity
    like = click & (draw[1] < 0.05 + 0.35 * affinity)
    cart = click & (draw[2] < 0.05 + 0.30 * affinity)
    purchase = cart & (draw[3] < 0.30 + 0.40 * affinity)
    dislike = ~click & (draw[4] < 0.12 * (1.0 - affinity))
    rating = click & (draw[5] < 0.10)
    # Half the clicks come straight from a list (feed, search results): no item-page view is
    # logged before them, as in real click logs. Without this every positive would follow a
    # view of the same item and a prequential replay would have nothing to evaluate.
    view_logged = ~click | (draw[6] < CLICK_AFTER_VIEW_SHARE)
    click_at = times + rng.uniform(2.0, 20.0, n)
    cart_at = click_at + rng.uniform(5.0, 90.0, n)
    stages = (
        (VIEW, view_logged, times),
        (CLICK, click, click_at),
        (LIKE, like, click_at + rng.uniform(2.0, 30.0, n)),
        (DISLIKE, dislike, times + rng.uniform(2.0, 20.0, n)),
        (CART, cart, cart_at),
        (PURCHASE, purchase, cart_at + rng.uniform(30.0, 600.0, n)),
        (RATING, rating, click_at + rng.uniform(10.0, 180.0, n)),
    )
    stars = np.clip(np.rint(1.0 + 4.0 * affinity + rng.normal(0.0, 0.6, n)), 1, 5)
    parts = [
        EventColumns(
            users[mask],
            items[mask],
            np.full(int(mask.sum()), code, dtype=np.int8),
            at[mask],
            (stars[mask] if code == RATING else np.full(int(mask.sum()), np.nan)).astype(
                np.float32
            ),
        )
        for code, mask, at in stages
    ]
    return EventColumns.concat(parts)
