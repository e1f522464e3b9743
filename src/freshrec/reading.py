"""The read side of the engine: answers over one state, as a reader of the engine's lock.

``Engine`` is the façade and the writer; every answer it gives (``recommend``, ``similar``,
``rank``, ``search`` and what a cache keys on) is computed here, from the state, the
published models, the pipelines and the content service it is handed. A reader writes
nothing shared: what it computes lazily lives in read-side caches with their own mutexes.
When ``Engine.forget_user`` rebuilds the state, a new ``Reader`` comes with it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import numpy as np

from freshrec import answers, scenarios
from freshrec.config import EngineConfig
from freshrec.content.service import ContentService
from freshrec.errors import UnknownItemError, UnknownScenarioError, ValidationError
from freshrec.models.modelset import ModelSet, PublishedModels
from freshrec.pipelines import Pipelines
from freshrec.rwlock import ReadWriteLock
from freshrec.scenarios import Blend, Source
from freshrec.state.online import OnlineState
from freshrec.types import Categories, Recommendation, check_id

MAX_N = 1_000
MAX_QUERY_CHARS = 1_000


class Reader:
    """Answers over one engine state; thread-safe (each answer holds the lock as a reader).

    Args:
        config: the engine's settings.
        state: the online state (written by the engine, under the lock as the writer).
        published: the serving models (swapped whole by a retrain).
        pipelines: the blends of each scenario over ``state``.
        content: text embeddings and the content source.
        lock: the engine's readers-writer lock.
    """

    def __init__(
        self,
        config: EngineConfig,
        state: OnlineState,
        published: PublishedModels,
        pipelines: Pipelines,
        content: ContentService,
        lock: ReadWriteLock,
    ) -> None:
        self.config = config
        self._state = state
        self._published = published
        self._pipelines = pipelines
        self._content = content
        self._lock = lock
        # An experiment variant's pipelines, made once per settings object.
        self._variant_pipelines: dict[int, tuple[EngineConfig, Pipelines]] = {}

    @property
    def _models(self) -> ModelSet:
        return self._published.current

    def recommend(
        self,
        user_id: str,
        n: int = 10,
        scenario: str = scenarios.HOME,
        exclude: Iterable[str] | None = None,
        category: Categories = None,
        explain: bool = True,
        answer_config: EngineConfig | None = None,
    ) -> list[Recommendation]:
        """``Engine.recommend``, once the engine has waited for ``at_least`` (its docs hold)."""
        with self._lock.reading():
            uidx, result, ranked, explore = self._choose(
                user_id, n, scenario, exclude, category, answer_config
            )
            links = self._links(uidx) if explain else None
            id_of = self._state.items.id_of
            recs = answers.recommendations(result, ranked, id_of, links, explain)
            if explore.blend is not None and len(explore.items):
                picks = answers.recommendations(explore.blend, explore.items, id_of, None, explain)
                recs = answers.interleave(recs, picks, "new item" if explain else None)
            return recs

    def recommend_ids(
        self,
        user_id: str,
        n: int = 10,
        scenario: str = scenarios.HOME,
        exclude: Iterable[str] | None = None,
        category: Categories = None,
    ) -> list[str]:
        """``Engine.recommend_ids``: the ids ``recommend`` would return, nothing else."""
        with self._lock.reading():
            _, result, ranked, explore = self._choose(user_id, n, scenario, exclude, category)
            ids = self._state.items.ids_of(result.item_of(ranked).tolist())
            if len(explore.items):
                fresh = self._state.items.ids_of(explore.items.tolist())
                return answers.interleave_ids(ids, fresh)
            return ids

    def _choose(
        self,
        user_id: str,
        n: int,
        scenario: str,
        exclude: Iterable[str] | None,
        category: Categories,
        answer_config: EngineConfig | None = None,
    ) -> tuple[int | None, Blend, answers.IntArray, answers.Exploration]:
        """Check the question, blend its answer and pick the top items (under the lock)."""
        _check_question(user_id, n, scenario)
        allowed = self._state.allowed(self._state.users.get(user_id), exclude, category)
        pipelines = self._pipelines if answer_config is None else self._pipelines_for(answer_config)
        uidx, result, explore = pipelines.answer(self._models, user_id, allowed, scenario, n)
        ranked = answers.top_indices(result, self._state.catalog.tie_break, n - len(explore))
        return uidx, result, ranked, explore

    def _pipelines_for(self, config: EngineConfig) -> Pipelines:
        """The pipelines of a variant's settings, over this engine's state (made once)."""
        held = self._variant_pipelines.get(id(config))
        if held is None or held[0] is not config:
            held = (config, self._pipelines.with_config(config))
            self._variant_pipelines[id(config)] = held  # keeps ``config`` alive: ids stay unique
        return held[1]

    def _links(self, uidx: int | None) -> Callable[[list[int]], list[int | None]] | None:
        """The history item behind each co-visitation pick, for ``why`` (None: no history)."""
        if uidx is None:
            return None
        covisitation = self._models.covisitation
        window = covisitation.window(uidx)
        return lambda chosen: covisitation.strongest_links(window, chosen)

    def similar(
        self, item_id: str, n: int = 10, exclude: Iterable[str] | None = None
    ) -> list[Recommendation]:
        """``Engine.similar``: items like ``item_id`` (never itself); ``UnknownItemError``."""
        check_id(item_id, "item_id")
        check_n(n)
        with self._lock.reading():
            iidx = self._state.items.get(item_id)
            if iidx is None:
                raise UnknownItemError(item_id)
            allowed = self._state.allowed(None, exclude, None)
            allowed[iidx] = False
            n_items = len(allowed)
            content = Source(
                scenarios.CONTENT,
                self.config.blend.similar_content,
                lambda: self._content.similar_scores(iidx, n_items),
            )
            result = scenarios.similar(self._models, self.config.blend, iidx, allowed, [content])
            ranked = answers.top_indices(result, self._state.catalog.tie_break, n)
            return answers.recommendations(result, ranked, self._state.items.id_of, None)

    def rank(self, user_id: str, item_ids: Sequence[str]) -> list[Recommendation]:
        """``Engine.rank``: every candidate scored for the user, best first."""
        check_id(user_id, "user_id")
        for item_id in item_ids:
            check_id(item_id, "item_ids")
        with self._lock.reading():
            known = [i for i in map(self._state.items.get, item_ids) if i is not None]
        self._content.ensure(known)  # brand-new candidates get their text embedding now
        with self._lock.reading():
            state = self._state
            allowed = np.ones(len(state.items), dtype=np.bool_)
            uidx, result = self._pipelines.rank(self._models, user_id, allowed, known)
            links = self._links(uidx)
            scored = []
            for position, item_id in enumerate(dict.fromkeys(item_ids)):
                iidx = state.items.get(item_id)
                score = float(result.scores[iidx]) if iidx is not None else 0.0
                why: tuple[str, ...] = ()
                if iidx is not None:
                    why = answers.reasons(result, [iidx], state.items.id_of, links)[0]
                scored.append((score, -position, Recommendation(item_id, score, why)))
        scored.sort(key=lambda s: (s[0], s[1]), reverse=True)
        return [rec for _, _, rec in scored]

    def search(
        self,
        text: str,
        n: int = 10,
        user_id: str | None = None,
        category: Categories = None,
    ) -> list[Recommendation]:
        """``Engine.search``: items whose content matches ``text``, best first."""
        if not isinstance(text, str) or not text.strip():
            raise ValidationError("must be a non-empty text", "q")
        if len(text) > MAX_QUERY_CHARS:
            raise ValidationError(f"at most {MAX_QUERY_CHARS} characters", "q")
        check_n(n)
        if user_id is not None:
            check_id(user_id, "user_id")
        query = self._content.query(text)  # outside the lock: the model call is the cost
        with self._lock.reading():
            state = self._state
            uidx = state.users.get(user_id) if user_id is not None else None
            allowed = state.allowed(uidx, None, category)
            result = self._pipelines.search(query, allowed, n)
            ranked = answers.top_indices(result, state.catalog.tie_break, n)
            return answers.recommendations(result, ranked, state.items.id_of, None)

    def freshness(self, user_id: str) -> tuple[int, int, str]:
        """Return what a cached answer for ``user_id`` depends on.

        ``(the user's event count, catalogue version, model version)``: any new event of the
        user, any item upsert and any retrain changes it, so a cache keyed on it never serves
        an answer that hides one of them. Other users' events (co-visitation, trending) are
        not in it: a cache must bound its answers' age for those (``serving.cache``).
        """
        with self._lock.reading():
            state = self._state
            uidx = state.users.get(user_id)
            history = state.histories.get(uidx) if uidx is not None else None
            events = history.events if history is not None else 0
            return events, state.catalogue_version, self._models.version

    def history(self, user_id: str) -> list[str]:
        """Return the user's recent item ids, oldest first (empty for unknown users)."""
        with self._lock.reading():
            state = self._state
            uidx = state.users.get(check_id(user_id, "user_id"))
            if uidx is None:
                return []
            items = state.histories.recent_items(uidx, self.config.history.max_recent_events)
            return [state.items.id_of(i) for i in items]


def check_n(n: int, name: str = "n") -> None:
    """Raise ``ValidationError`` (naming ``name``) unless ``n`` is an integer in [1, 1000]."""
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_N:
        raise ValidationError(f"must be an integer in [1, {MAX_N}]", name)


def _check_question(user_id: str, n: int, scenario: str) -> None:
    check_id(user_id, "user_id")
    check_n(n)
    if scenario not in scenarios.SCENARIOS:
        raise UnknownScenarioError(scenario, list(scenarios.SCENARIOS))
