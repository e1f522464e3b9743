"""A closed loop for online experiments: a synthetic shop's users react to the engine's answers.

The shop's users, with their hidden and drifting tastes, ask for recommendations one request
at a time (drawn by the shop's activity), are shown the answer and click or buy according to
``ChoiceModel`` (position-biased, see ``freshrec.simulate.choice``), not according to the
engine's model. Their events go back to the engine, which learns from them before the next
request: the loop that A/B tests and interleaving run in. What really happened is kept in
``ClosedLoopShop.truth`` (every click and purchase with its list and position) and
``expected_ctr`` gives the exact expectation of a list, so estimators can be checked.

Randomness comes from four streams of ``seed``: the hidden appeal, the sequence of users, the
reactions and the users' click propensities. Two loops with the same seed ask the same users
at the same times, and, when shown lists of the same length, draw the same random numbers for
them: paired arms of an experiment differ only by what they show (common random numbers).

Example:
    >>> from freshrec.simulate import ShopConfig, SyntheticShop
    >>> loop = ClosedLoopShop(SyntheticShop(ShopConfig(n_users=50, n_items=60, n_events=0)), 1)
    >>> popular = {"recommendation_id": "r", "items": [{"item_id": f"i{n}"} for n in range(10)]}
    >>> summary = run_loop(loop, lambda user_id: popular, lambda events: None, requests=200)
    >>> summary.requests, summary.shown, summary.clicks == len(loop.truth) - summary.purchases
    (200, 2000, True)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from itertools import takewhile
from typing import Any, NamedTuple

import numpy as np

from freshrec.simulate.choice import (
    ChoiceModel,
    ItemRows,
    build_item_table,
    click_probabilities,
    expected_clicks,
    purchase_probability,
    sample_clicks,
)
from freshrec.simulate.shop import ShopConfig, SyntheticShop

DAY_SECONDS = 86_400.0
# Users are drawn this many at a time: one numpy call instead of one per request.
USER_BLOCK = 4_096

Event = dict[str, Any]


class Outcome(NamedTuple):
    """One click or purchase that happened in the loop (the ground truth of attribution).

    ``position`` is 0-based in the shown list; ``value`` is the revenue of a purchase (0.0
    for a click); ``team`` is the shown item's ``team`` (interleaving) or None.
    """

    recommendation_id: str | None
    variant: str | None
    position: int
    item_id: str
    type: str
    value: float
    team: str | None


@dataclass(slots=True)
class LoopSummary:
    """Counts of one ``run_loop``: totals, and the same per ``variant`` of the answers."""

    requests: int = 0
    shown: int = 0
    clicks: int = 0
    purchases: int = 0
    revenue: float = 0.0
    by_variant: dict[str | None, LoopSummary] = field(default_factory=dict)

    @property
    def ctr(self) -> float:
        """Clicks per shown item (0.0 when nothing was shown)."""
        return self.clicks / self.shown if self.shown else 0.0

    def add(self, shown: int, events: list[Event]) -> None:
        """Count one request that showed ``shown`` items and got ``events`` back."""
        self.requests += 1
        self.shown += shown
        for event in events:
            if event["type"] == "click":
                self.clicks += 1
            else:
                self.purchases += 1
                self.revenue += event["value"]


class ClosedLoopShop:
    """Users of a ``SyntheticShop`` asking for, and reacting to, recommendations.

    Args:
        shop: whose users, items, prices and tastes act.
        seed: seed of the appeal, the users and the reactions.
        choice: how users react to a list.
        seconds_per_request: simulated seconds between two requests.
        start: simulated unix time just before the first request; default a second after
            the shop's last event (found by generating the log once per shop config; the
            end of its period when it has no events), when every drift is over. Start inside
            the period to have tastes drift during the loop, and load ``history()`` (the
            log before ``start``).

    Attributes:
        truth: every click and purchase so far, by list, then position (a purchase right
            after its click).
    """

    def __init__(
        self,
        shop: SyntheticShop,
        seed: int,
        choice: ChoiceModel = ChoiceModel(),  # noqa: B008 (frozen, so sharing it is safe)
        seconds_per_request: float = 30.0,
        start: float | None = None,
    ) -> None:
        if not seconds_per_request > 0:
            raise ValueError("seconds_per_request must be positive")
        config = shop.config
        self.shop = shop
        self.choice = choice
        self.seconds_per_request = seconds_per_request
        self.start = _log_end(shop) if start is None else float(start)
        self.truth: list[Outcome] = []
        # A fourth child leaves the first three (and every run before propensities) as they were.
        appeal_seed, users_seed, react_seed, traits_seed = np.random.SeedSequence(seed).spawn(4)
        self._table = build_item_table(shop, choice, np.random.default_rng(appeal_seed))
        self._propensity: list[float] = choice.propensities(
            config.n_users, np.random.default_rng(traits_seed)
        ).tolist()
        self._rows = ItemRows.of(self._table)
        self._users_rng = np.random.default_rng(users_seed)
        self._rng = np.random.default_rng(react_seed)
        self._index = {f"i{n}": n for n in range(config.n_items)}
        self._exam = choice.examination(64)
        self._exam_list: list[float] = self._exam.tolist()
        self._pending: list[int] = []
        self._requests = 0
        # Relative taste rows of users whose taste never drifts; the two rows and the
        # midpoint of the move of those whose taste does.
        self._tastes: dict[int, list[float]] = {}
        self._moves: dict[int, tuple[list[float], list[float], float]] = {}

    @property
    def now(self) -> float:
        """The unix time of the latest request (``start`` before the first)."""
        return self.start + self._requests * self.seconds_per_request

    def history(self) -> Iterator[Event]:
        """Yield the shop's own events before ``start`` (load them before the loop runs).

        With the default ``start`` that is all of ``shop.events()``.
        """
        return takewhile(lambda event: event["timestamp"] < self.start, self.shop.events())

    def next_request(self) -> tuple[str, float]:
        """Return the next user to ask (drawn by activity) and the request's unix time."""
        if not self._pending:
            drawn = self.shop.population.pick_users(USER_BLOCK, self._users_rng)
            self._pending = drawn[::-1].tolist()
        self._requests += 1
        return f"u{self._pending.pop()}", self.now

    def react(self, user_id: str, body: Mapping[str, Any], at: float) -> list[Event]:
        """Return the events ``user_id`` sends after being shown ``body`` at time ``at``.

        Args:
            user_id: one of the shop's users.
            body: a recommendation answer, ``{"recommendation_id", "variant", "items":
                [{"item_id", "score", "why", "team"?}, ...]}``, best first.
            at: simulated unix time the list is shown.

        Returns:
            In time order, at most ``max_clicks`` clicks on items of the list (never on items
            the shop does not know) and the purchases that follow some of them: dicts of
            ``user_id``, ``item_id``, ``type`` ("click" or "purchase"), ``timestamp`` and
            ``recommendation_id`` (when the body has one); purchases carry ``value``, the
            item's price. Each is also appended to ``truth``.

        Raises:
            KeyError: ``user_id`` is not one of the shop's users.
        """
        entries = body.get("items") or ()
        n = len(entries)
        relative = self._relative_taste(user_id, at)
        propensity = self._propensity[int(user_id[1:])]  # a known user: checked just above
        # Drawn whatever the list holds, so paired loops stay in step (common random numbers).
        draws = self._rng.random(2 * n).tolist()
        self._examination(n)  # grows the cached list for long lists
        index = self._index
        items = [index.get(entry["item_id"], -1) for entry in entries]
        choice = self.choice
        clicks = sample_clicks(
            choice, self._rows, relative, items, self._exam_list, draws, at, propensity
        )
        if not clicks:
            return []
        recommendation_id = body.get("recommendation_id")
        variant = body.get("variant")
        events: list[Event] = []
        for order, (position, item, fit) in enumerate(clicks):
            entry = entries[position]
            item_id, team = entry["item_id"], entry.get("team")
            stamp = at + (order + 1) * choice.click_delay_seconds
            events.append(_event(user_id, item_id, "click", stamp, recommendation_id))
            self.truth.append(
                Outcome(recommendation_id, variant, position, item_id, "click", 0.0, team)
            )
            if draws[n + position] < purchase_probability(choice, self._table, fit, item):
                value = float(self._table.price[item])
                stamp += choice.purchase_delay_seconds
                bought = _event(user_id, item_id, "purchase", stamp, recommendation_id)
                bought["value"] = value
                events.append(bought)
                self.truth.append(
                    Outcome(recommendation_id, variant, position, item_id, "purchase", value, team)
                )
        events.sort(key=lambda event: event["timestamp"])
        return events

    def expected_ctr(self, user_id: str, item_ids: list[str], at: float) -> float:
        """Return the exact expected clicks per shown item of ``item_ids`` shown at ``at``.

        The expectation of ``react``'s clicks divided by ``len(item_ids)`` (0.0 for an
        empty list), with position bias and the ``max_clicks`` stop. Raises ``KeyError``
        for an unknown user.
        """
        n = len(item_ids)
        if n == 0:
            return 0.0
        idx = np.array([self._index.get(item_id, -1) for item_id in item_ids], dtype=np.int64)
        relative = np.array(self._relative_taste(user_id, at))
        propensity = self._propensity[int(user_id[1:])]
        chances = click_probabilities(self.choice, self._table, relative, idx, at, propensity)
        return expected_clicks(self._examination(n) * chances, self.choice.max_clicks) / n

    def best_items(self, user_id: str, n: int, at: float) -> list[str]:
        """Return the ``n`` items ``user_id`` is likeliest to click at ``at``, best first.

        The oracle list under the hidden taste and appeal; only items created by ``at``.
        Raises ``KeyError`` for an unknown user.
        """
        idx = np.arange(self.shop.config.n_items)
        relative = np.array(self._relative_taste(user_id, at))
        chances = click_probabilities(self.choice, self._table, relative, idx, at)
        top = np.argsort(-chances, kind="stable")[: min(n, int((chances > 0).sum()))]
        return [f"i{item}" for item in top.tolist()]

    def _examination(self, n: int) -> np.ndarray:
        if n > self._exam.size:
            self._exam = self.choice.examination(2 * n)
            self._exam_list = self._exam.tolist()
        return self._exam[:n]

    def _relative_taste(self, user_id: str, at: float) -> list[float]:
        """The user's taste at ``at`` over their favourite: ``n_categories + 1`` floats.

        The extra last entry is 0: the category of "no category" and of unknown items.
        Plain lists, because numpy calls on rows of twenty cost more than the arithmetic.
        """
        digits = user_id[1:]
        user = int(digits) if user_id.startswith("u") and digits.isdigit() else -1
        if not 0 <= user < self.shop.config.n_users:
            raise KeyError(user_id)
        cached = self._tastes.get(user)
        if cached is not None:
            return cached
        population = self.shop.population
        slot = int(population.drift_slot[user])
        if slot < 0:
            self._tastes[user] = relative = _relative(population.taste[user].tolist())
            return relative
        moves = self._moves.get(user)
        if moves is None:
            old, new = population.taste[user].tolist(), population.drifted[slot].tolist()
            moves = self._moves[user] = (old, new, float(population.drift_time[slot]))
        old, new, middle = moves
        # Population.taste_at's mix written out for one user (taste_at costs ~100 µs a call).
        scaled = (at - middle) / population.drift_width
        share = 1.0 / (1.0 + math.exp(-min(max(scaled, -50.0), 50.0)))
        return _relative([(1.0 - share) * a + share * b for a, b in zip(old, new, strict=True)])


