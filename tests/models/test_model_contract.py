"""One contract suite for every model, plus oracles whose right answer is known by construction.

Tolerances: count models (CoVisitation, Trending) must be *exactly* incremental. Factor models
are compared to a closed form recomputed with numpy: ImplicitFactors user vectors to
``rtol=1e-9`` (both sides solve the same float64 system, built in a different order), EASE
scores to ``rtol=1e-5`` (weights are stored as float32).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from freshrec.config import (
    CoVisitationConfig,
    EaseConfig,
    FactorsConfig,
    TrendingConfig,
)
from freshrec.models import CoVisitation, Ease, EventBatch, ImplicitFactors, ScoringModel, Trending

FACTORS = FactorsConfig(factors=4, iterations=12, regularization=0.1, alpha=4.0, seed=7)
EASE = EaseConfig(l2=5.0, profile_events=10)

MODELS: dict[str, Callable[[], ScoringModel]] = {
    "covisitation": lambda: CoVisitation(CoVisitationConfig()),
    "covisitation-sparse": lambda: CoVisitation(
        CoVisitationConfig(dense_max_items=8, max_neighbors=1_000)
    ),
    "trending": lambda: Trending(TrendingConfig(half_life_seconds=50.0)),
    "factors": lambda: ImplicitFactors(FACTORS),
    "ease": lambda: Ease(EASE),
}
PERSONAL = {"covisitation", "covisitation-sparse", "factors", "ease"}
COUNT_MODELS = ["covisitation", "covisitation-sparse", "trending"]


# -- data -----------------------------------------------------------------------------------


def concat(*batches: EventBatch) -> EventBatch:
    return EventBatch(
        *(np.concatenate([getattr(b, f) for b in batches]) for f in EventBatch.__slots__)
    )


def cut(batch: EventBatch, start: int, stop: int | None = None) -> EventBatch:
    s = slice(start, stop)
    return EventBatch(*(getattr(batch, f)[s].copy() for f in EventBatch.__slots__))


def random_batch(seed: int = 0, n_users: int = 12, n_items: int = 16, n: int = 300) -> EventBatch:
    """Mixed events: clicks, views, purchases and dislikes, some repeats, increasing time."""
    rng = np.random.default_rng(seed)
    uidx = rng.integers(0, n_users, n)
    # Two loose taste groups by parity, so the factor models have structure to find.
    iidx = (rng.integers(0, n_items // 2, n) * 2 + uidx % 2) % n_items
    noise = rng.random(n) < 0.2
    iidx[noise] = rng.integers(0, n_items, int(noise.sum()))
    kinds = rng.choice(4, n, p=[0.6, 0.25, 0.1, 0.05])
    weight = np.array([1.0, 0.5, 3.0, -1.0])[kinds]
    positive = np.isin(kinds, [0, 2])
    timestamp = 1_000.0 + np.cumsum(rng.integers(0, 20, n)).astype(np.float64)
    return EventBatch(uidx.astype(np.int64), iidx.astype(np.int64), weight, timestamp, positive)


def two_groups() -> tuple[EventBatch, dict[int, int], dict[int, set[int]]]:
    """Users 0-9 like items 0-4, users 10-19 like items 5-9; each user lacks one group item.

    Every user first *views* one item of the other group (weight 0.5, not a preference), so
    the other group is reachable but weaker. Returns the batch, each user's withheld item and
    each user's seen items.
    """
    rows: list[tuple[int, int, float, float, bool]] = []
    withheld: dict[int, int] = {}
    seen: dict[int, set[int]] = {}
    per_user: dict[int, list[tuple[int, float, bool]]] = {}
    for u in range(20):
        own, other = (0, 5) if u < 10 else (5, 0)
        withheld[u] = own + u % 5
        noise = other + (3 * u) % 5
        per_user[u] = [(noise, 0.5, False)] + [
            (i, 1.0, True) for i in range(own, own + 5) if i != withheld[u]
        ]
        seen[u] = {i for i, _, _ in per_user[u]}
    # Interleave users round-robin so windows and timestamps mix across users.
    t = 0.0
    for step in range(5):
        for u in range(20):
            i, w, p = per_user[u][step]
            rows.append((u, i, w, t, p))
            t += 1.0
    return EventBatch.from_rows(rows), withheld, seen


N_ITEMS = 16


@pytest.fixture(scope="module")
def data() -> EventBatch:
    return random_batch()


def fitted(name: str, events: EventBatch) -> ScoringModel:
    model = MODELS[name]()
    model.fit(events)
    return model


@pytest.fixture(scope="module", params=list(MODELS))
def named_model(request: pytest.FixtureRequest, data: EventBatch) -> tuple[str, ScoringModel]:
    """A model fitted on ``data``; module-scoped, so tests must only read it."""
    return request.param, fitted(request.param, data)


def users_of(events: EventBatch) -> list[int]:
    return sorted(set(events.uidx.tolist()))


def seen_by(events: EventBatch, uidx: int) -> list[int]:
    return sorted(set(events.iidx[events.uidx == uidx].tolist()))


# -- contract -------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 3, N_ITEMS + 5])
def test_recommend_contract(
    named_model: tuple[str, ScoringModel], data: EventBatch, n: int
) -> None:
    name, model = named_model
    answered = 0
    for uidx in users_of(data):
        exclude = seen_by(data, uidx)[::2]
        recs = model.recommend(uidx, n, exclude, N_ITEMS).tolist()
        assert len(recs) <= n
        assert len(set(recs)) == len(recs), "duplicates"
        assert not set(recs) & set(exclude), "excluded item returned"
        assert all(0 <= i < N_ITEMS for i in recs)
        scores = model.score_user(uidx, N_ITEMS)
        if scores is None:
            assert recs == []
            continue
        assert scores.shape == (N_ITEMS,)
        ranked = scores[recs]
        assert np.all(np.diff(ranked) <= 0), f"{name}: scores increase: {ranked}"
        assert np.all(ranked > 0)
        # Nothing better was left out: every allowed positive item not returned scores lower.
        rest = np.setdiff1d(np.flatnonzero(scores > 0), np.r_[recs, exclude])
        if len(recs) < n:
            assert rest.size == 0
        elif rest.size:
            assert scores[rest].max() <= ranked[-1]
        answered += bool(recs)
    assert answered > 0, f"{name} answered nobody"


def test_similar_contract(named_model: tuple[str, ScoringModel]) -> None:
    _name, model = named_model
    for iidx in range(N_ITEMS):
        recs = model.similar(iidx, 5, N_ITEMS).tolist()
        assert len(recs) <= 5
        assert len(set(recs)) == len(recs)
        assert iidx not in recs
        scores = model.score_item(iidx, N_ITEMS)
        if scores is None:
            assert recs == []
            continue
        assert np.all(np.diff(scores[recs]) <= 0)
    assert model.similar(N_ITEMS + 3, 5, N_ITEMS + 5).tolist() == []


def test_unknown_user(named_model: tuple[str, ScoringModel], data: EventBatch) -> None:
    name, model = named_model
    stranger = max(users_of(data)) + 7
    if name in PERSONAL:
        assert model.score_user(stranger, N_ITEMS) is None
        assert model.recommend(stranger, 5, [], N_ITEMS).tolist() == []
    else:  # trending is the cold-start answer: the same for everybody
        known = model.recommend(0, 5, [], N_ITEMS).tolist()
        assert known
        assert model.recommend(stranger, 5, [], N_ITEMS).tolist() == known


def test_more_item_slots_than_the_model_knows(named_model: tuple[str, ScoringModel]) -> None:
    """The catalogue may be larger than the model's data; new slots score as unknown."""
    _, model = named_model
    scores = model.score_user(0, N_ITEMS + 10)
    if scores is not None:
        assert scores.shape == (N_ITEMS + 10,)
        assert np.all(scores[N_ITEMS:] == 0)
    fewer = model.score_user(0, N_ITEMS - 4)
    if fewer is not None:
        assert fewer.shape == (N_ITEMS - 4,)


