"""Served lists and the index of those still open for attribution.

A *served list* is one answer as a user got it: its recommendation id, who asked, which
scenario, experiment and variant answered, the model version, when, at which log offset, and
the items with their scores (and, for randomised or interleaved answers, each item's
propensity or drafting team). It is the unit every online metric counts.

A list stays *open* (events can be attributed to it) for the attribution window after it was
served, and the index holds at most ``max_lists`` of them: memory is bounded by traffic over
the window, never by history.

>>> lists = OpenLists(window_seconds=60.0, max_lists=10)
>>> lists.add(ServedList("r1", "u1", "home", None, None, "v1", 100.0, 0, ("a", "b"), (2.0, 1.0)))
>>> lists.by_id("r1").position_of("b")
1
>>> lists.newest_holding("u1", "a", at=130.0).recommendation_id
'r1'
>>> lists.newest_holding("u1", "a", at=200.0) is None  # past the window
True
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass

# An event stamped a little before the list it follows still belongs to it: client clocks
# run behind the server's by a few seconds (seen in the simulator's jitter and on phones).
CLOCK_SKEW_SECONDS = 60.0
NOTHING: frozenset[int] = frozenset()
# Open lists per user: a crawler asking thousands of times cannot make attribution scan them
# all (its oldest lists close first).
MAX_LISTS_PER_USER = 100


@dataclass(slots=True)
class ServedList:
    """One answer as served, and what has been attributed to it so far.

    Attributes:
        recommendation_id: the answer's id (unique).
        user_id: who asked.
        scenario: which scenario answered.
        experiment: the experiment whose variant answered (None outside experiments).
        variant: the variant that answered (None outside experiments; ``"interleaved"`` for
            a team-draft merge, whose items carry ``teams``).
        model_version: the serving model version.
        served_at: unix seconds.
        offset: the log offset of the last event attributed before the list opened (set by
            ``Measurement.record``): a restart opens it right after that event again.
        items: item ids, position 0 first.
        scores: the score of each item, same order.
        propensities: each item's probability of being placed where it was (randomised
            lists only), same order.
        teams: the variant that drafted each item (interleaved lists only), same order.
        shown: positions the client reported as shown (None: the whole list counts).
        clicked: positions with an attributed click.
        converted: positions with an attributed purchase.
        revenue: attributed purchase value.
    """

    recommendation_id: str
    user_id: str
    scenario: str
    experiment: str | None
    variant: str | None
    model_version: str
    served_at: float
    offset: int
    items: tuple[str, ...]
    scores: tuple[float, ...]
    propensities: tuple[float, ...] | None = None
    teams: tuple[str, ...] | None = None
    shown: set[int] | None = None
    # Frozen and shared while empty: most lists get no click, and one less container per
    # list is one less object for every full garbage collection to walk (200k open lists).
    clicked: frozenset[int] = NOTHING
    converted: frozenset[int] = NOTHING
    revenue: float = 0.0

    def position_of(self, item_id: str) -> int | None:
        """The item's 0-based position in the list, or None when it is not in it."""
        try:
            return self.items.index(item_id)
        except ValueError:
            return None

    def is_shown(self, position: int) -> bool:
        """Whether the item at ``position`` counts as an impression."""
        return self.shown is None or position in self.shown

    @property
    def impressions(self) -> int:
        """How many of the list's items count as shown."""
        return len(self.items) if self.shown is None else len(self.shown)


class OpenLists:
    """Served lists open for attribution: by recommendation id and by user, newest last.

    Args:
        window_seconds: how long after serving a list can be credited.
        max_lists: at most this many lists are held (the oldest are closed first).
    """

    def __init__(self, window_seconds: float, max_lists: int) -> None:
        self.window_seconds = window_seconds
        self.max_lists = max_lists
        self._by_id: OrderedDict[str, ServedList] = OrderedDict()  # serving order
        self._by_user: dict[str, list[ServedList]] = {}
        self._newest = float("-inf")

    def __len__(self) -> int:
        return len(self._by_id)

    def __iter__(self) -> Iterator[ServedList]:
        return iter(self._by_id.values())

    def add(self, served: ServedList) -> None:
        """Open ``served``; close lists past the window or over the count."""
        self._by_id[served.recommendation_id] = served
        held = self._by_user.setdefault(served.user_id, [])
        held.append(served)
        if len(held) > MAX_LISTS_PER_USER:
            del self._by_id[held.pop(0).recommendation_id]
        self._newest = max(self._newest, served.served_at)
        self._close_old()

    def forget_user(self, user_id: str) -> None:
        """Drop every open list of ``user_id``."""
        for served in self._by_user.pop(user_id, []):
            self._by_id.pop(served.recommendation_id, None)

    def by_id(self, recommendation_id: str) -> ServedList | None:
        """The open list with this id, or None (never served, or closed)."""
        return self._by_id.get(recommendation_id)

    def newest_holding(self, user_id: str, item_id: str, at: float) -> ServedList | None:
        """The newest list served to ``user_id`` holding ``item_id`` within the window of ``at``.

        A list served after ``at`` (beyond the clock skew allowed) cannot have caused an
        event at ``at``.
        """
        for served in reversed(self._by_user.get(user_id, ())):
            if served.served_at > at + CLOCK_SKEW_SECONDS:
                continue
            if served.served_at < at - self.window_seconds:
                return None  # older ones are older still
            if item_id in served.items:
                return served
        return None

    def _close_old(self) -> None:
        horizon = self._newest - self.window_seconds
        by_id = self._by_id
        while by_id:
            oldest = next(iter(by_id.values()))
            if len(by_id) <= self.max_lists and oldest.served_at >= horizon:
                return
            del by_id[oldest.recommendation_id]
            held = self._by_user[oldest.user_id]
            held.remove(oldest)  # the oldest of the user's lists: at the front
            if not held:
                del self._by_user[oldest.user_id]
