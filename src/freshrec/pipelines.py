"""Which blend answers a request: home, new users, fresh items, ranking, text search.

The engine owns the state and the lock; this module decides, per request, which sources
take part — the models' (co-visitation, factors, trending), and the ones that know a user
beyond their events: segment trending from their properties, and their position in content
space from their recent items and their own words.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from freshrec import answers, scenarios
from freshrec.config import EngineConfig
from freshrec.content.service import ContentService, Query
from freshrec.models.segments import SegmentTrending
from freshrec.scenarios import Blend, Candidates, ModelSet, Source
from freshrec.sources import Asker, blend_source, registry
from freshrec.state.fresh import FreshItems
from freshrec.state.online import OnlineState
from freshrec.types import User

Mask = npt.NDArray[np.bool_]
# Nominees of a configured source without candidate retrieval (whole-catalogue blends score
# every item anyway; the number only matters to a source's own propose).
MAX_NOMINEES = 100


class Pipelines:
    """Builds blends for the engine (called under the engine's lock)."""

    def __init__(
        self,
        config: EngineConfig,
        state: OnlineState,
        content: ContentService,
        segments: SegmentTrending,
        fresh: FreshItems,
    ) -> None:
        self.config = config
        self.state = state
        self.content = content
        self.segments = segments
        self.fresh = fresh
        self.profiles: dict[str, User] = {}  # users who told us something about themselves

    def with_config(self, config: EngineConfig) -> Pipelines:
        """These pipelines answering with another config's blend and scenario settings.

        The state, content, segments, fresh items and stated profiles are shared (not
        copied): an experiment's variants answer from the one engine's state.
        """
        twin = copy.copy(self)  # shallow: every attribute but ``config`` is shared
        twin.config = config
        return twin

    # -- users --------------------------------------------------------------------------------

    def apply_users(self, users: Sequence[User]) -> None:
        """Keep profiles that say something; give known users their segments."""
        for user in users:
            if user.properties or user.text.strip():
                self.profiles[user.user_id] = user
            else:
                self.profiles.pop(user.user_id, None)
            uidx = self.state.users.get(user.user_id)
            if uidx is not None:  # otherwise their first event brings them in
                self.segments.set_user(uidx, user.properties)

    def on_new_users(self, first_new_uidx: int) -> None:
        """Users who just got an index: their stored profile gives them segments."""
        if not self.profiles:
            return
        for uidx in range(first_new_uidx, len(self.state.users)):
            profile = self.profiles.get(self.state.users.id_of(uidx))
            if profile is not None:
                self.segments.set_user(uidx, profile.properties)

    # -- blends -------------------------------------------------------------------------------

    def answer(
        self, models: ModelSet, user_id: str, allowed: Mask, scenario: str, n: int
    ) -> tuple[int | None, Blend, answers.Exploration]:
        """Blend the answer of ``scenario`` for a user, and the home feed's fresh-item picks.

        ``home`` serves a user with at most ``new_user_max_events`` events with the
        ``new_user`` pipeline, and gives ``new_item_share`` of the slots of a full feed to
        fresh items (an exploration slot).
        """
        state, wanted = self.state, self.config.scenarios
        uidx = state.users.get(user_id)
        history = state.histories.get(uidx) if uidx is not None else None
        events = history.events if history is not None else 0
        nothing = answers.Exploration.none()
        pool = self.pool(n)
        if scenario == scenarios.NEW_ITEM:
            return uidx, self.fresh_items(models, user_id, uidx, allowed), nothing
        if scenario == scenarios.NEW_USER or events <= wanted.new_user_max_events:
            return uidx, self.new_user(models, user_id, uidx, allowed, pool), nothing
        assert uidx is not None  # a user with events has an index
        extra = self.content_sources(user_id, uidx, self.config.blend.content, pool=pool)
        extra += self.configured_sources(models, uidx, self.config.blend.sources, pool)
        result = scenarios.home(models, self.config.blend, uidx, allowed, extra, pool)
        if not result.parts:
            return uidx, self.new_user(models, user_id, uidx, allowed, pool), nothing
        slots = int(n * wanted.new_item_share)
        # Exploration takes slots of a full feed; a short feed keeps what it has.
        if slots == 0 or np.count_nonzero(result.scores) < n:
            return uidx, result, nothing
        fresh = self.fresh_items(models, user_id, uidx, allowed)
        picks = answers.top_indices(fresh, state.catalog.tie_break, slots)
        # An item is shown once, in its exploration slot (the fresh blend covers every item).
        result.scores[result.positions_of(fresh.item_of(picks))] = 0.0
        return uidx, result, answers.Exploration(fresh, picks)

    def pool(self, n: int) -> Candidates | None:
        """Candidate retrieval settings for an answer of ``n``, on a large catalogue only."""
        wanted = self.config.retrieval
        if len(self.state.items) < wanted.candidates_from_items:
            return None
        return Candidates(wanted, n)

    def new_user(
        self,
        models: ModelSet,
        user_id: str,
        uidx: int | None,
        allowed: Mask,
        pool: Candidates | None = None,
    ) -> Blend:
        """Segments, stated tastes and first events (see ``scenarios.new_user``)."""
        weights = self.config.scenarios.new_user_blend
        extra = self.content_sources(user_id, uidx, weights.content, pool=pool)
        extra += self.segment_sources(user_id, uidx, weights.segments, len(allowed), pool)
        extra += self.configured_sources(models, uidx, weights.sources, pool)
        return scenarios.new_user(models, weights, uidx, allowed, extra, pool)

    def fresh_items(self, models: ModelSet, user_id: str, uidx: int | None, allowed: Mask) -> Blend:
        """Fresh items only, ranked for the user (the ``new_item`` scenario)."""
        created_at = self.state.catalog.created_at
        fresh = allowed & self.fresh.mask(created_at)
        newest = Source("newest", 0.05, lambda: self.fresh.recency(created_at), True)
        # Content is scored exactly on the fresh items only: few, and no ANN pass per answer.
        candidates = np.flatnonzero(fresh).tolist()
        extra = [*self.content_sources(user_id, uidx, 1.0, candidates), newest]
        return scenarios.fresh(models, uidx, fresh, extra)

    def rank(
        self, models: ModelSet, user_id: str, allowed: Mask, candidates: list[int]
    ) -> tuple[int | None, Blend]:
        """The home blend for given candidates, content scored exactly on each of them."""
        uidx = self.state.users.get(user_id)
        history = self.state.histories.get(uidx) if uidx is not None else None
        extra = self.content_sources(user_id, uidx, self.config.blend.content, candidates)
        if history is not None and history.events > self.config.scenarios.new_user_max_events:
            assert uidx is not None
            result = scenarios.home(models, self.config.blend, uidx, allowed, extra)
            if result.parts:
                return uidx, result
        return uidx, self.new_user(models, user_id, uidx, allowed)

    def search(self, query: Query, allowed: Mask, n: int) -> Blend:
        """Items nearest a free-text query among ``allowed``."""
        n_items = len(allowed)
        source = Source(scenarios.SEARCH, 1.0, lambda: self.content.query_scores(query, n_items, n))
        return scenarios.blend([source], allowed)

    # -- sources ------------------------------------------------------------------------------

    def configured_sources(
        self,
        models: ModelSet,
        uidx: int | None,
        weights: dict[str, float],
        pool: Candidates | None = None,
    ) -> list[Source]:
        """The registered sources a scenario's ``sources`` setting names, with its weights."""
        if not weights:
            return []
        user = Asker(uidx, len(self.state.items))
        k = pool.k(pool.config.trending_candidates) if pool is not None else MAX_NOMINEES
        return [
            blend_source(registry.build(name, self.state, models), weight, user, k)
            for name, weight in weights.items()
            if weight > 0
        ]

    def content_sources(
        self,
        user_id: str,
        uidx: int | None,
        weight: float,
        candidates: list[int] | None = None,
        pool: Candidates | None = None,
    ) -> list[Source]:
        """The user's content profile as a source: ANN hits, or exactly ``candidates``."""
        if weight <= 0:
            return []
        n_items = len(self.state.items)
        found: list[npt.NDArray[np.float32] | None] = []
        history = self.state.histories.get(uidx) if uidx is not None else None
        stated = self.profiles.get(user_id)
        text = stated.text if stated is not None else ""

        def profile() -> npt.NDArray[np.float32] | None:
            if not found:  # once per answer, however many times the blend asks
                recent = [(i, w) for i, _, w in history.recent] if history is not None else []
                found.append(self.content.profile(recent, text))
            return found[0]

        def score() -> npt.NDArray[np.float64] | None:
            vector = profile()
            if vector is None:
                return None
            if candidates is not None:
                return self.content.exact_scores(vector, candidates, n_items)
            return self.content.scores(vector, n_items)

        if pool is None:
            return [Source(scenarios.CONTENT, weight, score)]
        k = pool.k(pool.config.content_candidates)

        def propose() -> npt.NDArray[np.int64] | None:
            if (history is None or not history.recent) and text.strip():
                return self.content.nearest_to_text(text, k)  # the same query, cached
            vector = profile()
            return None if vector is None else self.content.nearest(vector, k)

        def at(items: npt.NDArray[np.int64]) -> npt.NDArray[np.float64] | None:
            vector = profile()
            return None if vector is None else self.content.scores_at(vector, items)

        return [Source(scenarios.CONTENT, weight, score, False, propose, at)]

    def segment_sources(
        self,
        user_id: str,
        uidx: int | None,
        weight: float,
        n_items: int,
        pool: Candidates | None = None,
    ) -> list[Source]:
        """Trending among the user's segments (from their properties)."""
        if weight <= 0:
            return []
        segments = self.segments
        if uidx is not None and segments.has_user(uidx):
            ids = segments.user_segments(uidx)
        else:
            profile = self.profiles.get(user_id)
            if profile is None:
                return []
            ids = segments.property_segments(profile.properties)
        if not ids:
            return []
        dense = lambda: segments.score_ids(ids, n_items)  # noqa: E731
        if pool is None:
            return [Source(segments.name, weight, dense, True)]
        k, age = pool.k(pool.config.trending_candidates), pool.config.hot_refresh_seconds
        return [
            Source(
                segments.name,
                weight,
                dense,
                True,
                lambda: segments.hot(ids, k, age),
                lambda items: segments.scores_at(ids, items, age),
            )
        ]
