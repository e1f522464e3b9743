"""Online counters: lists, impressions, clicks, conversions and revenue, kept incrementally.

Every change to a served list (served, reported shown, clicked, bought) adds its delta to two
tables keyed by the list's time bucket, scenario, variant and model version: one per list
(with the per-list sums of squares that intervals over lists need) and one per position. A
report sums the cells in its time range and groups them as asked: it reads counters, never
the log.

>>> from freshrec.measurement.lists import ServedList
>>> counters = OnlineCounters(bucket_seconds=60)
>>> served = ServedList("r1", "u1", "home", None, None, "v1", 120.0, 0, ("a", "b"), (2.0, 1.0))
>>> counters.on_served(served)
>>> counters.on_click(served, 1); served.clicked = frozenset({1})
>>> [(g["impressions"], g["clicks"]) for g in counters.report(("scenario",))]
[(2, 1)]
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from freshrec.errors import ValidationError
from freshrec.measurement import stats
from freshrec.measurement.lists import ServedList

GROUP_KEYS = ("scenario", "variant", "model_version", "position")

ListKey = tuple[int, str, str | None, str]  # bucket, scenario, variant, model version
PositionKey = tuple[int, str, str | None, str, int]


@dataclass(slots=True)
class ListCell:
    """Sums over the lists of one key; the ``*_sq`` and cross sums are per list."""

    lists: int = 0
    impressions: int = 0
    clicks: int = 0
    conversions: int = 0
    revenue: float = 0.0
    impressions_sq: int = 0
    clicks_sq: int = 0
    clicks_impressions: int = 0
    revenue_sq: float = 0.0


@dataclass(slots=True)
class PositionCell:
    """Sums over one position of the lists of one key."""

    lists: int = 0
    impressions: int = 0
    clicks: int = 0
    conversions: int = 0
    revenue: float = 0.0


class OnlineCounters:
    """Incremental sums per (time bucket, scenario, variant, model version[, position]).

    Not thread-safe: one owner (``Measurement``'s worker) changes it; readers copy under the
    owner's lock.

    Args:
        bucket_seconds: the time resolution of reports' ``since``/``until``.
    """

    def __init__(self, bucket_seconds: int = 60) -> None:
        self.bucket_seconds = bucket_seconds
        self._lists: dict[ListKey, ListCell] = {}
        self._positions: dict[PositionKey, PositionCell] = {}

    # -- changes ------------------------------------------------------------------------------

    def on_served(self, served: ServedList) -> None:
        """A new list: every item counts as shown until the client reports otherwise."""
        cell = self._list_cell(served)
        size = len(served.items)
        cell.lists += 1
        cell.impressions += size
        cell.impressions_sq += size * size
        for position in range(size):
            spot = self._position_cell(served, position)
            spot.lists += 1
            spot.impressions += 1

    def on_shown(
        self, served: ServedList, before: int, gained: Iterable[int], lost: Iterable[int]
    ) -> None:
        """The list's shown positions changed from ``before`` impressions (gained/lost)."""
        gained, lost = list(gained), list(lost)
        after = before + len(gained) - len(lost)
        cell = self._list_cell(served)
        cell.impressions += after - before
        cell.impressions_sq += after * after - before * before
        cell.clicks_impressions += len(served.clicked) * (after - before)
        for position in gained:
            self._position_cell(served, position).impressions += 1
        for position in lost:
            self._position_cell(served, position).impressions -= 1

    def on_click(self, served: ServedList, position: int) -> None:
        """A first attributed click at ``position`` (call before adding it to ``clicked``)."""
        cell = self._list_cell(served)
        before = len(served.clicked)
        cell.clicks += 1
        cell.clicks_sq += 2 * before + 1
        cell.clicks_impressions += served.impressions
        self._position_cell(served, position).clicks += 1

    def on_purchase(self, served: ServedList, position: int, value: float, first: bool) -> None:
        """An attributed purchase (``first``: the position's first, a conversion)."""
        cell = self._list_cell(served)
        cell.revenue_sq += (served.revenue + value) ** 2 - served.revenue**2
        cell.revenue += value
        spot = self._position_cell(served, position)
        spot.revenue += value
        if first:
            cell.conversions += 1
            spot.conversions += 1

    # -- reads --------------------------------------------------------------------------------

    def report(
        self,
        group_by: Sequence[str],
        since: float | None = None,
        until: float | None = None,
    ) -> list[dict[str, Any]]:
        """Groups of the contract's report (``GET /v1/reports/online``), in key order.

        Args:
            group_by: a subset of ``GROUP_KEYS``; keys not asked for are None in each group.
            since: only lists served at or after this unix time (bucket resolution).
            until: only lists served before this unix time (bucket resolution).

        Raises:
            ValidationError: an unknown key in ``group_by`` (field ``group_by``).
        """
        unknown = [key for key in group_by if key not in GROUP_KEYS]
        if unknown:
            raise ValidationError(
                f"unknown key {unknown[0]!r}; use {', '.join(GROUP_KEYS)}", "group_by"
            )
        wanted = [GROUP_KEYS.index(key) for key in group_by]
        low = None if since is None else int(since // self.bucket_seconds)
        high = None if until is None else int(-(-until // self.bucket_seconds))  # ceil

        def in_range(bucket: int) -> bool:
            return (low is None or bucket >= low) and (high is None or bucket < high)

        groups: dict[tuple[Any, ...], Any] = {}
        if "position" in group_by:
            for key, spot in self._positions.items():
                if in_range(key[0]):
                    name = tuple(key[1:][i] for i in wanted)
                    _add(groups.setdefault(name, PositionCell()), spot)
        else:
            for lkey, cell in self._lists.items():
                if in_range(lkey[0]):
                    name = tuple(lkey[1:][i] for i in wanted)
                    _add(groups.setdefault(name, ListCell()), cell)
        return [
            _group(dict(zip(group_by, name, strict=True)), groups[name])
            for name in sorted(groups, key=_sortable)
        ]

    def series(self, by: Sequence[str] = ("scenario", "variant")) -> list[dict[str, Any]]:
        """Per time bucket and group: lists, impressions, clicks, conversions (the dashboard).

        Raises:
            ValidationError: a key outside scenario, variant, model_version (field ``by``).
        """
        unknown = [key for key in by if key not in GROUP_KEYS[:3]]
        if unknown:
            raise ValidationError(f"unknown key {unknown[0]!r}", "by")
        wanted = [GROUP_KEYS.index(key) for key in by]
        rows: dict[tuple[Any, ...], ListCell] = {}
        for key, cell in self._lists.items():
            _add(rows.setdefault((key[0], *(key[1:][i] for i in wanted)), ListCell()), cell)
        return [
            {
                "time": name[0] * self.bucket_seconds,
                **dict(zip(by, name[1:], strict=True)),
                "lists": cell.lists,
                "impressions": cell.impressions,
                "clicks": cell.clicks,
                "conversions": cell.conversions,
            }
            for name, cell in sorted(rows.items(), key=lambda kv: _sortable(kv[0]))
        ]

    # -- cells --------------------------------------------------------------------------------

    def _bucket(self, served: ServedList) -> int:
        return int(served.served_at // self.bucket_seconds)

    def _list_cell(self, served: ServedList) -> ListCell:
        key = (self._bucket(served), served.scenario, served.variant, served.model_version)
        cell = self._lists.get(key)
        if cell is None:
            cell = self._lists[key] = ListCell()
        return cell

    def _position_cell(self, served: ServedList, position: int) -> PositionCell:
        key = (
            self._bucket(served),
            served.scenario,
            served.variant,
            served.model_version,
            position,
        )
        spot = self._positions.get(key)
        if spot is None:
            spot = self._positions[key] = PositionCell()
        return spot


def _add(total: ListCell | PositionCell, cell: ListCell | PositionCell) -> None:
    """Add ``cell``'s sums into ``total`` (cells of one kind)."""
    for name in cell.__slots__:
        setattr(total, name, getattr(total, name) + getattr(cell, name))


def _sortable(name: tuple[Any, ...]) -> tuple[Any, ...]:
    # None sorts first, beside strings and ints of the same column.
    return tuple((value is not None, value) for value in name)


def _group(keys: dict[str, Any], cell: ListCell | PositionCell) -> dict[str, Any]:
    group: dict[str, Any] = {key: keys.get(key) for key in GROUP_KEYS}
    group.update(
        lists=cell.lists,
        impressions=cell.impressions,
        clicks=cell.clicks,
        conversions=cell.conversions,
        revenue=round(cell.revenue, 6),
        ctr=stats.wilson(cell.clicks, cell.impressions).to_dict(),
        conversion_rate=stats.wilson(cell.conversions, cell.impressions).to_dict(),
    )
    if isinstance(cell, ListCell):
        # Over lists (the unit an answer is): a mean per list, and CTR as a ratio of per-list
        # sums by the delta method (clicks within a list are not independent impressions).
        group["revenue_per_list"] = stats.mean_interval(
            cell.lists, cell.revenue, cell.revenue_sq
        ).to_dict()
        per_list = stats.RatioSums(
            cell.lists,
            cell.clicks,
            cell.impressions,
            cell.clicks_sq,
            cell.impressions_sq,
            cell.clicks_impressions,
        )
        group["ctr_per_list"] = stats.ratio_interval(per_list).to_dict()
    return group
