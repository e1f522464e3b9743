"""Measured answers: the experiment's variant answers, and every served list is logged.

``Answering.serve`` is what the HTTP route and ``Engine.serve`` call: it finds the experiment
running over the scenario, the user's variant (a salted hash), answers with that variant's
settings (for an interleaved experiment: both variants' answers merged by team draft), and
records the list with its recommendation id, variant and model version (``Measurement``
stamps it with the log offset it follows).

>>> from freshrec import Engine
>>> with Engine.open(None) as engine:
...     _ = engine.upsert_items([{"item_id": "a"}, {"item_id": "b"}])
...     _ = engine.ingest([{"user_id": "u", "item_id": "a", "type": "click", "timestamp": 1}])
...     answer = engine.serve("v", n=2)
...     sorted(answer.to_dict())
['items', 'model_version', 'recommendation_id', 'scenario', 'variant']
"""

from __future__ import annotations

import random
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from freshrec.config import EngineConfig
from freshrec.measurement import exploration
from freshrec.measurement.experiments import INTERLEAVE, INTERLEAVED, ExperimentSpec
from freshrec.measurement.interleave import team_draft
from freshrec.measurement.lists import ServedList
from freshrec.measurement.service import Measurement
from freshrec.types import Categories, Recommendation

if TYPE_CHECKING:
    from freshrec.engine import Engine

# The largest pool a randomised answer draws from (the engine's largest answer).
MAX_POOL = 1_000
# Longer answers are never randomised: their propensities would cost the log's writer ~3 ms
# per 10 items of pool, and feeds of more than 20 are rarely shown whole.
MAX_EXPLORED_N = 20


def new_recommendation_id() -> str:
    """Return a unique, time-ordered id: 32 hex digits, milliseconds first.

    The first 12 digits are the unix time in milliseconds, so ids sort by creation time;
    the other 80 bits are random.

    >>> len(new_recommendation_id())
    32
    """
    return f"{time.time_ns() // 1_000_000:012x}{secrets.token_hex(10)}"


