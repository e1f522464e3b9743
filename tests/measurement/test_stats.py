"""Experiment statistics: pinned values, simulated error rates, power, edge cases."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from freshrec.measurement.stats import (
    UNBOUNDED_LIFT,
    Interval,
    RatioSums,
    mean_interval,
    preference,
    ratio_interval,
    relative_lift,
    srm,
    wilson,
)

LOOKS = np.arange(500, 20_001, 500)  # units per arm at each look


def ratio_sums(y: np.ndarray, x: np.ndarray, c: np.ndarray | None = None) -> RatioSums:
    c = np.zeros_like(y) if c is None else c
    return RatioSums(
        units=len(y),
        y=float(y.sum()),
        x=float(x.sum()),
        yy=float((y * y).sum()),
        xx=float((x * x).sum()),
        xy=float((x * y).sum()),
        c=float(c.sum()),
        cc=float((c * c).sum()),
        cy=float((c * y).sum()),
        cx=float((c * x).sum()),
    )


def users(rng: np.random.Generator, n: int, ctr: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-user impressions and clicks; each user has their own click rate (mean ``ctr``)."""
    impressions = 1 + rng.poisson(3.0, n)
    rate = rng.beta(1.0, 19.0, n) * (ctr / 0.05)
    return rng.binomial(impressions, np.minimum(rate, 1.0)).astype(float), impressions.astype(float)


def cumulative_sums(y: np.ndarray, x: np.ndarray) -> list[RatioSums]:
    """RatioSums of the first ``n`` units for every ``n`` in LOOKS."""
    columns = [np.cumsum(v)[LOOKS - 1] for v in (y, x, y * y, x * x, x * y)]
    return [RatioSums(int(n), *(float(col[i]) for col in columns)) for i, n in enumerate(LOOKS)]


# --- Wilson and means ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("successes", "trials", "low", "high"),
    # Newcombe (1998), Statistics in Medicine 17:857, Table I, method 3 (score interval).
    [(81, 263, 0.2553, 0.3662), (15, 148, 0.0624, 0.1605), (0, 20, 0.0, 0.1611)],
)
def test_wilson_matches_published_values(successes: int, trials: int, low: float, high: float):
    iv = wilson(successes, trials)
    assert iv.value == pytest.approx(successes / trials)
    assert (round(iv.low, 4), round(iv.high, 4)) == (low, high)


def test_wilson_without_trials_knows_nothing():
    assert wilson(0, 0) == Interval(0.0, 0.0, 1.0)


@pytest.mark.parametrize(("successes", "trials"), [(-1, 5), (6, 5)])
def test_wilson_rejects_impossible_counts(successes: int, trials: int):
    with pytest.raises(ValueError, match="successes"):
        wilson(successes, trials)


def test_mean_interval_matches_hand_computation():
    # values 1, 2, 3, 4: mean 2.5, sample variance 5/3, z = 1.959964
    iv = mean_interval(4, 10.0, 30.0)
    half = 1.959964 * math.sqrt(5 / 3 / 4)
    assert (iv.value, iv.low, iv.high) == pytest.approx((2.5, 2.5 - half, 2.5 + half), rel=1e-6)
    assert iv.to_dict() == {"value": 2.5, "low": 1.234849, "high": 3.765151}


def test_mean_interval_of_fewer_than_two_units_collapses():
    assert mean_interval(0, 0.0, 0.0) == Interval(0.0, 0.0, 0.0)
    assert mean_interval(1, 3.0, 9.0) == Interval(3.0, 3.0, 3.0)


def test_mean_interval_covers_the_true_mean():
    rng = np.random.default_rng(7)
    data = rng.exponential(2.0, (2000, 200))
    covered = 0
    for row in data:
        iv = mean_interval(len(row), float(row.sum()), float((row * row).sum()))
        covered += iv.low <= 2.0 <= iv.high
    assert 0.93 <= covered / len(data) <= 0.97


# --- ratio variance and CUPED --------------------------------------------------------------


def test_delta_method_variance_matches_simulation():
    rng = np.random.default_rng(11)
    ratios, predicted = [], []
    for _ in range(1000):
        y, x = users(rng, 1000, 0.05)
        sums = ratio_sums(y, x)
        ratios.append(sums.ratio)
        predicted.append(sums.ratio_variance())
    simulated = float(np.var(ratios, ddof=1))
    assert float(np.mean(predicted)) == pytest.approx(simulated, rel=0.1)
    # Users' clicks are correlated: the naive binomial variance over impressions is too small.
    naive = 0.05 * 0.95 / (1000 * 4.0)
    assert simulated > 1.1 * naive


def test_ratio_interval_uses_the_delta_method_variance():
    rng = np.random.default_rng(13)
    sums = ratio_sums(*users(rng, 4000, 0.05))
    iv = ratio_interval(sums)
    half = 1.959964 * math.sqrt(sums.ratio_variance())
    assert (iv.value, iv.low, iv.high) == pytest.approx(
        (sums.ratio, sums.ratio - half, sums.ratio + half), rel=1e-6
    )
    empty = RatioSums(1, 1.0, 2.0, 1.0, 4.0, 2.0)
    assert ratio_interval(empty) == Interval(0.5, 0.5, 0.5)