def run_loop(
    shop: ClosedLoopShop,
    answer: Callable[[str], Mapping[str, Any]],
    send: Callable[[list[Event]], object],
    requests: int,
    on_request: Callable[[int], None] | None = None,
) -> LoopSummary:
    """Run ``requests`` requests: ask ``answer``, let the user react, ``send`` the events.

    Args:
        shop: the users.
        answer: returns the recommendation body for a user id (see ``ClosedLoopShop.react``).
        send: receives each request's events, in time order; not called when there are none.
        requests: how many requests to run.
        on_request: called with the request's number (0-based) after its events were sent.

    Returns:
        The counts of the run, overall and per ``variant`` of the bodies.
    """
    summary = LoopSummary()
    for number in range(requests):
        user_id, at = shop.next_request()
        body = answer(user_id)
        events = shop.react(user_id, body, at)
        if events:
            send(events)
        shown = len(body.get("items") or ())
        summary.add(shown, events)
        variant = body.get("variant")
        summary.by_variant.setdefault(variant, LoopSummary()).add(shown, events)
        if on_request is not None:
            on_request(number)
    return summary


# The shop is a pure function of its config, so the end of its log is too: a benchmark of
# many seeded loops over one shop generates the log's timestamps once, not once per loop.
_LOG_ENDS: dict[ShopConfig, float] = {}


def _log_end(shop: SyntheticShop) -> float:
    """A second after the shop's last event, or the end of its period when it has none."""
    config = shop.config
    end = _LOG_ENDS.get(config)
    if end is None:
        end = config.start_timestamp + config.duration_days * DAY_SECONDS
        for chunk in shop.events_arrays():
            end = float(chunk.timestamp[-1]) + 1.0
        _LOG_ENDS[config] = end
    return end


def _relative(taste: list[float]) -> list[float]:
    top = max(taste)
    return [weight / top for weight in taste] + [0.0]


def _event(
    user_id: str, item_id: str, kind: str, stamp: float, recommendation_id: str | None
) -> Event:
    event: Event = {"user_id": user_id, "item_id": item_id, "type": kind, "timestamp": stamp}
    if recommendation_id is not None:
        event["recommendation_id"] = recommendation_id
    return event
