"""SparseRows against a dense reference built from the same additions."""

from __future__ import annotations

import numpy as np
import pytest

from freshrec.config import CoVisitationConfig
from freshrec.models import CoVisitation, EventBatch
from freshrec.models.sparse_rows import SparseRows, ranges

N_ROWS, N_COLS = 40, 50


def additions(seed: int, n: int = 3_000) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Skewed rows and columns, so some rows get long and many pairs repeat."""
    rng = np.random.default_rng(seed)
    rows = (rng.pareto(1.5, n) * 3).astype(np.int64) % N_ROWS
    cols = (rng.pareto(1.5, n) * 4).astype(np.int64) % N_COLS
    vals = rng.choice([0.5, 1.0, 2.0, 3.0], n)
    return rows, cols, vals


def dense(rows: np.ndarray, cols: np.ndarray, vals: np.ndarray) -> np.ndarray:
    out = np.zeros((N_ROWS, N_COLS))
    np.add.at(out, (rows, cols), vals)
    return out


def filled(rows: np.ndarray, cols: np.ndarray, vals: np.ndarray, splits: list[int]) -> SparseRows:
    table = SparseRows()
    table.grow(N_ROWS)
    for start, stop in zip([0, *splits], [*splits, len(rows)], strict=True):
        table.add(rows[start:stop], cols[start:stop], vals[start:stop])
    return table


def as_dense(table: SparseRows) -> np.ndarray:
    eye = np.ones(1)
    return np.stack([table.weighted_sum(np.array([r]), eye, N_COLS) for r in range(N_ROWS)])


def test_ranges_concatenates_runs() -> None:
    assert ranges(np.array([5, 0, 9]), np.array([2, 0, 3])).tolist() == [5, 6, 9, 10, 11]
    assert ranges(np.zeros(0, np.int64), np.zeros(0, np.int64)).tolist() == []


@pytest.mark.parametrize("splits", [[], [1], [7, 500, 501, 2_999], list(range(10, 3_000, 10))])
def test_sums_match_a_dense_reference_however_the_additions_are_split(splits: list[int]) -> None:
    rows, cols, vals = additions(0)
    table = filled(rows, cols, vals, splits)
    # Values are multiples of 0.5: every order of summation gives the same float.
    np.testing.assert_array_equal(as_dense(table), dense(rows, cols, vals))
    assert table.n_entries == len(rows)  # duplicates are kept until a compaction


def test_weighted_sum_weighs_each_row_and_drops_columns_past_the_cut() -> None:
    rows, cols, vals = additions(1)
    table = filled(rows, cols, vals, [])
    reference = dense(rows, cols, vals)
    picked, weights = np.array([3, 0, 3]), np.array([0.5, 2.0, 1.0])
    got = table.weighted_sum(picked, weights, 20)
    np.testing.assert_allclose(got, (weights @ reference[picked])[:20])
    assert got.shape == (20,)


def test_compaction_sums_duplicates_and_keeps_every_value() -> None:
    rows, cols, vals = additions(2)
    table = filled(rows, cols, vals, [1_000])
    table.compact(max_keep=N_COLS, min_entries=0)
    np.testing.assert_array_equal(as_dense(table), dense(rows, cols, vals))
    for r in range(N_ROWS):
        row_cols, _ = table.row(r)
        assert row_cols == sorted(set(row_cols))  # no duplicates, sorted by column


def test_compaction_prunes_rows_to_their_strongest_columns() -> None:
    rows, cols, vals = additions(3)
    table = filled(rows, cols, vals, [])
    table.compact(max_keep=5, min_entries=0)
    reference = dense(rows, cols, vals)
    for r in range(N_ROWS):
        row_cols, row_vals = table.row(r)
        expected = reference[r]
        nonzero = np.flatnonzero(expected)
        assert len(row_cols) == min(5, len(nonzero))
        # The kept values are the largest ones; ties go to the lower column.
        order = sorted(nonzero.tolist(), key=lambda c: (-expected[c], c))[:5]
        assert row_cols == sorted(order)
        assert row_vals == [expected[c] for c in sorted(order)]


def test_compaction_leaves_rows_that_did_not_double() -> None:
    table = SparseRows()
    table.grow(2)
    table.add(np.zeros(20, np.int64), np.arange(20) % 4, np.ones(20))
    table.compact(max_keep=100)
    assert table.row(0) == ([0, 1, 2, 3], [5.0, 5.0, 5.0, 5.0])
    table.add(np.zeros(3, np.int64), np.array([0, 1, 2]), np.ones(3))
    table.compact(max_keep=100)  # 7 entries, 4 distinct at the last compaction: kept as is
    assert table.row(0) == ([0, 1, 2, 3, 0, 1, 2], [5.0, 5.0, 5.0, 5.0, 1.0, 1.0, 1.0])


def test_growth_relocation_and_defragmentation_keep_every_row() -> None:
    table = SparseRows()
    table.grow(N_ROWS)
    rows, cols, vals = additions(4, n=20_000)
    reference = np.zeros((N_ROWS, N_COLS))
    for start in range(0, len(rows), 97):
        stop = start + 97
        table.add(rows[start:stop], cols[start:stop], vals[start:stop])
        np.add.at(reference, (rows[start:stop], cols[start:stop]), vals[start:stop])
        if start % 1_000 < 97:
            table.compact(max_keep=N_COLS)
    np.testing.assert_array_equal(as_dense(table), reference)


def test_values_at_reads_a_block() -> None:
    rows, cols, vals = additions(5)
    table = filled(rows, cols, vals, [])
    reference = dense(rows, cols, vals)
    block = table.values_at([1, 0, 7], [3, 49, 0])
    np.testing.assert_array_equal(block, reference[np.ix_([1, 0, 7], [3, 49, 0])])


def test_sparse_covisitation_prunes_and_stays_incremental_across_compactions() -> None:
    """Compactions happen every 16 events here, so they fall inside and between batches."""
    config = CoVisitationConfig(dense_max_items=8, max_neighbors=3, compact_every_events=16)
    rng = np.random.default_rng(6)
    n = 400
    events = EventBatch(
        rng.integers(0, 15, n).astype(np.int64),
        rng.integers(0, 30, n).astype(np.int64),
        rng.choice([0.5, 1.0, 3.0, -1.0], n),
        np.arange(n, dtype=np.float64),
        np.ones(n, dtype=np.bool_),
    )
    whole = CoVisitation(config)
    whole.fit(events)
    for cuts in ([5], [16, 17, 250], list(range(3, n, 7))):
        stepwise = CoVisitation(config)
        stepwise.fit(EventBatch(*(getattr(events, f)[: cuts[0]] for f in EventBatch.__slots__)))
        for start, stop in zip(cuts, [*cuts[1:], n], strict=True):
            stepwise.partial_fit(
                EventBatch(*(getattr(events, f)[start:stop] for f in EventBatch.__slots__))
            )
        for uidx in range(15):
            a, b = whole.score_user(uidx, 30), stepwise.score_user(uidx, 30)
            assert (a is None) == (b is None)
            if a is not None and b is not None:
                np.testing.assert_array_equal(a, b)
    # Right after a compaction point, a row holds at most max_neighbors items if it was tidied
    # then, and fewer than twice its size at its last tidying (<= max_neighbors) otherwise.
    positive = EventBatch(
        events.uidx, events.iidx, np.abs(events.weight), events.timestamp, events.positive
    )
    last = CoVisitation(config)
    last.fit(EventBatch(*(getattr(positive, f)[:384] for f in EventBatch.__slots__)))
    sizes = [np.count_nonzero(s) for i in range(30) if (s := last.score_item(i, 30)) is not None]
    assert max(sizes) <= 2 * 3 - 1
    assert max(sizes) > 0


def test_from_sorted_builds_the_same_rows_as_add() -> None:
    rows, cols, vals = additions(7)
    order = np.argsort(rows, kind="stable")
    rows, cols, vals = rows[order], cols[order], vals[order]
    built = SparseRows.from_sorted(N_ROWS, rows, cols, vals)
    added = filled(rows, cols, vals, [])
    assert [built.row(r) for r in range(N_ROWS)] == [added.row(r) for r in range(N_ROWS)]
    built.add(np.array([0, 39]), np.array([1, 2]), np.array([1.0, 1.0]))  # still growable
    np.testing.assert_array_equal(
        as_dense(built)[[0, 39], [1, 2]], dense(rows, cols, vals)[[0, 39], [1, 2]] + 1
    )


def test_sparse_weighted_sum_equals_the_dense_one_on_its_columns() -> None:
    rows, cols, vals = additions(4)
    table = filled(rows, cols, vals, [700, 1_900])  # uncompacted: repeated columns per row
    picked, weights = np.array([3, 0, 17, 3]), np.array([0.5, 1.0, 2.0, 0.25])
    keys, sums = table.weighted_sum_sparse(picked, weights)
    reference = table.weighted_sum(picked, weights, N_COLS)
    assert np.all(np.diff(keys) > 0)
    np.testing.assert_allclose(sums, reference[keys])
    assert not np.delete(reference, keys).any()
    empty_keys, empty_sums = table.weighted_sum_sparse(np.array([], np.int64), np.array([]))
    assert len(empty_keys) == len(empty_sums) == 0


def test_values_at_repeats_a_column_asked_twice() -> None:
    rows, cols, vals = additions(5)
    table = filled(rows, cols, vals, [])
    reference = dense(rows, cols, vals)
    block = table.values_at([0, 2, 0], [4, 1, 4, 49])
    np.testing.assert_allclose(block, reference[np.ix_([0, 2, 0], [4, 1, 4, 49])])