def test_ratio_variance_is_infinite_without_data():
    assert RatioSums(1, 1.0, 2.0, 1.0, 4.0, 2.0).ratio_variance() == math.inf
    assert RatioSums(5, 0.0, 0.0, 0.0, 0.0, 0.0).ratio_variance() == math.inf
    assert RatioSums(0, 0.0, 0.0, 0.0, 0.0, 0.0).ratio == 0.0


def cuped_arms(seed: int, lift: float = 0.0) -> tuple[RatioSums, RatioSums]:
    """Two arms of 5,000 users whose covariate is each user's clicks in an earlier month."""
    rng = np.random.default_rng(seed)
    arms = []
    for ctr in (0.05, 0.05 * (1 + lift)):
        n = 5000
        rate = rng.beta(0.5, 9.5, n)  # users differ a lot: the past predicts the future
        before = rng.binomial(1 + rng.poisson(30.0, n), rate).astype(float)
        x = (1 + rng.poisson(3.0, n)).astype(float)
        y = rng.binomial(x.astype(int), np.minimum(rate * ctr / 0.05, 1.0)).astype(float)
        arms.append(ratio_sums(y, x, before))
    return arms[0], arms[1]


def test_cuped_removes_variance_and_narrows_the_interval():
    baseline, treatment = cuped_arms(3, lift=0.1)
    plain = relative_lift(baseline, treatment, cuped=False)
    adjusted = relative_lift(baseline, treatment, cuped=True)
    assert plain.variance_reduction is None
    assert adjusted.variance_reduction is not None
    assert 0.05 < adjusted.variance_reduction < 0.9
    assert adjusted.high - adjusted.low < plain.high - plain.low
    assert "CUPED" in adjusted.method
    # Own-arm θ gives var(l)(1 - ρ²)/n, never more than the plain variance.
    assert baseline.cuped_ratio_variance() <= baseline.ratio_variance()
    assert baseline.cuped_theta() > 0


def test_cuped_keeps_the_estimate_unbiased():
    lifts = [relative_lift(*cuped_arms(seed, 0.1), cuped=True).value for seed in range(40)]
    assert float(np.mean(lifts)) == pytest.approx(0.1, abs=0.02)


def test_cuped_without_a_covariate_changes_nothing():
    rng = np.random.default_rng(5)
    baseline, treatment = (ratio_sums(*users(rng, 3000, 0.05)) for _ in range(2))
    plain = relative_lift(baseline, treatment)
    adjusted = relative_lift(baseline, treatment, cuped=True)
    assert adjusted.variance_reduction == 0.0
    assert adjusted.interval_dict() == plain.interval_dict()


# --- relative lift: error rates and power ---------------------------------------------------


def false_decision_rates() -> tuple[float, float]:
    """A/A: 200 experiments, looked at every 500 units per arm up to 20,000 per arm."""
    sequential_errs = naive_errs = 0
    for seed in range(200):
        rng = np.random.default_rng(seed)
        arms = [cumulative_sums(*users(rng, int(LOOKS[-1]), 0.05)) for _ in range(2)]
        looks = list(zip(*arms, strict=True))
        sequential_errs += any(relative_lift(b, t).decision != "undecided" for b, t in looks)
        naive_errs += any(
            relative_lift(b, t, sequential=False).decision != "undecided" for b, t in looks
        )
    return sequential_errs / 200, naive_errs / 200


def test_sequential_lift_keeps_false_decisions_under_alpha_while_peeking_does_not():
    sequential, naive = false_decision_rates()
    assert sequential <= 0.08
    assert naive > 0.15


def test_sequential_lift_finds_a_real_twenty_percent_lift_by_20000_units():
    found = 0
    for seed in range(50):
        rng = np.random.default_rng(1000 + seed)
        baseline = cumulative_sums(*users(rng, int(LOOKS[-1]), 0.05))
        treatment = cumulative_sums(*users(rng, int(LOOKS[-1]), 0.06))
        pairs = zip(baseline[:20], treatment[:20], strict=True)  # up to 10,000 units per arm
        decisions = [relative_lift(b, t).decision for b, t in pairs]
        assert "worse" not in decisions
        found += "better" in decisions
    assert found >= 45


def test_sequential_interval_is_wider_than_the_fixed_one():
    rng = np.random.default_rng(9)
    baseline, treatment = (ratio_sums(*users(rng, 2500, 0.05)) for _ in range(2))
    fixed = relative_lift(baseline, treatment, sequential=False)
    sequential = relative_lift(baseline, treatment, tuning_units=5000)
    assert fixed.value == sequential.value
    # At n = tuning_units the sequence is about 1.55x the fixed interval (alpha 0.05).
    width = (sequential.high - sequential.low) / (fixed.high - fixed.low)
    assert width == pytest.approx(1.549, abs=0.01)
    assert "Waudby-Smith" in sequential.method and "5000" in sequential.method


