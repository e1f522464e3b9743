"""The synthetic catalogue: categories, creation times, popularity and descriptive text."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from freshrec.simulate.vocabulary import BRANDS, category_words, indefinite_article

if TYPE_CHECKING:
    from freshrec.simulate.shop import ShopConfig

DAY_SECONDS = 86_400.0
# Column meaning of ``Catalogue.words``: which adjective, second adjective, noun and use.
ADJECTIVE, ADJECTIVE_2, NOUN, USE = range(4)


@dataclass(frozen=True, slots=True)
class Catalogue:
    """Item attributes as arrays indexed by item number (item ``n`` is ``"i{n}"``).

    Attributes:
        category: main category per item, shape [n_items], int32.
        second_category: a second category or -1, shape [n_items], int32.
        created_at: unix seconds, shape [n_items], int64, non-decreasing in the item number.
        popularity: sampling weight within the item's category, shape [n_items], float64.
        words: word choices (see ``ADJECTIVE`` ...), shape [n_items, 4], int64.
        brand: index into ``BRANDS``, shape [n_items], int64.
        price: shape [n_items], float64, two decimals.
    """

    category: np.ndarray
    second_category: np.ndarray
    created_at: np.ndarray
    popularity: np.ndarray
    words: np.ndarray
    brand: np.ndarray
    price: np.ndarray


def build_catalogue(config: ShopConfig, rng: np.random.Generator) -> Catalogue:
    """Draw a catalogue for ``config``; every category has an item older than the start."""
    n, n_cat = config.n_items, config.n_categories
    n_new = min(round(n * config.new_item_fraction), n - n_cat)
    start = config.start_timestamp
    old = start - rng.random(n - n_new) * config.catalogue_age_days * DAY_SECONDS
    new = start + rng.random(n_new) * config.duration_days * DAY_SECONDS
    created_at = np.sort(np.floor(np.concatenate([old, new]))).astype(np.int64)
    # The n_cat oldest items cover every category, so no category is ever empty in time.
    category = np.concatenate([rng.permutation(n_cat), rng.integers(0, n_cat, n - n_cat)])
    second = rng.integers(0, n_cat, n)
    has_second = (rng.random(n) < config.second_category_probability) & (second != category)
    base_price = 5.0 + 95.0 * rng.random(n_cat)
    price = np.round(base_price[category] * rng.lognormal(0.0, 0.5, n), 2)
    return Catalogue(
        category=category.astype(np.int32),
        second_category=np.where(has_second, second, -1).astype(np.int32),
        created_at=created_at,
        popularity=_popularity(category, config.popularity_exponent, rng),
        words=rng.integers(0, 1 << 30, (n, 4)),
        brand=rng.integers(0, len(BRANDS), n),
        price=price,
    )


def _popularity(category: np.ndarray, exponent: float, rng: np.random.Generator) -> np.ndarray:
    """Zipf weights by a random rank within each category: a few hits, a long tail."""
    order = np.lexsort((rng.random(category.size), category))
    sorted_cat = category[order]
    rank = np.empty(category.size, dtype=np.float64)
    rank[order] = np.arange(category.size) - np.searchsorted(sorted_cat, sorted_cat)
    weights: np.ndarray = (rank + 1.0) ** -exponent
    return weights


class ItemSampler:
    """Draws items of given categories by popularity, among those created by a given time."""

    def __init__(self, catalogue: Catalogue, n_categories: int) -> None:
        created = catalogue.created_at
        self._base = int(created.min())
        # One sorted key per item, (category, created_at), so "items of category c created by
        # t" is a prefix of c's block found with one searchsorted.
        self._span = int(created.max()) - self._base + 1
        self._order = np.lexsort((created, catalogue.category))
        sorted_cat = catalogue.category[self._order].astype(np.int64)
        self._keys = sorted_cat * self._span + (created[self._order] - self._base)
        self._cum = np.cumsum(catalogue.popularity[self._order])
        self._first = np.searchsorted(sorted_cat, np.arange(n_categories))

    def sample(
        self, categories: np.ndarray, times: np.ndarray, rng: np.random.Generator
    ) -> np.ndarray:
        """Return item numbers, shape like ``categories``, int64; each created by its time."""
        offset = np.clip(np.floor(times).astype(np.int64) - self._base, 0, self._span - 1)
        ends = np.searchsorted(self._keys, categories * self._span + offset, side="right")
        starts = self._first[categories]
        low = np.where(starts > 0, self._cum[np.maximum(starts - 1, 0)], 0.0)
        high = self._cum[ends - 1]
        drawn = low + rng.random(categories.size) * (high - low)
        position = np.clip(np.searchsorted(self._cum, drawn, side="right"), starts, ends - 1)
        items: np.ndarray = self._order[position]
        return items


def item_records(catalogue: Catalogue) -> Iterator[dict[str, Any]]:
    """Yield one item dict per item, in item-number (creation) order.

    Titles and texts are built from the category's words, so text predicts the category.
    """
    for index in range(catalogue.category.size):
        main = category_words(int(catalogue.category[index]))
        choice = catalogue.words[index]
        adjective = main.adjectives[choice[ADJECTIVE] % len(main.adjectives)]
        # Offset by 1 .. len-1 so the two adjectives always differ.
        shift = 1 + choice[ADJECTIVE_2] % (len(main.adjectives) - 1)
        adjective_2 = main.adjectives[(choice[ADJECTIVE] + shift) % len(main.adjectives)]
        noun = main.nouns[choice[NOUN] % len(main.nouns)]
        use = main.uses[choice[USE] % len(main.uses)]
        brand = BRANDS[int(catalogue.brand[index])]
        article = indefinite_article(adjective).capitalize()
        text = f"{article} {adjective} {noun} by {brand}, {adjective_2} and made for {use}."
        categories = [main.name]
        second_index = int(catalogue.second_category[index])
        if second_index >= 0:
            second = category_words(second_index)
            categories.append(second.name)
            text += f" Pairs well with any {second.nouns[choice[NOUN] % len(second.nouns)]}."
        yield {
            "item_id": f"i{index}",
            "title": f"{brand} {adjective} {noun}",
            "text": text,
            "categories": categories,
            "properties": {"price": float(catalogue.price[index]), "brand": brand},
            "created_at": int(catalogue.created_at[index]),
        }
