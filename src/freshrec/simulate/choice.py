"""The choice model of the closed-loop shop: which shown items a user examines, clicks and buys.

A user shown a list scans it top to bottom. Position ``k`` (0-based) is examined with

    examine(k) = (1 + k) ** -position_exponent

independently of the other positions (the position-based model), and an examined item is
clicked with

    click(u, i, t) = sigmoid(click_scale * affinity(u, i, t) + click_bias + propensity(u))
    affinity(u, i, t) = match(u, i, t) + appeal(i)
    match(u, i, t) = max(r_u(t)[main(i)], second_category_weight * r_u(t)[second(i)])

where ``r_u(t) = taste_u(t) / max(taste_u(t))`` is the user's hidden taste over categories at
simulated time ``t`` relative to their favourite (the shop's own ``Population.taste_at``, so
tastes drift exactly as the shop's do) and ``appeal(i)`` is a hidden quality of the item:
``appeal_sd * (rho * z(i) + sqrt(1 - rho ** 2) * noise(i))`` with ``z`` the standardised log
popularity of the item in the shop and ``rho = appeal_popularity_correlation``.
``propensity(u)`` is a hidden trait of the user, how readily they click anything:
``N(-s ** 2 / 2, s ** 2)`` with ``s = user_propensity_sd``, centred so that the mean odds
multiplier ``exp(propensity)`` is 1. The average click rate still falls a little, as a
chance is concave in the odds: at s = 1 by 1 % for a 0.7 % click, 9 % for a 7.6 % one; at
s = 1.5 by 4 % and 21 %. Real users differ this way (a few click a lot, most rarely); between-user
variance is what an A/B test over users pays for and interleaving cancels. Items not yet
created at ``t``, and items the shop does not know, are never clicked (they still take their
position). The user leaves after ``max_clicks`` clicks and has no memory: an item clicked or
bought before is as likely to be clicked again. A click becomes a purchase, worth the
item's price, with

    buy(u, i, t) = sigmoid(purchase_scale * affinity + purchase_bias
                           - price_sensitivity * ln(price(i) / median price))

Clicks are drawn position by position, so a list can get several (not a cascade that stops
at the first); the ``max_clicks`` stop makes the exact expectation a short recursion
(``expected_clicks``).

Defaults: exponent 1.0 (position 1 is examined half as often as position 0, position 9 a
tenth), click scale 2.5 and bias -5.0, second category weight 0.5, appeal sd 0.2 with
correlation 0.3, users alike in propensity (sd 0), at most 3 clicks; purchase scale 2.0,
bias -3.0, price sensitivity 0.5.
So an examined item of the user's favourite category with average appeal is clicked 7.6 %
of the time, one two sds more appealing 18 %, one of a category the user ignores 0.7 %; a
click on a favourite-category item of median price is bought 27 % of the time (21 % at twice
the median price), on an ignored category 4.7 %. In a shop of 300 users and 200 items the
oracle list (``ClosedLoopShop.best_items``) gets about 16 % at position 0 and 3.6 % per
shown item of ten, the 10 most popular items about 2-3 % and 0.6-0.8 %, random lists 1.7 %
and 0.5 %.

This is not the engine's model: the engine counts co-visits, factors events and follows
trends, knows nothing of positions, and never sees the hidden appeal (only the shop's past
log, whose item draws correlate with it through popularity) or tastes to come. The shop's
past log was itself drawn by a different funnel (``simulate.traffic``), linear in the match.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from freshrec.simulate.shop import SyntheticShop


@dataclass(frozen=True, slots=True)
class ChoiceModel:
    """Parameters of how simulated users react to a shown list (see the module docstring).

    Attributes:
        position_exponent: examination of position k (0-based) is ``(1 + k) ** -exponent``.
        click_scale: slope of the click logit in the affinity.
        click_bias: click logit at zero affinity.
        second_category_weight: how much an item's second category counts towards the match.
        appeal_sd: standard deviation of the hidden per-item appeal.
        appeal_popularity_correlation: correlation of appeal with the item's log popularity.
        user_propensity_sd: spread of the users' hidden click propensity (logit units).
        max_clicks: the user stops scanning after this many clicks.
        purchase_scale: slope of the purchase logit (after a click) in the affinity.
        purchase_bias: purchase logit at zero affinity and median price.
        price_sensitivity: purchase logit lost per unit of ln(price / median price).
        click_delay_seconds: a list's j-th click (0-based) is at ``at + (j + 1) * delay``.
        purchase_delay_seconds: a purchase follows its click by this long.
    """

    position_exponent: float = 1.0
    click_scale: float = 2.5
    click_bias: float = -5.0
    second_category_weight: float = 0.5
    appeal_sd: float = 0.2
    appeal_popularity_correlation: float = 0.3
    user_propensity_sd: float = 0.0
    max_clicks: int = 3
    purchase_scale: float = 2.0
    purchase_bias: float = -3.0
    price_sensitivity: float = 0.5
    click_delay_seconds: float = 5.0
    purchase_delay_seconds: float = 120.0

    def __post_init__(self) -> None:
        if min(self.position_exponent, self.appeal_sd, self.user_propensity_sd) < 0.0:
            raise ValueError("position_exponent, appeal_sd and user_propensity_sd must be >= 0")
        if self.max_clicks < 1:
            raise ValueError("max_clicks must be >= 1")
        if not 0.0 <= self.appeal_popularity_correlation <= 1.0:
            raise ValueError("appeal_popularity_correlation must be within [0, 1]")
        if not 0.0 <= self.second_category_weight <= 1.0:
            raise ValueError("second_category_weight must be within [0, 1]")

    def examination(self, n: int) -> np.ndarray:
        """Return the examination probability of positions 0 .. n-1, shape [n], float64."""
        exam: np.ndarray = (1.0 + np.arange(n, dtype=np.float64)) ** -self.position_exponent
        return exam

    def propensities(self, n_users: int, rng: np.random.Generator) -> np.ndarray:
        """Draw every user's hidden click propensity, shape [n_users], float64 (zeros at sd 0)."""
        sd = self.user_propensity_sd
        drawn: np.ndarray = rng.normal(-sd * sd / 2.0, sd, n_users) if sd > 0 else np.zeros(n_users)
        return drawn


