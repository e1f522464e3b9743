"""Measurement: served lists in, events attributed to them, counters and experiments out.

The engine hands it each served list (``record``) and, after they are applied, each batch
of events with its log offset (``on_events``). Both take this object's own mutex for a few
dictionary updates and queue the durable write to the ``ListLog`` (committed by its own
thread): nothing here takes the engine's locks, and reports read counters, never the logs.

Attribution (DESIGN.md, "Measurement"): an event with a ``recommendation_id`` is credited to
that list at the item's position, if the item is in it; an event without one, to the newest
list served to the same user that holds the item within the attribution window. A position
counts one click and one conversion however many click-like or purchase events it gets;
every purchase's value adds to revenue.

On start-up ``restore`` rebuilds everything from the two logs, merged by log offset: a list
that reflected offset *o* is opened before the event at offset *o* + 1 is attributed, exactly
as it was live.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterator, Sequence
from typing import Any

from freshrec.config import EngineConfig, MeasurementConfig
from freshrec.errors import ConflictError, NotFoundError, StoreUnavailableError, ValidationError
from freshrec.measurement.counters import OnlineCounters
from freshrec.measurement.experiment_stats import ExperimentBook
from freshrec.measurement.experiments import INTERLEAVE, RUNNING, ExperimentSpec
from freshrec.measurement.exploration import FloatArray, IntArray
from freshrec.measurement.lists import OpenLists, ServedList
from freshrec.measurement.log import ListLog
from freshrec.types import Event, check_id


class Measurement:
    """Owns the open lists, the counters, the experiments and the measurement log.

    Args:
        config: measurement settings.
        log: where lists, shown reports and experiments are kept durably.
        engine_config: the engine's settings, the base every variant overrides.
    """

    def __init__(
        self, config: MeasurementConfig, log: ListLog, engine_config: EngineConfig
    ) -> None:
        self.config = config
        self.log = log
        self.engine_config = engine_config
        self._lock = threading.Lock()
        self._open = OpenLists(config.attribution_window_seconds, config.max_open_lists)
        self._counters = OnlineCounters(config.bucket_seconds)
        self._books: dict[str, ExperimentBook] = {}
        # The running experiment of each scenario: read without the lock by every answer
        # (one dict lookup; replaced whole when an experiment starts or stops).
        self._running: dict[str, ExperimentSpec] = {}
        # Users' click-like events so far: the CUPED covariate, read at a user's first list
        # in an experiment (so it is pre-exposure). One int per clicking user.
        self._clicks_before: dict[str, int] = defaultdict(int)
        # The log offset of the last event attributed: each list is stamped with it when it
        # opens, so a restart opens it between the same two events as it was live.
        self._attributed_through = 0
        self.attributed = 0  # events credited to a list
        self.unattributed = 0  # click-like or purchase events that matched no open list
        self._restoring: Iterator[tuple[ServedList, float | None]] | None = None
        self._next_list: tuple[ServedList, float | None] | None = None
        self._shown_later: dict[str, list[tuple[list[str], float]]] = {}

    # -- the request path ---------------------------------------------------------------------

    def running_for(self, scenario: str) -> ExperimentSpec | None:
        """The experiment running over ``scenario``, if any (lock-free; None when off)."""
        return self._running.get(scenario) if self.config.enabled else None

    def record(
        self,
        served: ServedList,
        latency_ms: float | None = None,
        explored: tuple[FloatArray, IntArray] | None = None,
    ) -> None:
        """A list was served: count it, open it for attribution and queue it for the log.

        ``explored``: a randomised list's Plackett-Luce log-weights and drawn positions; the
        log's writer computes the shown items' propensities from them.
        """
        if not self.config.enabled:
            return
        with self._lock:
            served.offset = self._attributed_through
            self._open_list(served, latency_ms)
            # Queued under the lock: the log keeps the order lists were opened in.
            self.log.append_list(served, latency_ms, explored)

    def on_events(self, first_offset: int, events: Sequence[Event]) -> None:
        """Attribute applied events (``first_offset``: the log offset of the first)."""
        if not self.config.enabled:
            return
        with self._lock:
            for event in events:
                self._attribute(event)
            self._attributed_through = first_offset + len(events) - 1

    def report_shown(self, recommendation_id: str, item_ids: Sequence[str], at: float) -> int:
        """A client showed these items of a served list; return how many of the list count.

        The first report replaces "the whole list was shown" with the items given; later
        reports add to them. Items not in the list are ignored.

        Raises:
            ValidationError: a bad id.
            NotFoundError: no open list has this id (never served, or past the window).
        """
        check_id(recommendation_id, "recommendation_id")
        if not isinstance(item_ids, list):
            raise ValidationError("must be a list of item ids", "item_ids")
        for item_id in item_ids:
            check_id(item_id, "item_ids")
        with self._lock:
            served = self._open.by_id(recommendation_id)
            if served is None:
                # A list served a moment ago may still be on its way to the open index.
                raise NotFoundError(
                    "no served list with this recommendation_id is open for attribution",
                    "recommendation_id",
                )
            self._apply_shown(served, item_ids)
            count = served.impressions
        self.log.append_shown(recommendation_id, list(item_ids), at)
        return count

    # -- experiments --------------------------------------------------------------------------

    def put_experiment(self, name: str, raw: Any) -> ExperimentSpec:
        """Start an experiment (the body of ``PUT /v1/experiments/{name}``).

        Raises:
            ValidationError: naming the bad field.
            ConflictError: the name is taken, or another experiment runs over the scenario.
        """
        spec = ExperimentSpec.from_dict(name, raw, self.engine_config)
        with self._lock:
            if name in self._books:
                raise ConflictError(
                    "an experiment of this name exists; experiments are immutable, use a new name",
                    "name",
                )
            other = self._running.get(spec.scenario)
            if other is not None:
                raise ConflictError(
                    f"experiment {other.name!r} runs over this scenario; stop it first",
                    "scenario",
                )
            self._install(spec)
            self.log.append_experiment(name, spec.to_json())
        self._commit("the experiment")
        return spec

    def stop_experiment(self, name: str) -> ExperimentSpec:
        """Stop an experiment: its scenario is answered by its own settings again.

        Raises:
            NotFoundError: no experiment of this name.
        """
        with self._lock:
            book = self._book(name)
            spec = book.spec.stopped()
            book.spec = spec
            if self._running.get(spec.scenario, spec).name == name:
                running = dict(self._running)
                running.pop(spec.scenario, None)
                self._running = running
            self.log.append_experiment(name, spec.to_json())
        self._commit("the stop")
        return spec

    def _commit(self, what: str) -> None:
        """Wait for the log to commit (experiments change rarely and must survive a crash)."""
        if not self.log.flush():
            raise StoreUnavailableError(f"{what} could not be written durably: {self.log.failure}")

    def experiment(self, name: str) -> ExperimentSpec:
        """The definition of experiment ``name`` (raises ``NotFoundError``)."""
        with self._lock:
            return self._book(name).spec

    def experiment_report(self, name: str) -> dict[str, Any]:
        """The contract's ``GET /v1/experiments/{name}`` body (raises ``NotFoundError``)."""
        with self._lock:
            return self._book(name).report()

    def experiments(self) -> list[ExperimentSpec]:
        """Every experiment, running or stopped, by name."""
        with self._lock:
            return [self._books[name].spec for name in sorted(self._books)]

    # -- reports ------------------------------------------------------------------------------

    def online_report(
        self, group_by: Sequence[str], since: float | None = None, until: float | None = None
    ) -> dict[str, Any]:
        """The contract's ``GET /v1/reports/online`` body."""
        with self._lock:
            return {"groups": self._counters.report(group_by, since, until)}

    def series(self, by: Sequence[str] = ("scenario", "variant")) -> list[dict[str, Any]]:
        """Counts per time bucket and group (the dashboard's plots)."""
        with self._lock:
            return self._counters.series(by)

    def stats(self) -> dict[str, Any]:
        """Open lists and attribution counts."""
        with self._lock:
            return {
                "open_lists": len(self._open),
                "attributed_events": self.attributed,
                "unattributed_events": self.unattributed,
                "log_failure": self.log.failure,
            }

    # -- start-up -----------------------------------------------------------------------------

    def begin_restore(self) -> None:
        """Load experiments and shown reports; lists open as ``restore_events`` passes them."""
        for _, text in self.log.experiments():
            self._install(ExperimentSpec.from_json(text))
        for recommendation_id, item_ids, at in self.log.shown():
            self._shown_later.setdefault(recommendation_id, []).append((item_ids, at))
        self._restoring = self.log.lists()
        self._next_list = next(self._restoring, None)

    def restore_events(self, first_offset: int, events: Sequence[Event]) -> None:
        """Attribute logged events again, opening each list before the events after it."""
        for offset, event in enumerate(events, first_offset):
            self._open_restored(before_offset=offset)
            self._attribute(event)
            self._attributed_through = offset

    def finish_restore(self) -> None:
        """Open the lists served after the last event."""
        self._open_restored(before_offset=None)
        self._restoring = None
        self._shown_later.clear()

    def _open_restored(self, before_offset: int | None) -> None:
        while self._next_list is not None and (
            before_offset is None or self._next_list[0].offset < before_offset
        ):
            served, latency = self._next_list
            self._open_list(served, latency)
            for item_ids, _ in self._shown_later.pop(served.recommendation_id, ()):
                self._apply_shown(served, item_ids)
            assert self._restoring is not None
            self._next_list = next(self._restoring, None)

    def forget_user(self, user_id: str) -> int:
        """Forget a user's lists, experiment sums and covariate; return lists deleted.

        Their open lists, per-user experiment sums and CUPED covariate go, and their lists
        are deleted from the log. The aggregate counters (CTR per scenario, variant,
        position) keep the user's anonymous share until the next restart, which counts
        again from the logs.

        Raises:
            StoreError: the log could not delete them (the in-memory part is done).
        """
        with self._lock:
            self._open.forget_user(user_id)
            self._clicks_before.pop(user_id, None)
            for book in self._books.values():
                book.forget_user(user_id)
        return self.log.forget_user(user_id)

    def close(self) -> None:
        """Commit what is queued and close the log."""
        self.log.close()

    # -- under the lock -----------------------------------------------------------------------

    def _install(self, spec: ExperimentSpec) -> None:
        wanted = self.config
        tuning = (
            wanted.interleave_tuning_units if spec.design == INTERLEAVE else wanted.tuning_units
        )
        self._books[spec.name] = ExperimentBook(spec, tuning)
        if spec.status == RUNNING:
            self._running = {**self._running, spec.scenario: spec}

    def _book(self, name: str) -> ExperimentBook:
        book = self._books.get(name)
        if book is None:
            raise NotFoundError("no experiment of this name", "name")
        return book

    def _open_list(self, served: ServedList, latency_ms: float | None) -> None:
        self._open.add(served)
        self._counters.on_served(served)
        if served.experiment is not None:
            book = self._books.get(served.experiment)
            if book is not None:
                prior = self._clicks_before.get(served.user_id, 0)
                book.on_served(served, prior, latency_ms)

    def _apply_shown(self, served: ServedList, item_ids: Sequence[str]) -> None:
        positions = {p for p in map(served.position_of, item_ids) if p is not None}
        before = served.impressions
        if served.shown is None:
            gained: list[int] = []
            lost = [p for p in range(len(served.items)) if p not in positions]
            served.shown = positions
        else:
            gained = sorted(positions - served.shown)
            lost = []
            served.shown |= positions
        self._counters.on_shown(served, before, gained, lost)
        book = self._books.get(served.experiment or "")
        if book is not None:
            book.on_shown(served, served.impressions - before)

    def _attribute(self, event: Event) -> None:
        kind = event.type
        clicks, conversions = self.config.click_types, self.config.conversion_types
        if kind in clicks:
            self._clicks_before[event.user_id] += 1
        if kind not in clicks and kind not in conversions:
            return
        served = self._list_of(event)
        if served is None:
            self.unattributed += 1
            return
        position = served.position_of(event.item_id)
        assert position is not None  # _list_of returns only lists holding the item
        self.attributed += 1
        if not served.is_shown(position):
            # Clicked, so it was shown: the client's report missed it (clicks never exceed
            # impressions).
            self._apply_shown(served, [event.item_id])
        book = self._books.get(served.experiment or "")
        if kind in clicks:
            if position not in served.clicked:
                self._counters.on_click(served, position)
                if book is not None:
                    book.on_click(served, position)
                served.clicked = served.clicked | {position}
            return
        value = float(event.value) if event.value is not None else 0.0
        first = position not in served.converted
        self._counters.on_purchase(served, position, value, first)
        served.converted = served.converted | {position}
        served.revenue += value

    def _list_of(self, event: Event) -> ServedList | None:
        if event.recommendation_id is not None:
            served = self._open.by_id(event.recommendation_id)
            if served is None or served.user_id != event.user_id:
                return None
            return served if event.item_id in served.items else None
        return self._open.newest_holding(event.user_id, event.item_id, event.timestamp)
