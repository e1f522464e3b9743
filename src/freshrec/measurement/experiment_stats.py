"""What an experiment has seen, kept incrementally, and its report.

A/B: the unit is the user (the unit of assignment), so a variant keeps per-user clicks,
impressions and a pre-exposure covariate (the user's clicks before their first list in the
experiment, for CUPED) and the running sums a ratio metric needs over users. Interleaving:
the unit is the request; a list is won by the team with more attributed clicks, and the
report gives each team's share of the decided requests.

>>> from freshrec.measurement.experiments import ExperimentSpec
>>> from freshrec.measurement.lists import ServedList
>>> spec = ExperimentSpec.from_dict("e", {"variants": [{"name": "a"}, {"name": "b"}]})
>>> book = ExperimentBook(spec)
>>> served = ServedList("r1", "u1", "home", "e", "a", "v1", 0.0, 0, ("x", "y"), (1.0, 0.5))
>>> book.on_served(served, prior_clicks=0)
>>> book.report()["variants"][0]["users"]
1
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from freshrec.measurement import stats
from freshrec.measurement.experiments import INTERLEAVE, ExperimentSpec
from freshrec.measurement.lists import ServedList

# Latency guardrail: a variant is flagged when its p99 exceeds the baseline's by this factor
# (and by at least LATENCY_FLOOR_MS, so sub-millisecond noise is never a regression).
LATENCY_RATIO = 1.5
LATENCY_FLOOR_MS = 2.0
# Log-spaced latency histogram: 0.05 ms .. ~30 s.
_LATENCY_EDGES_MS = np.geomspace(0.05, 30_000.0, 120)


@dataclass(slots=True)
class ArmSums:
    """Per-user sums of one variant: users, lists, and the ratio clicks / impressions."""

    lists: int = 0
    empty_lists: int = 0
    per_user: dict[str, list[float]] = field(default_factory=dict)  # clicks, impressions, prior
    y: float = 0.0
    x: float = 0.0
    yy: float = 0.0
    xx: float = 0.0
    xy: float = 0.0
    c: float = 0.0
    cc: float = 0.0
    cy: float = 0.0
    cx: float = 0.0
    latency: np.ndarray = field(
        default_factory=lambda: np.zeros(len(_LATENCY_EDGES_MS) + 1, np.int64)
    )

    def enter(self, user_id: str, prior_clicks: float) -> list[float]:
        """The user's sums, created with their covariate on their first list."""
        sums = self.per_user.get(user_id)
        if sums is None:
            sums = self.per_user[user_id] = [0.0, 0.0, prior_clicks]
            self.c += prior_clicks
            self.cc += prior_clicks * prior_clicks
        return sums

    def add_impressions(self, sums: list[float], count: float) -> None:
        """``count`` more (or, negative, fewer) impressions for one user."""
        clicks, shown, prior = sums
        self.x += count
        self.xx += (shown + count) ** 2 - shown * shown
        self.xy += clicks * count
        self.cx += prior * count
        sums[1] = shown + count

    def add_click(self, sums: list[float]) -> None:
        """One more attributed click for one user."""
        clicks, shown, prior = sums
        self.y += 1
        self.yy += 2 * clicks + 1
        self.xy += shown
        self.cy += prior
        sums[0] = clicks + 1

    def forget(self, user_id: str) -> None:
        """Take one user's sums out exactly, as if they had never been in (lists stay counted)."""
        sums = self.per_user.pop(user_id, None)
        if sums is None:
            return
        clicks, shown, prior = sums
        self.y -= clicks
        self.x -= shown
        self.yy -= clicks * clicks
        self.xx -= shown * shown
        self.xy -= clicks * shown
        self.c -= prior
        self.cc -= prior * prior
        self.cy -= prior * clicks
        self.cx -= prior * shown

    def ratio_sums(self) -> stats.RatioSums:
        """Clicks over impressions, with users as the units (and the CUPED covariate)."""
        return stats.RatioSums(
            len(self.per_user),
            self.y,
            self.x,
            self.yy,
            self.xx,
            self.xy,
            self.c,
            self.cc,
            self.cy,
            self.cx,
        )

    def latency_quantile(self, q: float) -> float | None:
        """The ``q`` quantile of answer latency in ms (histogram resolution), None if none."""
        total = int(self.latency.sum())
        if total == 0:
            return None
        index = int(np.searchsorted(np.cumsum(self.latency), q * total))
        return float(_LATENCY_EDGES_MS[min(index, len(_LATENCY_EDGES_MS) - 1)])