@dataclass(frozen=True, slots=True)
class ItemTable:
    """Per-item arrays the choice model reads, indexed by item number.

    Every array has one extra last row, a sentinel for items the shop does not know (index
    -1): it matches nothing and is never clicked.

    Attributes:
        main: main category, shape [n_items + 1], int64; the sentinel points at the
            zero column ``n_categories`` of a relative taste row.
        second: second category or ``n_categories`` (none), shape [n_items + 1], int64.
        appeal: hidden appeal, shape [n_items + 1], float64.
        click_base: ``click_scale * appeal + click_bias``, -inf for the sentinel, float64.
        purchase_base: purchase logit without the match term, shape [n_items + 1], float64.
        price: shape [n_items + 1], float64.
        created_at: unix seconds, +inf for the sentinel, shape [n_items + 1], float64.
    """

    main: np.ndarray
    second: np.ndarray
    appeal: np.ndarray
    click_base: np.ndarray
    purchase_base: np.ndarray
    price: np.ndarray
    created_at: np.ndarray


def build_item_table(
    shop: SyntheticShop, choice: ChoiceModel, rng: np.random.Generator
) -> ItemTable:
    """Draw the hidden appeal of ``shop``'s items and precompute the choice model's terms."""
    catalogue = shop.catalogue
    n_cat = shop.config.n_categories
    log_pop = np.log(catalogue.popularity)
    spread = log_pop.std()
    z = (log_pop - log_pop.mean()) / spread if spread > 0 else np.zeros_like(log_pop)
    rho = choice.appeal_popularity_correlation
    noise = rng.standard_normal(z.size)
    appeal = choice.appeal_sd * (rho * z + math.sqrt(1.0 - rho * rho) * noise)
    price = catalogue.price.astype(np.float64)
    median = float(np.median(price))
    price_term = -choice.price_sensitivity * np.log(np.maximum(price, 0.01) / max(median, 0.01))
    second = np.where(catalogue.second_category >= 0, catalogue.second_category, n_cat)
    return ItemTable(
        main=np.append(catalogue.category.astype(np.int64), n_cat),
        second=np.append(second.astype(np.int64), n_cat),
        appeal=np.append(appeal, 0.0),
        click_base=np.append(choice.click_scale * appeal + choice.click_bias, -np.inf),
        purchase_base=np.append(
            choice.purchase_scale * appeal + choice.purchase_bias + price_term, -np.inf
        ),
        price=np.append(price, 0.0),
        created_at=np.append(catalogue.created_at.astype(np.float64), np.inf),
    )


