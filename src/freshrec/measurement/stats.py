"""Intervals and tests for online experiments, computed from running sums per arm.

Ratio metrics get delta-method variances (optionally CUPED); lifts and interleaving preferences
get a fixed-horizon interval or an always-valid confidence sequence. All results are finite.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from scipy import stats as sps
from statsmodels.stats.proportion import proportion_confint

DEFAULT_TUNING_UNITS = 5000  # units at which a confidence sequence is tightest (GrowthBook's)
UNBOUNDED_LIFT = 1e6  # upper bound of a lift that cannot be estimated: +inf is not JSON

_SEQUENTIAL = "asymptotic confidence sequence (Waudby-Smith et al. 2024), tuned at n={}"


@dataclass(frozen=True, slots=True)
class Interval:
    """A point estimate with a two-sided interval, ``low <= value <= high``."""

    value: float
    low: float
    high: float

    def to_dict(self) -> dict[str, float]:
        """Return ``{"value", "low", "high"}`` rounded to 6 digits."""
        return _rounded(self.value, self.low, self.high)


def wilson(successes: int, trials: int, alpha: float = 0.05) -> Interval:
    """Return the share ``successes / trials`` with its Wilson interval ((0, 0, 1) for no trials).

    Raises:
        ValueError: when counts are negative, ``successes > trials`` or alpha is not in (0, 1).

    >>> iv = wilson(81, 263)
    >>> round(iv.value, 4), round(iv.low, 4), round(iv.high, 4)
    (0.308, 0.2553, 0.3662)
    """
    _check_alpha(alpha)
    if successes < 0 or trials < 0 or successes > trials:
        raise ValueError(f"need 0 <= successes <= trials, got {successes}/{trials}")
    if trials == 0:
        return Interval(0.0, 0.0, 1.0)
    low, high = proportion_confint(successes, trials, alpha=alpha, method="wilson")
    return Interval(successes / trials, float(low), float(high))


def mean_interval(units: int, total: float, total_sq: float, alpha: float = 0.05) -> Interval:
    """Return the per-unit mean ``total / units`` with its normal (CLT) interval.

    The half-width is ``z_{1-alpha/2} * sqrt(s² / units)`` with the sample variance
    ``s² = (Σv² - (Σv)² / n) / (n - 1)``. Fewer than two units carry no spread, so the
    interval collapses onto the value (0.0 for no units); read it together with ``units``.

    >>> mean_interval(4, 10.0, 30.0).to_dict()
    {'value': 2.5, 'low': 1.234849, 'high': 3.765151}
    """
    _check_alpha(alpha)
    if units < 2:
        value = total / units if units == 1 else 0.0
        return Interval(value, value, value)
    mean = total / units
    half = _z(alpha) * math.sqrt(max(_cov(total_sq, total, total, units), 0.0) / units)
    return Interval(mean, mean - half, mean + half)


@dataclass(frozen=True, slots=True)
class RatioSums:
    """Per-unit sums for a ratio metric Σy / Σx over independent units (e.g. users).

    ``y`` and ``x`` are the per-unit numerator and denominator (clicks, impressions); ``yy``,
    ``xx``, ``xy`` sum their squares and products over units. ``c`` is an optional covariate
    measured before first exposure (the user's earlier clicks), with ``cc``, ``cy``, ``cx``
    the matching sums; all zero means no covariate.
    """

    units: int
    y: float
    x: float
    yy: float
    xx: float
    xy: float
    c: float = 0.0
    cc: float = 0.0
    cy: float = 0.0
    cx: float = 0.0

    @property
    def ratio(self) -> float:
        """Return ``Σy / Σx`` (0.0 when ``Σx`` is 0)."""
        return self.y / self.x if self.x else 0.0

    def ratio_variance(self) -> float:
        """Return the delta-method variance ``(var(y) - 2 r cov(x,y) + r² var(x)) / (n x̄²)``.

        Sample (co)variances over units: one user's clicks are correlated, so impressions are
        not independent trials. Infinite with fewer than two units or no denominator.
        """
        return self.cuped_ratio_variance(theta=0.0)

    def cuped_theta(self) -> float:
        """Return this arm's CUPED ``θ = cov(l, c) / var(c)`` (0.0 if ``c`` does not vary).

        ``l = (y - r x) / x̄`` is the ratio linearised per unit: ``r̂ - r ≈ mean(l)``.
        """
        _, cov_lc, var_c = self._linearised()
        return cov_lc / var_c if var_c > 0 else 0.0

    def cuped_ratio_variance(self, theta: float | None = None) -> float:
        """Return the variance of the CUPED-adjusted ratio ``r̂ - θ (c̄ - μ_c)``.

        ``var(l - θ c) / n``; with this arm's own θ (``theta=None``) that is
        ``var(l) (1 - ρ²) / n``, ρ the correlation of ``l`` and ``c`` (Deng et al. 2013,
        linearised for ratios as in Deng, Knoblich & Lu 2018). Infinite when the ratio
        cannot be estimated (fewer than two units or ``Σx == 0``).
        """
        if self.units < 2 or not self.x:
            return math.inf
        var_l, cov_lc, var_c = self._linearised()
        t = self.cuped_theta() if theta is None else theta
        return max(var_l - 2 * t * cov_lc + t * t * var_c, 0.0) / self.units

    def cuped_ratio(self, theta: float, covariate_mean: float) -> float:
        """Return ``r̂ - θ (c̄ - covariate_mean)``, the mean taken over all arms."""
        if self.units == 0:
            return self.ratio
        return self.ratio - theta * (self.c / self.units - covariate_mean)

    def _linearised(self) -> tuple[float, float, float]:
        """Return ``(var(l), cov(l, c), var(c))`` from the sums (zeros when undefined)."""
        n = self.units
        if n < 2 or not self.x:
            return 0.0, 0.0, 0.0
        r, x_bar = self.ratio, self.x / n
        var_l = (
            _cov(self.yy, self.y, self.y, n)
            - 2 * r * _cov(self.xy, self.x, self.y, n)
            + r * r * _cov(self.xx, self.x, self.x, n)
        ) / x_bar**2
        cov_lc = (_cov(self.cy, self.c, self.y, n) - r * _cov(self.cx, self.c, self.x, n)) / x_bar
        return var_l, cov_lc, _cov(self.cc, self.c, self.c, n)


def ratio_interval(sums: RatioSums, alpha: float = 0.05) -> Interval:
    """Return ``Σy / Σx`` with its normal interval from the delta-method variance.

    Fewer than two units (or ``Σx == 0``) collapse the interval onto the value, as in
    :func:`mean_interval`.

    >>> ratio_interval(RatioSums(100, 20.0, 400.0, 30.0, 1700.0, 90.0)).to_dict()
    {'value': 0.05, 'low': 0.025254, 'high': 0.074746}
    """
    _check_alpha(alpha)
    value, variance = sums.ratio, sums.ratio_variance()
    half = _z(alpha) * math.sqrt(variance) if math.isfinite(variance) else 0.0
    return Interval(value, value - half, value + half)


@dataclass(frozen=True, slots=True)
class Lift:
    """Relative lift of treatment over baseline (+0.12 = +12 %) with its interval.

    ``decision``: "better" iff ``low > 0``, "worse" iff ``high < 0``, else "undecided";
    ``variance_reduction``: share of the lift's variance CUPED removed (None without CUPED).
    """

    value: float
    low: float
    high: float
    decision: str
    method: str
    variance_reduction: float | None = None

    def interval_dict(self) -> dict[str, float]:
        """Return ``{"value", "low", "high"}`` rounded to 6 digits."""
        return _rounded(self.value, self.low, self.high)


def relative_lift(
    baseline: RatioSums,
    treatment: RatioSums,
    alpha: float = 0.05,
    sequential: bool = True,
    tuning_units: int = DEFAULT_TUNING_UNITS,
    cuped: bool = False,
) -> Lift:
    """Return the lift ``r_t / r_b - 1`` of two ratio metrics with its interval.

    The variance is the delta method's ``var_t / r_b² + r_t² var_b / r_b⁴`` (arms independent).
    ``sequential=False`` gives the fixed-horizon normal interval ``±z σ̂``, valid for one look
    planned in advance. ``sequential=True`` gives the two-sided asymptotic confidence sequence
    of Waudby-Smith et al., "Time-uniform central limit theory and asymptotic confidence
    sequences" (Annals of Statistics 2024, arXiv:2103.06476, eq. 9), as GrowthBook documents
    and implements it (https://docs.growthbook.io/statistics/sequential): with ``n`` the units
    of both arms and ``σ̂² n`` the per-unit variance,

        half-width = σ̂ sqrt(2 (n ρ² + 1) / (n ρ²) · ln(sqrt(n ρ² + 1) / α)),
        ρ² = (-2 ln α + ln(1 - 2 ln α)) / tuning_units,

    which holds at every n at once, so it may be checked after every event. ``tuning_units``
    is where it is tightest (about 1.55× the fixed interval at alpha 0.05); fix it per
    experiment. ``cuped=True`` adjusts both ratios with one θ pooled over the arms.

    Fewer than two units in an arm, a zero baseline or a zero variance estimate (no clicks
    yet in an arm) give value 0.0 in ``[-1, UNBOUNDED_LIFT]``, "undecided".

    Raises:
        ValueError: when alpha is not in (0, 1) or ``tuning_units < 1``.

    >>> a = RatioSums(units=1000, y=500, x=10_000, yy=900, xx=110_000, xy=5_500)
    >>> b = RatioSums(units=1000, y=600, x=10_000, yy=1_100, xx=110_000, xy=6_600)
    >>> lift = relative_lift(a, b, sequential=False)
    >>> lift.interval_dict(), lift.decision
    ({'value': 0.2, 'low': 0.042928, 'high': 0.357072}, 'better')
    """
    _check_alpha(alpha)
    if tuning_units < 1:
        raise ValueError(f"tuning_units must be >= 1, got {tuning_units}")
    interval = _SEQUENTIAL.format(tuning_units) if sequential else "fixed-horizon normal interval"
    method = f"relative lift, delta method, {interval}" + (", CUPED" if cuped else "")
    unknown = Lift(0.0, -1.0, UNBOUNDED_LIFT, "undecided", method, 0.0 if cuped else None)
    if min(baseline.units, treatment.units) < 2 or baseline.ratio <= 0 or not treatment.x:
        return unknown
    r_b, r_t = baseline.ratio, treatment.ratio
    variance = _lift_variance(r_b, r_t, baseline.ratio_variance(), treatment.ratio_variance())
    reduction = None
    if cuped:
        theta = _pooled_theta(baseline, treatment)
        mu_c = (baseline.c + treatment.c) / (baseline.units + treatment.units)
        r_b, r_t = baseline.cuped_ratio(theta, mu_c), treatment.cuped_ratio(theta, mu_c)
        if r_b <= 0:
            return unknown
        plain = variance
        variance = _lift_variance(
            r_b, r_t, baseline.cuped_ratio_variance(theta), treatment.cuped_ratio_variance(theta)
        )
        reduction = 1.0 - variance / plain if plain > 0 else 0.0
    if not variance > 0:  # e.g. no clicks yet in one arm: no spread, no evidence
        return unknown
    value = r_t / r_b - 1.0
    n = baseline.units + treatment.units
    half = _half_width(math.sqrt(variance), n, alpha, sequential, tuning_units)
    low, high = value - half, value + half
    return Lift(value, low, high, _decide(low, high, 0.0), method, reduction)


@dataclass(frozen=True, slots=True)
class SrmResult:
    """Sample-ratio-mismatch check: ``mismatch`` iff ``p_value`` is below the threshold."""

    p_value: float
    mismatch: bool

    def to_dict(self) -> dict[str, float | bool]:
        """Return ``{"p_value", "mismatch"}`` (p-value rounded to 6 significant digits)."""
        return {"p_value": float(f"{self.p_value:.6g}"), "mismatch": self.mismatch}


def srm(counts: Sequence[int], shares: Sequence[float], threshold: float = 0.001) -> SrmResult:
    """Test observed arm sizes against the configured traffic shares (Pearson χ²).

    Shares are normalised to sum to 1. No units at all give p-value 1.0; units in an arm
    with share 0 are a mismatch by definition (p-value 0.0).

    Raises:
        ValueError: when lengths differ, a count or share is negative, or all shares are 0.

    >>> srm([49_000, 51_000], [0.5, 0.5]).mismatch, srm([50_000, 50_000], [1, 1]).mismatch
    (True, False)
    """
    if len(counts) != len(shares):
        raise ValueError(f"{len(counts)} counts but {len(shares)} shares")
    if any(c < 0 for c in counts) or any(s < 0 for s in shares) or not sum(shares):
        raise ValueError("counts and shares must be non-negative, with some share > 0")
    total, share_sum = sum(counts), float(sum(shares))
    if any(c > 0 and s == 0 for c, s in zip(counts, shares, strict=True)):
        return SrmResult(0.0, True)
    arms = [(c, s / share_sum) for c, s in zip(counts, shares, strict=True) if s > 0]
    if total == 0 or len(arms) < 2:
        return SrmResult(1.0, False)
    observed, expected = [float(c) for c, _ in arms], [s * total for _, s in arms]
    p_value = float(sps.chisquare(observed, expected).pvalue)
    return SrmResult(p_value, p_value < threshold)


@dataclass(frozen=True, slots=True)
class Preference:
    """Treatment's share of decided interleaved requests; "better" iff ``low > 0.5`` etc."""

    value: float
    low: float
    high: float
    decision: str
    method: str

    def interval_dict(self) -> dict[str, float]:
        """Return ``{"value", "low", "high"}`` rounded to 6 digits."""
        return _rounded(self.value, self.low, self.high)


def preference(
    wins_treatment: int,
    wins_baseline: int,
    alpha: float = 0.05,
    sequential: bool = True,
    tuning_units: int = DEFAULT_TUNING_UNITS,
) -> Preference:
    """Return the treatment's share of team-draft interleaving wins (ties left out).

    ``sequential=False`` gives the Wilson interval; ``sequential=True`` the confidence sequence
    of :func:`relative_lift` for a Bernoulli mean, clipped to [0, 1], with the per-request
    standard deviation at its bound 1/2: exact under the null of no preference, and honest at
    small n where ``p̂ (1 - p̂)`` can be 0. No decided requests give 0.5 in [0, 1].

    Raises:
        ValueError: when a count is negative, alpha is not in (0, 1) or ``tuning_units < 1``.

    >>> preference(600, 400).decision, preference(500, 500).decision
    ('better', 'undecided')
    """
    _check_alpha(alpha)
    if wins_treatment < 0 or wins_baseline < 0 or tuning_units < 1:
        raise ValueError("wins must be >= 0 and tuning_units >= 1")
    n = wins_treatment + wins_baseline
    if not sequential:
        method = "interleaving preference, Wilson interval"
        iv = wilson(wins_treatment, n, alpha)
        value, low, high = (iv.value, iv.low, iv.high) if n else (0.5, 0.0, 1.0)
    else:
        method = "interleaving preference, " + _SEQUENTIAL.format(tuning_units)
        value = wins_treatment / n if n else 0.5
        half = _half_width(0.5 / math.sqrt(n), n, alpha, True, tuning_units) if n else 1.0
        low, high = max(value - half, 0.0), min(value + half, 1.0)
    return Preference(value, low, high, _decide(low, high, 0.5), method)


def _half_width(se: float, n: int, alpha: float, sequential: bool, tuning_units: int) -> float:
    """Return the interval half-width for an estimator with standard error ``se``."""
    if not sequential:
        return _z(alpha) * se
    log_alpha = math.log(alpha)
    t = n * (-2 * log_alpha + math.log(1 - 2 * log_alpha)) / tuning_units  # n ρ²
    return se * math.sqrt(2 * (t + 1) / t * math.log(math.sqrt(t + 1) / alpha))


def _lift_variance(r_b: float, r_t: float, var_b: float, var_t: float) -> float:
    """Return the delta-method variance of ``r_t / r_b - 1`` for independent arms."""
    return var_t / r_b**2 + r_t**2 * var_b / r_b**4


def _pooled_theta(a: RatioSums, b: RatioSums) -> float:
    """Return the CUPED θ from the within-arm (co)variances pooled over both arms."""
    (_, cov_a, var_a), (_, cov_b, var_b) = a._linearised(), b._linearised()
    denominator = (a.units - 1) * var_a + (b.units - 1) * var_b
    return ((a.units - 1) * cov_a + (b.units - 1) * cov_b) / denominator if denominator else 0.0


def _cov(sum_ab: float, sum_a: float, sum_b: float, n: int) -> float:
    """Return the sample covariance (n - 1 denominator) from sums over ``n >= 2`` units."""
    return (sum_ab - sum_a * sum_b / n) / (n - 1)


def _z(alpha: float) -> float:
    return float(sps.norm.ppf(1 - alpha / 2))


def _decide(low: float, high: float, null: float) -> str:
    return "better" if low > null else "worse" if high < null else "undecided"


def _check_alpha(alpha: float) -> None:
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")


def _rounded(value: float, low: float, high: float) -> dict[str, float]:
    return {"value": round(value, 6), "low": round(low, 6), "high": round(high, 6)}