class ExperimentBook:
    """The running record of one experiment (owned by ``Measurement``'s worker)."""

    def __init__(self, spec: ExperimentSpec, tuning_units: int = 5_000) -> None:
        self.spec = spec
        self.tuning_units = tuning_units
        self.arms = {variant.name: ArmSums() for variant in spec.variants}
        # Interleaving: requests won by each team, ties, and which team drafted first.
        self.wins = dict.fromkeys(self.arms, 0)
        self.ties = 0
        self.first_picks = dict.fromkeys(self.arms, 0)

    def on_served(
        self, served: ServedList, prior_clicks: float, latency_ms: float | None = None
    ) -> None:
        """A list of this experiment was served."""
        if self.spec.design == INTERLEAVE:
            self._on_interleaved(served)
            return
        arm = self.arms.get(served.variant or "")
        if arm is None:
            return
        arm.lists += 1
        arm.empty_lists += not served.items
        if latency_ms is not None:
            arm.latency[np.searchsorted(_LATENCY_EDGES_MS, latency_ms)] += 1
        sums = arm.enter(served.user_id, prior_clicks)
        arm.add_impressions(sums, len(served.items))

    def forget_user(self, user_id: str) -> None:
        """Take a user out of every variant's per-user sums (``Engine.forget_user``)."""
        for arm in self.arms.values():
            arm.forget(user_id)

    def on_shown(self, served: ServedList, change: int) -> None:
        """The list's impressions changed by ``change`` (a client reported what it showed)."""
        arm = self.arms.get(served.variant or "")
        if arm is not None and self.spec.design != INTERLEAVE:
            arm.add_impressions(arm.enter(served.user_id, 0.0), change)

    def on_click(self, served: ServedList, position: int) -> None:
        """A first click at ``position`` (call before it is added to ``served.clicked``)."""
        if self.spec.design == INTERLEAVE:
            assert served.teams is not None
            before = _winner(served.teams, served.clicked)
            team = served.teams[position]
            self.arms[team].y += 1
            after = _winner(served.teams, served.clicked | {position})
            self._move_win(before, after)
            return
        arm = self.arms.get(served.variant or "")
        if arm is not None:
            arm.add_click(arm.enter(served.user_id, 0.0))

    # -- report -------------------------------------------------------------------------------

    def report(self) -> dict[str, Any]:
        """The contract's ``GET /v1/experiments/{name}`` body."""
        spec = self.spec
        if spec.design == INTERLEAVE:
            return self._interleave_report()
        baseline = spec.variants[0].name
        base_sums = self.arms[baseline].ratio_sums()
        comparisons = []
        for variant in spec.variants[1:]:
            sums = self.arms[variant.name].ratio_sums()
            lift = stats.relative_lift(base_sums, sums, tuning_units=self.tuning_units)
            # The fixed-horizon interval is valid for one look planned in advance only: shown
            # for that look, never to decide by watching it (peeking inflates its errors).
            fixed = stats.relative_lift(base_sums, sums, sequential=False)
            comparison: dict[str, Any] = {
                "variant": variant.name,
                "baseline": baseline,
                "lift": lift.interval_dict(),
                "decision": lift.decision,
                "method": lift.method,
                "fixed_horizon": {"lift": fixed.interval_dict(), "decision": fixed.decision},
            }
            if spec.cuped:
                adjusted = stats.relative_lift(
                    base_sums, sums, tuning_units=self.tuning_units, cuped=True
                )
                comparison["cuped"] = {
                    "lift": adjusted.interval_dict(),
                    "decision": adjusted.decision,
                    "variance_reduction": adjusted.variance_reduction,
                }
            comparisons.append(comparison)
        users = [len(self.arms[v.name].per_user) for v in spec.variants]
        return {
            **self._head(),
            "variants": [self._arm_row(v.name, v.share) for v in spec.variants],
            "comparisons": comparisons,
            "srm": stats.srm(users, [v.share for v in spec.variants]).to_dict(),
            "guardrails": self._guardrails(baseline),
        }

    def _head(self) -> dict[str, Any]:
        spec = self.spec
        return {
            "name": spec.name,
            "scenario": spec.scenario,
            "design": spec.design,
            "status": spec.status,
            "created_at": spec.created_at,
        }

    def _arm_row(self, name: str, share: float) -> dict[str, Any]:
        arm = self.arms[name]
        return {
            "name": name,
            "share": share,
            "users": len(arm.per_user),
            "lists": arm.lists,
            "impressions": int(arm.x),
            "clicks": int(arm.y),
            "ctr": stats.wilson(int(arm.y), int(arm.x)).to_dict(),
        }

    def _guardrails(self, baseline: str) -> list[dict[str, Any]]:
        """Empty answers (a Wilson interval apart) and latency p99 per variant."""
        base = self.arms[baseline]
        base_empty = stats.wilson(base.empty_lists, base.lists)
        base_p99 = base.latency_quantile(0.99)
        rows = []
        for name, arm in self.arms.items():
            empty = stats.wilson(arm.empty_lists, arm.lists)
            p99 = arm.latency_quantile(0.99)
            rows.append(
                {
                    "variant": name,
                    "empty_answers": arm.empty_lists,
                    "empty_share": empty.to_dict(),
                    "empty_worse": name != baseline and empty.low > base_empty.high,
                    "latency_p50_ms": arm.latency_quantile(0.5),
                    "latency_p99_ms": p99,
                    "latency_worse": name != baseline
                    and p99 is not None
                    and base_p99 is not None
                    and p99 > LATENCY_RATIO * base_p99
                    and p99 - base_p99 > LATENCY_FLOOR_MS,
                }
            )
        return rows

    # -- interleaving -------------------------------------------------------------------------

    def _on_interleaved(self, served: ServedList) -> None:
        if not served.teams:
            return
        self.first_picks[served.teams[0]] = self.first_picks.get(served.teams[0], 0) + 1
        for team in set(served.teams):
            self.arms[team].lists += 1
        for team in served.teams:
            self.arms[team].x += 1
        self.arms[served.teams[0]].enter(served.user_id, 0.0)  # users: who saw the merge
        self.ties += 1  # no clicks yet: a tie until one comes

    def _move_win(self, before: str | None, after: str | None) -> None:
        if before == after:
            return
        if before is None:
            self.ties -= 1
        else:
            self.wins[before] -= 1
        if after is None:
            self.ties += 1
        else:
            self.wins[after] += 1

    def _interleave_report(self) -> dict[str, Any]:
        spec = self.spec
        baseline, treatment = (v.name for v in spec.variants)
        share = stats.preference(
            self.wins[treatment], self.wins[baseline], tuning_units=self.tuning_units
        )
        preference = share.interval_dict()
        lift = {key: round(value - 0.5, 6) for key, value in preference.items()}
        users = {u for arm in self.arms.values() for u in arm.per_user}
        rows = []
        for variant in spec.variants:
            row = self._arm_row(variant.name, variant.share)
            row["users"] = len(users)
            row["wins"] = self.wins[variant.name]
            rows.append(row)
        return {
            **self._head(),
            "variants": rows,
            "ties": self.ties,
            "comparisons": [
                {
                    "variant": treatment,
                    "baseline": baseline,
                    # Share of decided requests won, minus an even split.
                    "lift": lift,
                    "preference": preference,
                    "decision": share.decision,
                    "method": share.method,
                }
            ],
            # Team draft flips a fair coin for the first pick: a skew means a broken merge.
            "srm": stats.srm(
                [self.first_picks[v.name] for v in spec.variants], [0.5, 0.5]
            ).to_dict(),
        }


def _winner(teams: Sequence[str], clicked: frozenset[int]) -> str | None:
    """The team with more clicks among ``clicked`` positions (None: a tie or no clicks)."""
    counts: dict[str, int] = {}
    for position in clicked:
        counts[teams[position]] = counts.get(teams[position], 0) + 1
    if not counts:
        return None
    ranked = sorted(counts.values(), reverse=True)
    if len(ranked) > 1 and ranked[0] == ranked[1]:
        return None
    return max(counts, key=lambda team: counts[team])
