"""What the client returns: answers with their ``recommendation_id``, read from JSON bodies.

Stored records come back as the engine's own ``freshrec.Item`` and ``freshrec.User``, ingest
outcomes as ``freshrec.IngestResult``, catalogue pages as the engine's ``ItemPage``, a user's
events as ``(offset, freshrec.Event)`` and what ``forget_user`` erased as ``Forgotten``, so code
can move between the embedded engine and the HTTP client without changing how it reads results.

>>> answer = parse_recommendations(
...     {"recommendation_id": "r1", "scenario": "home",
...      "items": [{"item_id": "i1", "score": 0.5, "why": ["covisitation"]}]}
... )
>>> answer.item_ids, answer[0].why, len(answer)
(['i1'], ('covisitation',), 1)
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from freshrec.management.forget import Forgotten
from freshrec.management.paging import ItemPage
from freshrec.types import Event, IngestResult, Item, Recommendation, User

__all__ = [
    "Forgotten",
    "ItemPage",
    "RankedList",
    "RecommendationList",
    "ResponseShapeError",
    "parse_batch_recommendations",
    "parse_forgotten",
    "parse_ingest",
    "parse_item",
    "parse_item_page",
    "parse_ranked",
    "parse_recommendations",
    "parse_user",
    "parse_user_events",
    "parse_written",
]


class _Ranked:
    """Sequence-like access to the ``items`` of an answer, best first."""

    __slots__ = ()
    items: list[Recommendation]

    def __iter__(self) -> Iterator[Recommendation]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> Recommendation:
        return self.items[index]

    @property
    def item_ids(self) -> list[str]:
        """The ids of the items, best first."""
        return [rec.item_id for rec in self.items]


@dataclass(frozen=True, slots=True)
class RecommendationList(_Ranked):
    """An answer of ``recommend`` or ``similar``.

    Iterating, indexing and ``len`` work on ``items``.

    Attributes:
        recommendation_id: names this answer; send it with the events it leads to
            (``"recommendation_id"`` of an event) so they are attributed to it.
        scenario: the scenario that answered (``"similar"`` for similar items).
        items: the recommendations, best first, each with ``item_id``, ``score`` and ``why``.
    """

    recommendation_id: str
    scenario: str
    items: list[Recommendation]


@dataclass(frozen=True, slots=True)
class RankedList(_Ranked):
    """The answer of ``rank``: every given candidate with its score, best first.

    Attributes:
        recommendation_id: names this answer, for attribution of later events.
        items: the candidates, best first (unknown items score 0 and come last).
    """

    recommendation_id: str
    items: list[Recommendation]


class ResponseShapeError(ValueError):
    """A 2xx body does not have the documented shape (raised as an ``ApiError`` by callers)."""


def _object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ResponseShapeError(f"expected a JSON object, got {type(body).__name__}")
    return body


def _recommendations(raw: Any) -> list[Recommendation]:
    if not isinstance(raw, list):
        raise ResponseShapeError("items: expected a list")
    return [
        Recommendation(
            item_id=str(entry["item_id"]),
            score=float(entry["score"]),
            why=tuple(str(reason) for reason in entry.get("why") or ()),
        )
        for entry in map(_object, raw)
    ]


def parse_recommendations(body: Any) -> RecommendationList:
    """Return a ``RecommendationList`` from a recommendations (or similar-items) body."""
    data = _object(body)
    return RecommendationList(
        recommendation_id=str(data["recommendation_id"]),
        scenario=str(data["scenario"]),
        items=_recommendations(data["items"]),
    )


def parse_batch_recommendations(body: Any, asked: list[str]) -> dict[str, RecommendationList]:
    """Return the answers of a ``POST /v1/recommendations`` body, keyed by user id.

    Args:
        body: the response body, ``{"results": [...]}``.
        asked: the user ids sent, distinct; the results must answer them in this order.

    Raises:
        ResponseShapeError: the results do not answer exactly ``asked``, in order.
    """
    results = _object(body)["results"]
    if not isinstance(results, list):
        raise ResponseShapeError("results: expected a list")
    answers = {
        str(result["user_id"]): parse_recommendations(result) for result in map(_object, results)
    }
    if list(answers) != asked:
        raise ResponseShapeError("results: expected one answer per user asked, in order")
    return answers


def parse_ranked(body: Any) -> RankedList:
    """Return a ``RankedList`` from a ``POST /v1/rank`` body."""
    data = _object(body)
    return RankedList(
        recommendation_id=str(data["recommendation_id"]), items=_recommendations(data["items"])
    )


def parse_item(body: Any) -> Item:
    """Return an ``Item`` from a stored-item body."""
    data = _object(body)
    created_at = data.get("created_at")
    vector = data.get("vector")
    return Item(
        item_id=str(data["item_id"]),
        title=str(data.get("title") or ""),
        text=str(data.get("text") or ""),
        categories=tuple(str(c) for c in data.get("categories") or ()),
        properties=_object(data.get("properties") or {}),
        created_at=None if created_at is None else float(created_at),
        vector=None if vector is None else tuple(float(v) for v in vector),
        available=bool(data.get("available", True)),
    )


def parse_item_page(body: Any) -> ItemPage:
    """Return an ``ItemPage`` from a ``GET /v1/items`` body (``next_cursor`` None: the last)."""
    data = _object(body)
    items = data["items"]
    if not isinstance(items, list):
        raise ResponseShapeError("items: expected a list")
    cursor = data["next_cursor"]
    return ItemPage(
        items=[parse_item(item) for item in items],
        next_cursor=None if cursor is None else str(cursor),
    )


def parse_user(body: Any) -> User:
    """Return a ``User`` from a stored-profile body."""
    data = _object(body)
    return User(
        user_id=str(data["user_id"]),
        properties=_object(data.get("properties") or {}),
        text=str(data.get("text") or ""),
    )


def parse_user_events(body: Any) -> list[tuple[int, Event]]:
    """Return ``(offset, event)`` pairs, newest first, from a user's events body."""
    data = _object(body)
    user_id = str(data["user_id"])
    events = data["events"]
    if not isinstance(events, list):
        raise ResponseShapeError("events: expected a list")
    return [
        (
            int(entry["offset"]),
            Event(
                user_id=user_id,
                item_id=str(entry["item_id"]),
                type=str(entry["type"]),
                timestamp=float(entry["timestamp"]),
                value=_optional_float(entry.get("value")),
                event_id=_optional_str(entry.get("event_id")),
                recommendation_id=_optional_str(entry.get("recommendation_id")),
            ),
        )
        for entry in map(_object, events)
    ]


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)


def _optional_str(value: Any) -> str | None:
    return None if value is None else str(value)


def parse_forgotten(body: Any) -> Forgotten:
    """Return the ``Forgotten`` receipt of a ``DELETE /v1/users/{user_id}`` body."""
    data = _object(body)
    return Forgotten(
        user_id=str(data["user_id"]),
        profile=bool(data["profile"]),
        events=int(data["events"]),
        lists=int(data["lists"]),
    )


def parse_ingest(body: Any) -> IngestResult:
    """Return an ``IngestResult`` from a ``POST /v1/events`` body (errors as (index, message))."""
    data = _object(body)
    errors = [(int(e["index"]), str(e["message"])) for e in map(_object, data.get("errors") or [])]
    return IngestResult(
        accepted=int(data["accepted"]),
        duplicates=int(data["duplicates"]),
        errors=errors,
        offset=int(data.get("offset", 0)),  # absent from servers before offsets
    )


def parse_written(body: Any) -> int:
    """Return the ``written`` count of a batch upsert body."""
    return int(_object(body)["written"])