@pytest.mark.parametrize("name", list(MODELS))
def test_same_data_same_output(name: str, data: EventBatch) -> None:
    first, second = fitted(name, data), fitted(name, data)
    for uidx in users_of(data):
        a, b = first.score_user(uidx, N_ITEMS), second.score_user(uidx, N_ITEMS)
        assert (a is None) == (b is None)
        if a is not None and b is not None:
            np.testing.assert_array_equal(a, b)
        exclude = seen_by(data, uidx)
        assert (
            first.recommend(uidx, 5, exclude, N_ITEMS).tolist()
            == second.recommend(uidx, 5, exclude, N_ITEMS).tolist()
        )


@pytest.mark.parametrize("name", list(MODELS))
def test_refit_forgets_the_previous_data(name: str, data: EventBatch) -> None:
    model = fitted(name, random_batch(seed=99))
    model.fit(data)
    fresh = fitted(name, data)
    for uidx in users_of(data):
        a, b = model.score_user(uidx, N_ITEMS), fresh.score_user(uidx, N_ITEMS)
        assert (a is None) == (b is None)
        if a is not None and b is not None:
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


# -- incremental equivalence ----------------------------------------------------------------

SPLITS = [0, 1, 37, 150, 299]


@pytest.mark.parametrize("split", SPLITS)
@pytest.mark.parametrize("name", COUNT_MODELS)
def test_count_models_are_exactly_incremental(name: str, split: int, data: EventBatch) -> None:
    whole = fitted(name, data)
    stepwise = fitted(name, cut(data, 0, split))
    stepwise.partial_fit(cut(data, split))
    for uidx in [*users_of(data), 1_000]:
        a, b = whole.score_user(uidx, N_ITEMS), stepwise.score_user(uidx, N_ITEMS)
        assert (a is None) == (b is None)
        if a is not None and b is not None:
            np.testing.assert_array_equal(a, b)
    for iidx in range(N_ITEMS):
        a, b = whole.score_item(iidx, N_ITEMS), stepwise.score_item(iidx, N_ITEMS)
        assert (a is None) == (b is None)
        if a is not None and b is not None:
            np.testing.assert_array_equal(a, b)


