"""ImplicitFactors: the per-event fold-in checked against ALS half-steps computed by hand.

Tolerances: freshrec's own normal equations are float64 on both sides (``rtol=1e-9``);
comparisons with ``implicit``'s float32 solver use ``rtol=1e-4``.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from freshrec.config import FactorsConfig
from freshrec.models import EventBatch, ImplicitFactors
from freshrec.models.new_items import REFRESH_CHUNK_USERS

CONFIG = FactorsConfig(factors=4, iterations=12, regularization=0.1, alpha=4.0, seed=7)
N_ITEMS = 10


def group_events(extra: list[tuple[int, int, bool]] | None = None) -> EventBatch:
    """Users 0-9 like items 0-4 and users 10-19 items 5-9, each lacking item ``u % 5``."""
    rows: list[tuple[int, int, float, float, bool]] = []
    t = 0.0
    for u in range(20):
        own = 0 if u < 10 else 5
        for i in range(own, own + 5):
            if i != own + u % 5:
                rows.append((u, i, 1.0, t, True))
                t += 1.0
    for u, i, positive in extra or []:
        rows.append((u, i, 1.0 if positive else 0.5, t, positive))
        t += 1.0
    return EventBatch.from_rows(rows)


def one(u: int, i: int, positive: bool = True) -> EventBatch:
    return EventBatch.from_rows([(u, i, 1.0 if positive else 0.5, 1e6, positive)])


@pytest.fixture
def model() -> ImplicitFactors:
    fitted = ImplicitFactors(CONFIG)
    fitted.fit(group_events())
    return fitted


def half_step(
    counterparts: np.ndarray, liked: list[int], reg: float, confidence: float
) -> np.ndarray:
    """One ALS half-step (Hu, Koren & Volinsky 2008) for a row whose positives are ``liked``:
    ``(VᵀV + Vₗᵀ(C - I)Vₗ + λI) x = Vₗᵀ C p`` with confidence ``confidence`` on each positive
    and 1 elsewhere, written out loop by loop."""
    k = counterparts.shape[1]
    lhs = reg * np.eye(k)
    for v in counterparts:
        lhs += np.outer(v, v)
    rhs = np.zeros(k)
    for j in liked:
        v = counterparts[j]
        lhs += (confidence - 1.0) * np.outer(v, v)
        rhs += confidence * v
    return np.linalg.solve(lhs, rhs)


def test_fold_in_is_one_als_half_step(model: ImplicitFactors) -> None:
    factors, trained, _ = model.trained_state()
    assert trained[:N_ITEMS].all()
    for uidx in range(20):
        own = 0 if uidx < 10 else 5
        liked = [i for i in range(own, own + 5) if i != own + uidx % 5]
        # freshrec documents Hu et al.'s confidence c = 1 + α for a binary preference.
        expected = half_step(factors, liked, CONFIG.regularization, CONFIG.alpha)
        got = model.user_vector(uidx)
        assert got is not None
        np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)


def test_fold_in_matches_the_als_library_it_was_trained_with(model: ImplicitFactors) -> None:
    """The trained items came from ``implicit``; its own user step must agree with ours."""
    from implicit.cpu.als import AlternatingLeastSquares

    factors, _, _ = model.trained_state()
    als = AlternatingLeastSquares(
        factors=CONFIG.factors,
        regularization=CONFIG.regularization,
        alpha=CONFIG.alpha,
        num_threads=1,
    )
    als.item_factors = factors.astype(np.float32)
    als.user_factors = np.zeros((1, CONFIG.factors), dtype=np.float32)
    for uidx in (0, 13):
        own = 0 if uidx < 10 else 5
        liked = [i for i in range(own, own + 5) if i != own + uidx % 5]
        row = sp.csr_matrix(
            (np.ones(len(liked), dtype=np.float32), ([0] * len(liked), liked)),
            shape=(1, len(factors)),
        )
        reference = als.recalculate_user(0, row)
        got = model.user_vector(uidx)
        assert got is not None
        np.testing.assert_allclose(got, reference, rtol=1e-4, atol=1e-5)


def test_non_positive_events_do_not_move_the_user(model: ImplicitFactors) -> None:
    before = model.user_vector(3)
    assert before is not None
    before = before.copy()
    model.partial_fit(one(3, 7, positive=False))
    after = model.user_vector(3)
    assert after is not None
    np.testing.assert_array_equal(after, before)


def test_cache_is_invalidated_by_the_users_next_positive(model: ImplicitFactors) -> None:
    """Read-your-writes: a cached user's very next read reflects a new positive."""
    scores_before = model.score_user(3, N_ITEMS)  # caches user 3
    assert scores_before is not None
    factors, _, _ = model.trained_state()
    model.partial_fit(one(3, 7))  # user 3 (group A) now also likes item 7 (group B)
    liked = [0, 1, 2, 4, 7]
    expected = half_step(factors, liked, CONFIG.regularization, CONFIG.alpha)
    got = model.user_vector(3)
    assert got is not None
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)
    scores_after = model.score_user(3, N_ITEMS)
    assert scores_after is not None
    assert scores_after[8] > scores_before[8]  # group B moved up
    # A repeated positive on the same item changes nothing (preference is binary).
    model.partial_fit(one(3, 7))
    again = model.user_vector(3)
    assert again is not None
    np.testing.assert_allclose(again, expected, rtol=1e-9, atol=1e-12)


