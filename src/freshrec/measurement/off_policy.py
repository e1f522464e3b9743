"""Off-policy estimates: the CTR another configuration would get, from randomised lists.

A share of served lists is drawn by Plackett-Luce (``measurement.exploration_share``) and
logged with each shown item's propensity: the probability that the logging policy put that
item at that position. A *target* configuration is evaluated by replaying the event log
through an engine with its settings; at each randomised list's offset the target ranks for
that user, and wherever it would show the logged item at the same position, that position's
outcome counts with weight ``1 / propensity`` (the item-position model: a click depends on
the item and its position, which is how position bias enters).

With lists ``l``, positions ``k``, ``w_lk = 1[target_lk = logged_lk] / p_lk`` and clicks
``c_lk``:

- IPS (Horvitz-Thompson): ``CTR = mean_l (sum_k w_lk c_lk) / n_l``, unbiased when every item
  the target shows could have been drawn there; a normal interval over lists.
- SNIPS (self-normalised, Swaminathan and Joachims 2015): ``CTR = sum w c / sum w``, a little
  biased but far less variable; its interval is the delta method's for a ratio with lists as
  the units.

Clicks are attributed by ``recommendation_id`` (events carrying it, on an item of that list,
from the list's user).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from freshrec.config import EngineConfig
from freshrec.engine import Engine
from freshrec.measurement import stats
from freshrec.measurement.lists import ServedList
from freshrec.types import Event, Item


@dataclass(frozen=True, slots=True)
class OffPolicyEstimate:
    """The target's estimated clicks per impression, two ways, with 95 % intervals."""

    lists: int  # randomised lists evaluated
    matched: int  # positions where the target shows the logged item
    positions: int  # positions evaluated
    ips: stats.Interval
    snips: stats.Interval

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (what ``freshrec experiment estimate --json`` prints)."""
        return {
            "lists": self.lists,
            "matched_positions": self.matched,
            "positions": self.positions,
            "ips": self.ips.to_dict(),
            "snips": self.snips.to_dict(),
        }


def estimate_ctr(
    events: Iterable[tuple[int, Event]],
    lists: Iterable[ServedList],
    items: Sequence[Item],
    target: EngineConfig,
    click_types: frozenset[str] = frozenset({"click", "like", "cart"}),
) -> OffPolicyEstimate:
    """Estimate the CTR ``target`` would have had on the randomised ``lists``.

    Args:
        events: the event log as ``(offset, event)`` in offset order (offsets from 1).
        lists: served lists; those without propensities (not randomised) are skipped.
        items: the catalogue to load first.
        target: the settings to evaluate.
        click_types: event types that count as clicks.
    """
    randomised = sorted((s for s in lists if s.propensities is not None), key=lambda s: s.offset)
    index = {s.recommendation_id: s for s in randomised}
    weights: dict[str, list[float]] = {}  # per list: 1/p where the target agrees, else 0
    clicked: set[tuple[str, int]] = set()
    position = 0  # next list to evaluate
    with Engine.open(None, target, background_training=False) as engine:
        engine.upsert_items(item.to_dict() for item in items)
        pending: list[dict[str, Any]] = []

        def evaluate_until(offset: int) -> None:
            nonlocal position, pending
            while position < len(randomised) and randomised[position].offset <= offset:
                if pending:
                    engine.ingest(pending)
                    pending = []
                weights.update(_weights(engine, randomised[position]))
                position += 1

        for offset, event in events:
            evaluate_until(offset - 1)  # lists that reflect every event before this one
            pending.append(event._asdict())
            if event.recommendation_id is not None and event.type in click_types:
                served = index.get(event.recommendation_id)
                if served is not None and served.user_id == event.user_id:
                    spot = served.position_of(event.item_id)
                    if spot is not None:
                        clicked.add((served.recommendation_id, spot))
        evaluate_until(2**62)
    return _combine(randomised, weights, clicked)


def _weights(engine: Engine, served: ServedList) -> dict[str, list[float]]:
    assert served.propensities is not None
    ranked = engine.recommend_ids(served.user_id, len(served.items), served.scenario)
    row = [
        1.0 / p if k < len(ranked) and ranked[k] == item else 0.0
        for k, (item, p) in enumerate(zip(served.items, served.propensities, strict=True))
    ]
    return {served.recommendation_id: row}


def _combine(
    randomised: list[ServedList],
    weights: dict[str, list[float]],
    clicked: set[tuple[str, int]],
) -> OffPolicyEstimate:
    units = 0
    a_sum = b_sum = aa = bb = ab = 0.0
    ips_sum = ips_sq = 0.0
    matched = positions = 0
    for served in randomised:
        row = weights.get(served.recommendation_id)
        if row is None or not row:
            continue
        a = sum(w for k, w in enumerate(row) if (served.recommendation_id, k) in clicked)
        b = sum(row)
        units += 1
        a_sum, b_sum = a_sum + a, b_sum + b
        aa, bb, ab = aa + a * a, bb + b * b, ab + a * b
        per_impression = a / len(row)
        ips_sum, ips_sq = ips_sum + per_impression, ips_sq + per_impression**2
        matched += sum(w > 0 for w in row)
        positions += len(row)
    snips = stats.ratio_interval(stats.RatioSums(units, a_sum, b_sum, aa, bb, ab))
    ips = stats.mean_interval(units, ips_sum, ips_sq)
    return OffPolicyEstimate(units, matched, positions, _non_negative(ips), _non_negative(snips))


def _non_negative(interval: stats.Interval) -> stats.Interval:
    """A CTR is never below 0: a normal interval's lower end is clipped there."""
    return stats.Interval(interval.value, max(interval.low, 0.0), interval.high)