def test_count_models_are_incremental_event_by_event(data: EventBatch) -> None:
    for name in COUNT_MODELS:
        whole = fitted(name, data)
        stepwise = fitted(name, cut(data, 0, 0))
        for k in range(len(data)):
            stepwise.partial_fit(cut(data, k, k + 1))
        for uidx in users_of(data):
            a, b = whole.score_user(uidx, N_ITEMS), stepwise.score_user(uidx, N_ITEMS)
            assert a is not None and b is not None
            np.testing.assert_array_equal(a, b, err_msg=name)


def test_covisitation_incremental_across_the_dense_to_sparse_switch() -> None:
    """``b`` brings new items that push the catalogue past ``dense_max_items`` mid-stream."""
    config = CoVisitationConfig(dense_max_items=10, max_neighbors=1_000)
    small = random_batch(seed=3, n_items=8, n=120)
    large = random_batch(seed=4, n_items=24, n=200)
    large = EventBatch(
        large.uidx, large.iidx, large.weight, large.timestamp + 10_000.0, large.positive
    )
    whole, stepwise = CoVisitation(config), CoVisitation(config)
    whole.fit(concat(small, large))
    stepwise.fit(small)
    stepwise.partial_fit(large)
    for uidx in users_of(concat(small, large)):
        a, b = whole.score_user(uidx, 24), stepwise.score_user(uidx, 24)
        assert a is not None and b is not None
        np.testing.assert_array_equal(a, b)


def test_covisitation_incremental_across_the_switch_with_pruned_rows() -> None:
    config = CoVisitationConfig(dense_max_items=10, max_neighbors=4)
    small = random_batch(seed=3, n_items=8, n=120)
    large = random_batch(seed=4, n_items=24, n=200)
    whole, stepwise = CoVisitation(config), CoVisitation(config)
    whole.fit(concat(small, large))
    stepwise.fit(small)
    stepwise.partial_fit(large)
    for uidx in users_of(concat(small, large)):
        a, b = whole.score_user(uidx, 24), stepwise.score_user(uidx, 24)
        assert a is not None and b is not None
        np.testing.assert_array_equal(a, b)