def test_a_user_unknown_to_the_fit_gets_a_vector_from_their_first_positive(
    model: ImplicitFactors,
) -> None:
    assert model.user_vector(42) is None
    assert model.score_user(42, N_ITEMS) is None
    model.partial_fit(one(42, 6))
    factors, _, _ = model.trained_state()
    expected = half_step(factors, [6], CONFIG.regularization, CONFIG.alpha)
    got = model.user_vector(42)
    assert got is not None
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)
    recs = model.recommend(42, 3, [6], N_ITEMS).tolist()
    assert recs and all(5 <= i < 10 for i in recs)


def test_a_new_item_gets_a_vector_after_positives_and_can_be_recommended(
    model: ImplicitFactors,
) -> None:
    new = N_ITEMS  # item 10 was not in the fit
    assert model.score_item(new, N_ITEMS + 1) is None
    for u in (0, 1, 2, 5, 6):  # group A users like it
        model.partial_fit(one(u, new))
    scores = model.score_user(3, N_ITEMS + 1)  # user 3 is in group A, has not seen it
    assert scores is not None
    factors, trained, user_gram = model.trained_state()
    assert not trained[new]
    assert np.linalg.norm(factors[new]) > 0
    # The item step mirrors the user step: its users' current vectors as counterparts.
    users = np.array([model.user_vector(u) for u in (0, 1, 2, 5, 6)])
    k = CONFIG.factors
    lhs = user_gram + (CONFIG.alpha - 1) * users.T @ users + CONFIG.regularization * np.eye(k)
    expected = np.linalg.solve(lhs, CONFIG.alpha * users.sum(axis=0))
    np.testing.assert_allclose(factors[new], expected, rtol=1e-9, atol=1e-12)
    # User 3 lacks items 3 (withheld) and 10 (new): both group-A items come first.
    seen = [0, 1, 2, 4]
    top = model.recommend(3, 2, seen, N_ITEMS + 1).tolist()
    assert sorted(top) == [3, new]
    # A group-B user does not get it near the top.
    top_b = model.recommend(15, 4, [6, 7, 8, 9], N_ITEMS + 1).tolist()
    assert new not in top_b[:1]
    similar = model.similar(new, 4, N_ITEMS + 1).tolist()
    assert len(similar) == 4
    assert set(similar) <= {0, 1, 2, 3, 4}


def test_retraining_includes_the_new_item(model: ImplicitFactors) -> None:
    extra = [(u, N_ITEMS, True) for u in (0, 1, 2, 5, 6)]
    model.fit(group_events(extra))
    _, trained, _ = model.trained_state()
    assert trained[N_ITEMS]


