"""Measured answers: the experiment's variant answers, and every served list is logged.

``Answering.serve`` is what the HTTP route and ``Engine.serve`` call: it finds the experiment
running over the scenario, the user's variant (a salted hash), answers with that variant's
settings (for an interleaved experiment: both variants' answers merged by team draft), and
records the list with its recommendation id, variant, model version and log offset.

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
from typing import TYPE_CHECKING, Any

from freshrec.config import EngineConfig
from freshrec.measurement.experiments import INTERLEAVE, INTERLEAVED, ExperimentSpec, variant_config
from freshrec.measurement.interleave import team_draft
from freshrec.measurement.lists import ServedList
from freshrec.measurement.service import Measurement
from freshrec.types import Recommendation

if TYPE_CHECKING:
    from freshrec.engine import Engine


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
        self._coin = random.Random(seed)
        # Variant settings, built once per experiment (experiments are immutable).
        self._configs: dict[tuple[str, str], EngineConfig] = {}

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
            config = variant_config(self.engine.config, spec.variant(variant).settings)
            self._configs[key] = config
        return config

    def items(
        self,
        user_id: str,
        n: int,
        scenario: str,
        exclude: Iterable[str] | None,
        category: str | None,
        assignment: Assignment,
    ) -> tuple[list[Recommendation], list[str] | None]:
        """The answer of the assigned variant (and, interleaved, each item's team)."""
        spec = assignment.experiment
        if spec is None:
            return self.engine.recommend(user_id, n, scenario, exclude, category), None
        ask = lambda name: self.engine.recommend(  # noqa: E731
            user_id, n, scenario, exclude, category, answer_config=self.config_of(spec, name)
        )
        if spec.design != INTERLEAVE:
            assert assignment.variant is not None
            return ask(assignment.variant), None
        first, second = (v.name for v in spec.variants)
        ours, theirs = ask(first), ask(second)
        by_id = {r.item_id: r for r in theirs} | {r.item_id: r for r in ours}
        merged = team_draft(
            [r.item_id for r in ours],
            [r.item_id for r in theirs],
            n,
            first,
            second,
            lambda: self._coin.random() < 0.5,
        )
        return [by_id[item_id] for item_id, _ in merged], [team for _, team in merged]

    def record(
        self,
        user_id: str,
        scenario: str,
        assignment: Assignment,
        model_version: str,
        offset: int,
        item_ids: tuple[str, ...],
        scores: tuple[float, ...],
        teams: tuple[str, ...] | None,
        latency_ms: float | None,
        at: float | None = None,
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
            offset,
            item_ids,
            scores,
            teams=teams,
        )
        self.measurement.record(served, latency_ms)
        return recommendation_id

    def serve(
        self,
        user_id: str,
        n: int = 10,
        scenario: str = "home",
        exclude: Iterable[str] | None = None,
        category: str | None = None,
        at: float | None = None,
    ) -> Answer:
        """Answer, log and return the list (see the module docstring)."""
        started = time.perf_counter()
        assignment = self.assign(user_id, scenario)
        model_version, offset = self.engine.model_version, self.engine.applied_offset
        recs, teams = self.items(user_id, n, scenario, exclude, category, assignment)
        latency_ms = (time.perf_counter() - started) * 1000.0
        recommendation_id = self.record(
            user_id,
            scenario,
            assignment,
            model_version,
            offset,
            tuple(r.item_id for r in recs),
            tuple(r.score for r in recs),
            None if teams is None else tuple(teams),
            latency_ms,
            at,
        )
        variant = INTERLEAVED if teams is not None else assignment.variant
        return Answer(recommendation_id, scenario, variant, model_version, recs, teams)