def test_trending_incremental_across_long_time_gaps() -> None:
    """Gaps of many half-lives force the counter to rescale; the result must not depend on
    where the stream is split."""
    config = TrendingConfig(half_life_seconds=1.0)
    rows = [(0, k % 5, 1.0, 1_000.0 * k, True) for k in range(30)]
    events = EventBatch.from_rows(rows)
    for split in (1, 10, 29):
        whole, stepwise = Trending(config), Trending(config)
        whole.fit(events)
        stepwise.fit(cut(events, 0, split))
        stepwise.partial_fit(cut(events, split))
        np.testing.assert_array_equal(whole.scores(5), stepwise.scores(5))
        assert np.all(np.isfinite(whole.scores(5)))
        # The newest event's item leads: everything older decayed by 2**-1000.
        assert int(np.argmax(whole.scores(5))) == 29 % 5


def closed_form_user(model: ImplicitFactors, events: EventBatch, uidx: int) -> np.ndarray | None:
    """The documented fold-in, from scratch: ``(YᵀY + α Y_uᵀY_u + λI) x = (1 + α) Σ y_u`` over
    the trained items among the user's (last ``fold_in_max_items``) distinct positives; a
    dislike withdraws the item until a later positive (the latest signal wins)."""
    factors, trained, _ = model.trained_state()
    config = model.config
    liked: dict[int, None] = {}
    mine = events.uidx == uidx
    for iidx, positive, weight in zip(
        events.iidx[mine].tolist(),
        events.positive[mine].tolist(),
        events.weight[mine].tolist(),
        strict=True,
    ):
        if positive:
            liked.setdefault(iidx, None)
        elif weight < 0:
            liked.pop(iidx, None)
    profile = list(liked)
    trained_items = [i for i in profile if i < len(trained) and trained[i]]
    items = trained_items[-config.fold_in_max_items :]
    if not items:
        return None
    y_all = factors[: len(trained)][trained]
    y = factors[items]
    k = config.factors
    lhs = y_all.T @ y_all + (config.alpha - 1) * y.T @ y + config.regularization * np.eye(k)
    return np.linalg.solve(lhs, config.alpha * y.sum(axis=0))


@pytest.mark.parametrize("warm_cache", [False, True], ids=["cold-cache", "warm-cache"])
@pytest.mark.parametrize("split", [60, 150, 240])
def test_factors_fold_in_after_partial_fit_equals_closed_form(
    split: int, warm_cache: bool, data: EventBatch
) -> None:
    a, b = cut(data, 0, split), cut(data, split)
    model = ImplicitFactors(FACTORS)
    model.fit(a)
    if warm_cache:  # read every user first, so partial_fit updates cached systems in place
        for uidx in users_of(a):
            model.score_user(uidx, N_ITEMS)
    model.partial_fit(b)
    checked = 0
    for uidx in users_of(data):
        expected = closed_form_user(model, data, uidx)
        got = model.user_vector(uidx)
        if expected is None:
            assert got is None
            continue
        assert got is not None
        np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)
        scores = model.score_user(uidx, N_ITEMS)
        assert scores is not None
        factors = model.trained_state()[0]
        m = min(N_ITEMS, len(factors))
        # Scores come from a float32 mirror of the factors (half the memory traffic).
        np.testing.assert_allclose(scores[:m], factors[:m] @ expected, rtol=1e-5, atol=1e-6)
        checked += 1
    assert checked >= 10


def ease_by_hand(events: EventBatch, l2: float) -> np.ndarray:
    n_items = int(events.iidx.max()) + 1
    n_users = int(events.uidx.max()) + 1
    x = np.zeros((n_users, n_items))
    x[events.uidx[events.positive], events.iidx[events.positive]] = 1.0
    p = np.linalg.inv(x.T @ x + l2 * np.eye(n_items))
    b = -p / np.diag(p)[None, :]
    np.fill_diagonal(b, 0.0)
    return b