def test_capped_profile_fold_in_does_not_depend_on_cache_state() -> None:
    config = FactorsConfig(
        factors=4, iterations=12, regularization=0.1, alpha=4.0, seed=7, fold_in_max_items=3
    )
    fit_events = group_events()
    # User 0's profile: 1 2 3 4 (trained), then new item 10 (untrained), then trained 6.
    late = [one(0, N_ITEMS), one(0, 6)]
    warm, cold = ImplicitFactors(config), ImplicitFactors(config)
    for m in (warm, cold):
        m.fit(fit_events)
    warm.partial_fit(late[0])
    assert warm.user_vector(0) is not None  # cache user 0 with profile [3, 4, (10)]
    warm.partial_fit(late[1])
    for batch in late:
        cold.partial_fit(batch)
    w, c = warm.user_vector(0), cold.user_vector(0)
    assert w is not None and c is not None
    np.testing.assert_allclose(w, c, rtol=1e-9, atol=1e-12)


def test_new_item_vector_does_not_depend_on_when_it_was_read() -> None:
    new = N_ITEMS
    early = [one(u, new) for u in (0, 1, 2)]
    late = [one(0, 7), one(1, 8), one(2, 9)]  # its users then also like group-B items
    read_between, read_after = ImplicitFactors(CONFIG), ImplicitFactors(CONFIG)
    for m in (read_between, read_after):
        m.fit(group_events())
    for batch in early:
        read_between.partial_fit(batch)
        read_after.partial_fit(batch)
    read_between.score_user(3, N_ITEMS + 1)  # computes item 10's vector now
    for batch in late:
        read_between.partial_fit(batch)
        read_after.partial_fit(batch)
    a = read_between.score_user(3, N_ITEMS + 1)
    b = read_after.score_user(3, N_ITEMS + 1)
    assert a is not None and b is not None
    np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