def match(
    choice: ChoiceModel, table: ItemTable, relative: np.ndarray, idx: np.ndarray
) -> np.ndarray:
    """Return how well items ``idx`` fit a relative taste row, shape like ``idx``, in [0, 1].

    ``relative`` is shape [n_categories + 1], float64, its last entry 0 (no category).
    """
    fit: np.ndarray = np.maximum(
        relative[table.main[idx]], choice.second_category_weight * relative[table.second[idx]]
    )
    return fit


def click_probabilities(
    choice: ChoiceModel,
    table: ItemTable,
    relative: np.ndarray,
    idx: np.ndarray,
    at: float,
    propensity: float = 0.0,
) -> np.ndarray:
    """Return the click probability of each item once examined at time ``at``, float64.

    ``propensity`` is the user's (``ChoiceModel.propensities``). Unknown items (``idx`` -1)
    and items created after ``at`` get 0.
    """
    logit = choice.click_scale * match(choice, table, relative, idx) + table.click_base[idx]
    logit += propensity
    logit[table.created_at[idx] > at] = -np.inf
    # exp(inf) is inf without a warning, so -inf logits give exactly 0.
    probability: np.ndarray = 1.0 / (1.0 + np.exp(-logit))
    return probability


@dataclass(frozen=True, slots=True)
class ItemRows:
    """The columns of an ``ItemTable`` that ``sample_clicks`` reads, as Python lists.

    For lists of ten, a Python loop over these is several times cheaper than numpy calls on
    ten-element arrays (each numpy call costs about a microsecond whatever its size).
    """

    main: list[int]
    second: list[int]
    click_base: list[float]
    created_at: list[float]

    @staticmethod
    def of(table: ItemTable) -> ItemRows:
        """Return the rows of ``table``."""
        return ItemRows(
            table.main.tolist(),
            table.second.tolist(),
            table.click_base.tolist(),
            table.created_at.tolist(),
        )


def sample_clicks(
    choice: ChoiceModel,
    rows: ItemRows,
    relative: list[float],
    items: list[int],
    examination: list[float],
    draws: list[float],
    at: float,
    propensity: float = 0.0,
) -> list[tuple[int, int, float]]:
    """Return the clicks on a shown list as ``(position, item, match)``, top first.

    Position ``k`` is clicked when ``draws[k] < examination[k] * click probability``
    (``click_probabilities``, one item at a time), until ``max_clicks`` clicks.

    Args:
        choice: the model.
        rows: the items' columns.
        relative: the user's relative taste row, ``n_categories + 1`` floats, the last 0.
        items: item number per position, -1 for items the shop does not know.
        examination: examination probability per position, at least ``len(items)``.
        draws: uniform draws in [0, 1), one per position at least.
        at: the unix time the list is shown.
        propensity: the user's click propensity (``ChoiceModel.propensities``).
    """
    weight, scale = choice.second_category_weight, choice.click_scale
    clicks: list[tuple[int, int, float]] = []
    for position, item in enumerate(items):
        if item < 0 or rows.created_at[item] > at:
            continue
        first, second = relative[rows.main[item]], weight * relative[rows.second[item]]
        fit = first if first > second else second
        logit = scale * fit + rows.click_base[item] + propensity
        # draw < exam * sigmoid(logit) without a division; below -700 exp would overflow
        # (and the chance is 0 in floating point anyway).
        if logit > -700.0 and draws[position] * (1.0 + math.exp(-logit)) < examination[position]:
            clicks.append((position, item, fit))
            if len(clicks) == choice.max_clicks:
                break
    return clicks


def purchase_probability(choice: ChoiceModel, table: ItemTable, fit: float, item: int) -> float:
    """Return the chance that a click on ``item`` with match ``fit`` becomes a purchase."""
    logit = choice.purchase_scale * fit + float(table.purchase_base[item])
    return 1.0 / (1.0 + math.exp(-logit))


def expected_clicks(click_chances: np.ndarray, max_clicks: int) -> float:
    """Return the exact expected number of clicks on a list, scanning stopped at ``max_clicks``.

    Args:
        click_chances: per position, the chance of a click were the user still scanning
            (examination times click probability), shape [n], float64.
        max_clicks: the user leaves after this many clicks.

    Example:
        >>> expected_clicks(np.array([0.5, 0.5]), max_clicks=1)
        0.75
    """
    # Distribution of the number of clicks so far over 0 .. max_clicks.
    state = np.zeros(max_clicks + 1)
    state[0] = 1.0
    total = 0.0
    for chance in click_chances.tolist():
        moved = state[:max_clicks] * chance
        total += float(moved.sum())
        state[:max_clicks] -= moved
        state[1:] += moved
    return total