@pytest.mark.parametrize("split", [60, 150, 240])
def test_ease_after_partial_fit_equals_closed_form(split: int, data: EventBatch) -> None:
    a, b = cut(data, 0, split), cut(data, split)
    model = Ease(EASE)
    model.fit(a)
    model.partial_fit(b)
    weights = ease_by_hand(a, EASE.l2)
    n_fit = len(weights)
    for uidx in users_of(data):
        mine = (data.uidx == uidx) & (data.weight > 0)
        profile = data.iidx[mine].tolist()[-EASE.profile_events :]
        known = [i for i in profile if i < n_fit]
        got = model.score_user(uidx, N_ITEMS)
        if not known:
            assert got is None
            continue
        assert got is not None
        expected = np.zeros(N_ITEMS)
        expected[:n_fit] = weights[known].sum(axis=0)
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


# -- oracles by construction ----------------------------------------------------------------

ORACLE_MODELS = ["covisitation", "covisitation-sparse", "factors", "ease"]


@pytest.mark.parametrize("name", ORACLE_MODELS)
def test_each_user_gets_their_groups_withheld_item_first(name: str) -> None:
    events, withheld, seen = two_groups()
    model = fitted(name, events)
    for uidx in range(20):
        recs = model.recommend(uidx, 5, sorted(seen[uidx]), 10).tolist()
        assert recs, f"{name}: nothing for user {uidx}"
        assert recs[0] == withheld[uidx], f"{name}: user {uidx} got {recs}"


@pytest.mark.parametrize("name", ["covisitation", "covisitation-sparse", "factors", "ease"])
def test_similar_items_stay_in_their_group(name: str) -> None:
    events, _, _ = two_groups()
    model = fitted(name, events)
    for iidx in range(10):
        group = set(range(0, 5)) if iidx < 5 else set(range(5, 10))
        recs = model.similar(iidx, 4, 10).tolist()
        assert set(recs) == group - {iidx}, f"{name}: item {iidx} -> {recs}"


def test_covisitation_withheld_item_first_after_online_updates_only() -> None:
    """No batch fit at all: the same answer built purely from partial_fit, one event at a
    time (the online path)."""
    events, withheld, seen = two_groups()
    model = CoVisitation(CoVisitationConfig())
    for k in range(len(events)):
        model.partial_fit(cut(events, k, k + 1))
    for uidx in range(20):
        recs = model.recommend(uidx, 3, sorted(seen[uidx]), 10).tolist()
        assert recs[0] == withheld[uidx]


def trending_rows(start: float) -> list[tuple[int, int, float, float, bool]]:
    rows = [(u, 0, 1.0, start, True) for u in range(6)]  # item 0: six old events
    rows += [(u, 1, 1.0, start + 300.0, True) for u in range(2)]  # item 1: two recent events
    rows += [(0, 2, 1.0, start + 300.0, True)]  # item 2: one recent event
    rows += [(1, 3, -1.0, start + 300.0, False)]  # item 3: only a dislike
    return rows


def test_trending_ranks_by_decayed_popularity() -> None:
    model = Trending(TrendingConfig(half_life_seconds=100.0))
    model.fit(EventBatch.from_rows(trending_rows(start=1_000.0)))
    # Six events three half-lives old weigh 6/8 = 0.75 < one fresh event.
    np.testing.assert_allclose(model.scores(4), [0.75, 2.0, 1.0, 0.0])
    assert model.recommend(5, 10, [], 4).tolist() == [1, 2, 0]


def test_trending_decays_events_at_timestamp_zero() -> None:
    model = Trending(TrendingConfig(half_life_seconds=100.0))
    model.fit(EventBatch.from_rows(trending_rows(start=0.0)))
    np.testing.assert_allclose(model.scores(4), [0.75, 2.0, 1.0, 0.0])