@dataclass(frozen=True, slots=True)
class Answer:
    """A served list: what ``GET /v1/recommendations/{user_id}`` returns.

    ``teams`` (interleaved experiments only): the variant that drafted each item.
    """

    recommendation_id: str
    scenario: str
    variant: str | None
    model_version: str
    items: list[Recommendation]
    teams: list[str] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The response body."""
        items = [r.to_dict() for r in self.items]
        if self.teams is not None:
            for item, team in zip(items, self.teams, strict=True):
                item["team"] = team
        return {
            "recommendation_id": self.recommendation_id,
            "scenario": self.scenario,
            "variant": self.variant,
            "model_version": self.model_version,
            "items": items,
        }


@dataclass(frozen=True, slots=True)
class Assignment:
    """Who answers a request: the experiment (None outside one) and the variant."""

    experiment: ExperimentSpec | None
    variant: str | None


NO_EXPERIMENT = Assignment(None, None)


class Drafted(NamedTuple):
    """An answer before it is logged.

    Its items, their teams (interleaving) and, for a randomised answer, the Plackett-Luce
    log-weights of its pool and the drawn positions (the log turns them into propensities).
    """

    items: list[Recommendation]
    teams: list[str] | None = None
    explored: tuple[exploration.FloatArray, exploration.IntArray] | None = None


class Answering:
    """Experiment-aware, logged answers over an engine.

    Args:
        engine: the engine that answers.
        measurement: where served lists go.
        clock: unix seconds (a simulator passes its own).
        seed: seed of the team-draft coin (None: from the OS).
    """

    def __init__(
        self,
        engine: Engine,
        measurement: Measurement,
        clock: Callable[[], float] = time.time,
        seed: int | None = None,
    ) -> None:
        self.engine = engine
        self.measurement = measurement
        self.clock = clock
        self.reseed(seed)
        wanted = engine.config.measurement
        self.exploration_share = wanted.exploration_share
        self._temperature = wanted.exploration_temperature
        self._pool = wanted.exploration_pool
        # Variant settings, built once per experiment (experiments are immutable).
        self._configs: dict[tuple[str, str], EngineConfig] = {}

    def reseed(self, seed: int | None) -> None:
        """Seed the team-draft coin and the exploration draws (a simulator's runs repeat)."""
        self._coin = random.Random(seed)
        self._explore_rng = np.random.default_rng(seed)

    def assign(self, user_id: str, scenario: str) -> Assignment:
        """The running experiment over ``scenario`` and the user's variant in it."""
        spec = self.measurement.running_for(scenario)
        if spec is None:
            return NO_EXPERIMENT
        return Assignment(spec, spec.variant_of(user_id))

    def config_of(self, spec: ExperimentSpec, variant: str) -> EngineConfig:
        """The settings a variant answers with."""
        key = (spec.name, variant)
        config = self._configs.get(key)
        if config is None:
            config = self.engine.config.merged(spec.variant(variant).settings)
            self._configs[key] = config
        return config

    def explores(self, assignment: Assignment, n: int) -> bool:
        """Whether this request gets a randomised answer.

        Never an interleaved one, nor one of more than ``MAX_EXPLORED_N`` items (the
        propensities' sampling grows with the pool).
        """
        if self.exploration_share <= 0 or n > MAX_EXPLORED_N:
            return False
        spec = assignment.experiment
        if spec is not None and spec.design == INTERLEAVE:
            return False
        return bool(self._explore_rng.random() < self.exploration_share)

    def items(
        self,
        user_id: str,
        n: int,
        scenario: str,
        exclude: Iterable[str] | None,
        category: Categories,
        assignment: Assignment,
        explore: bool = False,
    ) -> Drafted:
        """The answer of the assigned variant.

        Interleaved: with each item's team. ``explore``: a Plackett-Luce draw from the
        variant's ``exploration_pool`` times ``n`` best.
        """
        spec = assignment.experiment
        config = None
        if spec is not None and spec.design != INTERLEAVE:
            assert assignment.variant is not None
            config = self.config_of(spec, assignment.variant)
        if spec is None or spec.design != INTERLEAVE:
            if not explore:
                recs = self.engine.recommend(
                    user_id, n, scenario, exclude, category, answer_config=config
                )
                return Drafted(recs)
            pool = self.engine.recommend(
                user_id, min(self._pool * n, MAX_POOL), scenario, exclude, category,
                answer_config=config,
            )  # fmt: skip
            if not pool:
                return Drafted(pool)
            logits = exploration.logits_of(np.array([r.score for r in pool]), self._temperature)
            drawn = exploration.sample_order(logits, n, self._explore_rng)
            return Drafted([pool[i] for i in drawn.tolist()], None, (logits, drawn))
        ask = lambda name: self.engine.recommend(  # noqa: E731
            user_id, n, scenario, exclude, category, answer_config=self.config_of(spec, name)
        )
        first, second = (v.name for v in spec.variants)
        ours, theirs = ask(first), ask(second)
        by_team = {first: {r.item_id: r for r in ours}, second: {r.item_id: r for r in theirs}}
        merged = team_draft(
            [r.item_id for r in ours],
            [r.item_id for r in theirs],
            n,
            first,
            second,
            lambda: self._coin.random() < 0.5,
        )
        # Each item with its score and reasons from the ranking that drafted it.
        recs = [by_team[team][item_id] for item_id, team in merged]
        return Drafted(recs, [team for _, team in merged])

    def record(
        self,
        user_id: str,
        scenario: str,
        assignment: Assignment,
        model_version: str,
        item_ids: tuple[str, ...],
        scores: tuple[float, ...],
        teams: tuple[str, ...] | None,
        latency_ms: float | None,
        at: float | None = None,
        explored: tuple[exploration.FloatArray, exploration.IntArray] | None = None,
    ) -> str:
        """Log a served list; return its new recommendation id."""
        recommendation_id = new_recommendation_id()
        spec = assignment.experiment
        served = ServedList(
            recommendation_id,
            user_id,
            scenario,
            None if spec is None else spec.name,
            assignment.variant,
            model_version,
            self.clock() if at is None else at,
            0,  # stamped by ``Measurement.record`` with the last attributed offset
            item_ids,
            scores,
            teams=teams,
        )
        self.measurement.record(served, latency_ms, explored)
        return recommendation_id

    def serve(
        self,
        user_id: str,
        n: int = 10,
        scenario: str = "home",
        exclude: Iterable[str] | None = None,
        category: Categories = None,
        at: float | None = None,
    ) -> Answer:
        """Answer, log and return the list (see the module docstring)."""
        started = time.perf_counter()
        assignment = self.assign(user_id, scenario)
        model_version = self.engine.model_version
        recs, teams, explored = self.items(
            user_id, n, scenario, exclude, category, assignment, self.explores(assignment, n)
        )
        latency_ms = (time.perf_counter() - started) * 1000.0
        recommendation_id = self.record(
            user_id,
            scenario,
            assignment,
            model_version,
            tuple(r.item_id for r in recs),
            tuple(r.score for r in recs),
            None if teams is None else tuple(teams),
            latency_ms,
            at,
            explored,
        )
        variant = INTERLEAVED if teams is not None else assignment.variant
        return Answer(recommendation_id, scenario, variant, model_version, recs, teams)