@pytest.mark.parametrize(
    "baseline",
    [
        RatioSums(0, 0.0, 0.0, 0.0, 0.0, 0.0),
        RatioSums(1, 1.0, 5.0, 1.0, 25.0, 5.0),
        RatioSums(100, 0.0, 400.0, 0.0, 2000.0, 0.0),
    ],
)
def test_lift_without_enough_data_is_undecided_and_serialisable(baseline: RatioSums):
    treatment = RatioSums(100, 20.0, 400.0, 30.0, 2000.0, 100.0)
    for cuped in (False, True):
        lift = relative_lift(baseline, treatment, cuped=cuped)
        assert lift.decision == "undecided"
        assert lift.interval_dict() == {"value": 0.0, "low": -1.0, "high": UNBOUNDED_LIFT}
        json.dumps(lift.interval_dict(), allow_nan=False)


def test_lift_with_no_clicks_yet_in_one_arm_decides_nothing():
    baseline = RatioSums(10, 1.0, 40.0, 1.0, 170.0, 4.0)
    silent = RatioSums(10, 0.0, 40.0, 0.0, 170.0, 0.0)
    for sequential in (True, False):
        assert relative_lift(baseline, silent, sequential=sequential).decision == "undecided"
        assert relative_lift(silent, baseline, sequential=sequential).decision == "undecided"


def test_lift_rejects_bad_parameters():
    sums = RatioSums(10, 1.0, 10.0, 1.0, 10.0, 1.0)
    with pytest.raises(ValueError, match="alpha"):
        relative_lift(sums, sums, alpha=1.5)
    with pytest.raises(ValueError, match="tuning_units"):
        relative_lift(sums, sums, tuning_units=0)


# --- sample ratio mismatch ------------------------------------------------------------------


def test_srm_flags_a_49_51_split_and_not_an_exact_one():
    skewed = srm([49_000, 51_000], [0.5, 0.5])
    assert skewed.mismatch and skewed.p_value < 1e-6
    exact = srm([50_000, 50_000], [1, 1])
    assert exact.to_dict() == {"p_value": 1.0, "mismatch": False}


def test_srm_rarely_flags_a_fair_split():
    rng = np.random.default_rng(2024)
    flagged = sum(
        srm([int(k), 100_000 - int(k)], [0.5, 0.5]).mismatch
        for k in rng.binomial(100_000, 0.5, 1000)
    )
    assert flagged <= 4


def test_srm_normalises_uneven_shares():
    assert not srm([10_000, 30_000], [1, 3]).mismatch
    assert srm([10_000, 30_000], [1, 1]).mismatch


def test_srm_edge_cases():
    assert srm([0, 0], [0.5, 0.5]).to_dict() == {"p_value": 1.0, "mismatch": False}
    assert srm([5, 3], [1, 0]).mismatch
    assert not srm([5, 0], [1, 0]).mismatch
    with pytest.raises(ValueError):
        srm([1, 2], [1.0])
    with pytest.raises(ValueError):
        srm([1, 2], [0, 0])


# --- interleaving preference ----------------------------------------------------------------


@pytest.mark.parametrize("sequential", [True, False])
def test_preference_decides_clear_wins_only(sequential: bool):
    assert preference(600, 400, sequential=sequential).decision == "better"
    assert preference(400, 600, sequential=sequential).decision == "worse"
    assert preference(500, 500, sequential=sequential).decision == "undecided"


def test_preference_fixed_interval_is_wilson():
    pref = preference(600, 400, sequential=False)
    iv = wilson(600, 1000)
    assert (pref.value, pref.low, pref.high) == (iv.value, iv.low, iv.high)
    assert "Wilson" in pref.method


def test_preference_sequential_keeps_false_decisions_rare():
    rng = np.random.default_rng(17)
    wins = np.cumsum(rng.random((200, 20_000)) < 0.5, axis=1)
    looks = np.arange(100, 20_001, 100)
    errs = sum(
        any(
            preference(int(w), int(n - w)).decision != "undecided"
            for w, n in zip(row[looks - 1], looks, strict=True)
        )
        for row in wins
    )
    assert errs / 200 <= 0.08


@pytest.mark.parametrize("sequential", [True, False])
def test_preference_without_requests_is_undecided(sequential: bool):
    pref = preference(0, 0, sequential=sequential)
    assert pref.interval_dict() == {"value": 0.5, "low": 0.0, "high": 1.0}
    assert pref.decision == "undecided"
    json.dumps(pref.interval_dict(), allow_nan=False)


def test_a_single_early_win_decides_nothing():
    assert preference(1, 0).decision == "undecided"
    assert preference(3, 0).decision == "undecided"