def test_a_refresh_budget_spreads_new_items_over_reads_and_ends_where_unbudgeted_does() -> None:
    """With a zero budget each write or ``refresh`` gives one chunk of new items vectors."""
    new_items = [N_ITEMS + k for k in range(36)]
    rows = [(u, item, 1.0, 1e6 + u, True) for item in new_items for u in (0, 1, 2)]
    events = EventBatch.from_rows(rows)
    budgeted, exact = ImplicitFactors(CONFIG, refresh_budget=0.0), ImplicitFactors(CONFIG)
    for m in (budgeted, exact):
        m.fit(group_events())
    budgeted.partial_fit(events)
    exact.partial_fit(events)

    def with_vectors(m: ImplicitFactors) -> int:
        factors = m.trained_state()[0]
        return sum(1 for i in new_items if i < len(factors) and np.linalg.norm(factors[i]) > 0)

    n_items = N_ITEMS + len(new_items)
    budgeted.score_user(3, n_items)  # reads never solve new items
    per_chunk = -(-REFRESH_CHUNK_USERS // 3)  # each new item has three users
    # The writer did one slice (one chunk of items); the backlog is left to ``refresh``.
    assert with_vectors(budgeted) == per_chunk and budgeted.has_backlog
    slices, more = 1, True
    while more:
        more = budgeted.refresh()
        slices += 1
    assert slices == -(-len(new_items) // per_chunk)
    exact.score_user(3, n_items)  # everything at once
    assert with_vectors(budgeted) == with_vectors(exact) == len(new_items)
    # The users behind them were solved in batches: as their own fold-in solves them.
    alone = ImplicitFactors(CONFIG)
    alone.fit(group_events())
    alone.partial_fit(events)
    for u in (0, 1, 2):
        np.testing.assert_allclose(
            budgeted.user_vector(u), alone.user_vector(u), rtol=1e-9, atol=1e-12
        )
    np.testing.assert_allclose(
        budgeted.trained_state()[0], exact.trained_state()[0], rtol=1e-9, atol=1e-12
    )


def test_an_evicted_user_keeps_their_vector_until_their_next_positive() -> None:
    from freshrec.config import FactorsConfig
    from freshrec.models import EventBatch, ImplicitFactors

    model = ImplicitFactors(
        FactorsConfig(factors=4, iterations=3, regularization=1.0, fold_in_cache_users=1)
    )
    rows = [
        (u, i, 1.0, float(k), True)
        for k, (u, i) in enumerate([(0, 0), (0, 1), (1, 1), (1, 2), (2, 0), (2, 2), (3, 3), (3, 1)])
    ]
    model.fit(EventBatch.from_rows(rows))
    first = model.user_vector(0)
    assert first is not None
    model.user_vector(1)  # evicts user 0's system (a cache of one)
    assert model.user_vector(0) is first  # answered from the solved vector, no new solve
    model.partial_fit(EventBatch.from_rows([(0, 2, 1.0, 9.0, True)]))
    moved = model.user_vector(0)
    assert moved is not None and not np.allclose(moved, first)


def test_users_solved_at_install_equal_their_fold_in() -> None:
    """``als.solve_users`` solves the fold-in's own system, batched: same vectors (float64)."""
    from freshrec.models import als

    config = FactorsConfig(
        factors=4, iterations=12, regularization=0.1, alpha=4.0, seed=7, fold_in_max_items=3
    )
    events = group_events()
    trained = als.train(config, events)
    # Users of group_events like 4 items each: over the cap of 3, so none is pre-solved.
    assert trained.users == {}
    capped = FactorsConfig(**{**config.model_dump(), "fold_in_max_items": 300})
    solved = als.train(capped, events).users
    assert sorted(solved) == list(range(20))
    model = ImplicitFactors(capped)
    model.fit(events)
    factors, _, _ = model.trained_state()
    for uidx, vector in solved.items():
        own = 0 if uidx < 10 else 5
        liked = [i for i in range(own, own + 5) if i != own + uidx % 5]
        expected = half_step(factors, liked, capped.regularization, capped.alpha)
        np.testing.assert_allclose(vector, expected, rtol=1e-9, atol=1e-12)


def test_install_since_drops_moved_users_and_folds_in_their_new_items(
    model: ImplicitFactors,
) -> None:
    """A swap with ``since`` (events after the fit's snapshot) equals a swap over all profiles."""
    from freshrec.models import als

    snapshot = group_events()
    late = EventBatch.from_rows([(0, 7, 1.0, 1e6, True), (1, N_ITEMS, 1.0, 1e6 + 1, True)])
    trained = als.train(CONFIG, snapshot)
    swapped, rebuilt = ImplicitFactors(CONFIG), ImplicitFactors(CONFIG)
    for m in (swapped, rebuilt):
        m.fit(snapshot)
        m.partial_fit(late)
    args = (trained.item_factors, trained.trained, trained.user_gram)
    swapped.install(swapped.prepare(*args, dict(trained.users)), since=late)
    rebuilt.install(rebuilt.prepare(*args))  # no solved users: every vector is a fold-in
    for uidx in range(20):
        a, b = swapped.score_user(uidx, N_ITEMS + 1), rebuilt.score_user(uidx, N_ITEMS + 1)
        assert a is not None and b is not None
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-9)
    # User 0 moved on after the snapshot: their vector is not the snapshot's.
    vector = swapped.user_vector(0)
    assert vector is not None and not np.allclose(vector, trained.users[0])


def test_solved_vectors_are_bounded_and_an_evicted_user_is_solved_again() -> None:
    config = CONFIG.model_copy(update={"solved_cache_users": 3, "fold_in_cache_users": 2})
    bounded, unbounded = ImplicitFactors(config), ImplicitFactors(CONFIG)
    for m in (bounded, unbounded):
        m.fit(group_events())
    for u in range(20):
        for m in (bounded, unbounded):
            m.partial_fit(one(u, (u + 3) % N_ITEMS))
            assert m.user_vector(u) is not None
    assert bounded.fold_in.solved_count <= 3  # the bound the config sets
    assert unbounded.fold_in.solved_count == 20
    for u in range(20):  # most were evicted: their answers are solved again, the same
        b, full = bounded.user_vector(u), unbounded.user_vector(u)
        assert b is not None and full is not None
        np.testing.assert_allclose(b, full, rtol=1e-9, atol=1e-12)
