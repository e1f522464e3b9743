"""The shared vocabulary: events, items, users, recommendations, and their validation.

Every record that enters freshrec (Python API, HTTP, file import) passes through the
``parse_*`` functions here, so one set of rules decides what is valid and every error
names the field at fault.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from freshrec.errors import ValidationError

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class EventBatch:
    """Events as column arrays in log order, ids already mapped to dense indices.

    All arrays have the same length. ``weight`` is the event type's interest weight
    (negative = rejection); ``positive`` marks preference signals (purchases, high ratings).
    """

    uidx: IntArray
    iidx: IntArray
    weight: FloatArray
    timestamp: FloatArray
    positive: npt.NDArray[np.bool_]

    @classmethod
    def from_rows(cls, rows: Sequence[tuple[int, int, float, float, bool]]) -> EventBatch:
        """Build a batch from ``(uidx, iidx, weight, timestamp, positive)`` tuples."""
        if not rows:
            return cls.empty()
        u, i, w, t, p = zip(*rows, strict=True)
        return cls(
            np.asarray(u, dtype=np.int64),
            np.asarray(i, dtype=np.int64),
            np.asarray(w, dtype=np.float64),
            np.asarray(t, dtype=np.float64),
            np.asarray(p, dtype=np.bool_),
        )

    @classmethod
    def empty(cls) -> EventBatch:
        """Return a batch with no events."""
        return cls(
            np.zeros(0, np.int64),
            np.zeros(0, np.int64),
            np.zeros(0, np.float64),
            np.zeros(0, np.float64),
            np.zeros(0, np.bool_),
        )

    def __len__(self) -> int:
        return len(self.uidx)


MAX_ID_LENGTH = 256
# Clock skew we tolerate between a client and the engine before calling a timestamp "future".
MAX_FUTURE_SKEW_SECONDS = 86_400.0
BUILTIN_EVENT_TYPES = ("view", "click", "like", "dislike", "cart", "purchase", "rating")
EVENT_FIELDS = frozenset(
    {"user_id", "item_id", "type", "timestamp", "value", "event_id", "recommendation_id"}
)
ITEM_FIELDS = frozenset(
    {"item_id", "title", "text", "categories", "properties", "created_at", "vector", "available"}
)
USER_FIELDS = frozenset({"user_id", "properties", "text"})


class Event(NamedTuple):
    """One behaviour event. ``timestamp`` is unix seconds (float)."""

    user_id: str
    item_id: str
    type: str
    timestamp: float
    value: float | None = None
    event_id: str | None = None
    recommendation_id: str | None = None


@dataclass(frozen=True, slots=True)
class Item:
    """A catalogue entry. ``available=False`` hides it from every answer but keeps its history."""

    item_id: str
    title: str = ""
    text: str = ""
    categories: tuple[str, ...] = ()
    properties: Mapping[str, Any] = field(default_factory=dict)
    created_at: float | None = None
    vector: tuple[float, ...] | None = None
    available: bool = True

    def to_dict(self) -> dict[str, Any]:
        """Return the item as a JSON-ready dict (the shape ``upsert_items`` accepts)."""
        return {
            "item_id": self.item_id,
            "title": self.title,
            "text": self.text,
            "categories": list(self.categories),
            "properties": dict(self.properties),
            "created_at": self.created_at,
            "vector": list(self.vector) if self.vector is not None else None,
            "available": self.available,
        }


@dataclass(frozen=True, slots=True)
class User:
    """A user profile; ``text`` states tastes in words (used for cold start)."""

    user_id: str
    properties: Mapping[str, Any] = field(default_factory=dict)
    text: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Return the user as a JSON-ready dict."""
        return {"user_id": self.user_id, "properties": dict(self.properties), "text": self.text}


@dataclass(frozen=True, slots=True)
class Recommendation:
    """One recommended item. ``why`` lists the sources that put it here, strongest first."""

    item_id: str
    score: float
    why: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Return the recommendation as a JSON-ready dict."""
        return {"item_id": self.item_id, "score": self.score, "why": list(self.why)}


@dataclass(slots=True)
class IngestResult:
    """Outcome of one ingest call. ``errors`` holds ``(index, message)`` per rejected event.

    ``offset``: the log offset once this call's events are applied (how many events the
    engine has applied, this call's last one included). A read with ``at_least=offset``
    reflects them, on this engine or on any replica of its log.
    """

    accepted: int = 0
    duplicates: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)
    offset: int = 0


def check_id(value: Any, name: str) -> str:
    """Return ``value`` if it is a usable external id, else raise ``ValidationError``.

    Ids are non-empty strings of at most 256 characters with no control characters.
    """
    if value is None:
        raise ValidationError(f"{name} is required", name)
    if not isinstance(value, str):
        raise ValidationError(f"must be a string, got {type(value).__name__}", name)
    if not value:
        raise ValidationError("must not be empty", name)
    if len(value) > MAX_ID_LENGTH:
        raise ValidationError(f"longer than {MAX_ID_LENGTH} characters", name)
    if not value.isprintable():
        raise ValidationError("contains control characters", name)
    return value


# One category, or several meaning any of them (``?category=a&category=b``), or no filter.
Categories = str | Sequence[str] | None


def check_categories(category: Categories) -> tuple[str, ...] | None:
    """Return the categories of a filter as a sorted tuple of ids (None: no filter).

    Raises ``ValidationError`` (field ``category``) for a bad id or an empty list.
    """
    if category is None:
        return None
    wanted = (category,) if isinstance(category, str) else tuple(category)
    if not wanted:
        raise ValidationError("must name at least one category", "category")
    return tuple(sorted({check_id(c, "category") for c in wanted}))


def parse_timestamp(value: Any, name: str = "timestamp") -> float:
    """Return unix seconds from a number or an ISO-8601 string (naive means UTC)."""
    if isinstance(value, bool):
        raise ValidationError("must be unix seconds or ISO-8601, got a boolean", name)
    if isinstance(value, int | float):
        try:
            seconds = float(value)
        except OverflowError:
            raise ValidationError("is out of range", name) from None
    elif isinstance(value, str):
        text = value.strip()
        try:
            seconds = float(text)
        except ValueError:
            try:
                parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
            except ValueError:
                raise ValidationError(f"not unix seconds or ISO-8601: {value!r}", name) from None
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=UTC)
            seconds = parsed.timestamp()
    else:
        raise ValidationError(f"must be unix seconds or ISO-8601, got {type(value).__name__}", name)
    if not math.isfinite(seconds) or seconds < 0:
        raise ValidationError("must be a finite, non-negative time", name)
    return seconds


def _optional_str(raw: Mapping[str, Any], name: str) -> str | None:
    value = raw.get(name)
    if value is None:
        return None
    return check_id(value, name)


def _reject_unknown(raw: Mapping[str, Any], allowed: frozenset[str], what: str) -> None:
    if allowed.issuperset(raw):  # the common case, without building a set
        return
    unknown = raw.keys() - allowed
    if unknown:
        name = sorted(map(str, unknown))[0]
        fields = ", ".join(sorted(allowed))
        raise ValidationError(f"unknown {what} field {name!r}; {what} fields: {fields}", name)


def parse_event(
    raw: Mapping[str, Any],
    known_types: Iterable[str] | Mapping[str, float],
    now: float | None = None,
) -> Event:
    """Validate one event record and return it as an ``Event``.

    A missing timestamp means "now". Raises ``ValidationError`` naming the field at fault:
    unknown fields, bad ids, unknown type, future or malformed timestamps, a rating without a
    numeric value.
    """
    if not isinstance(raw, Mapping):
        raise ValidationError(f"an event must be an object, got {type(raw).__name__}")
    _reject_unknown(raw, EVENT_FIELDS, "event")
    user_id = check_id(raw.get("user_id"), "user_id")
    item_id = check_id(raw.get("item_id"), "item_id")
    kind = raw.get("type")
    if kind is None or not isinstance(kind, str) or kind not in known_types:
        valid = ", ".join(sorted(known_types))
        problem = "type is required" if kind is None else f"unknown event type {kind!r}"
        raise ValidationError(f"{problem}; valid types: {valid}", "type")
    current = time.time() if now is None else now
    stamp = raw.get("timestamp")
    timestamp = current if stamp is None else parse_timestamp(stamp)
    if timestamp > current + MAX_FUTURE_SKEW_SECONDS:
        raise ValidationError("is more than a day in the future", "timestamp")
    value = raw.get("value")
    if value is not None:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise ValidationError("must be a number", "value")
        try:
            value = float(value)
        except (ValueError, OverflowError):
            raise ValidationError(f"must be a number, got {value!r:.40}", "value") from None
        if not math.isfinite(value):
            raise ValidationError("must be finite", "value")
    elif kind == "rating":
        raise ValidationError("a rating event needs a numeric value", "value")
    return Event(
        user_id,
        item_id,
        kind,
        timestamp,
        value,
        _optional_str(raw, "event_id"),
        _optional_str(raw, "recommendation_id"),
    )


def parse_events(
    records: Iterable[Any],
    known_types: Iterable[str] | Mapping[str, float],
    now: float | None = None,
) -> tuple[list[Event], list[tuple[int, ValidationError]]]:
    """Validate a batch of event records: ``(valid events in order, (index, error) per bad one)``.

    The same rules as ``parse_event``, at a fraction of the cost per record: a plain dict with
    plainly valid fields is checked inline, and anything else (a missing timestamp, an
    ISO-8601 string, a numeric string, a subclass, an error) goes through ``parse_event``,
    which alone decides what is wrong.

    >>> good = {"user_id": "u", "item_id": "i", "type": "click", "timestamp": 5}
    >>> events, errors = parse_events([good, {**good, "type": "zap"}], {"click": 1.0}, now=10)
    >>> events, [(index, error.field) for index, error in errors]
    ([Event(user_id='u', item_id='i', type='click', timestamp=5.0, value=None, event_id=None, \
recommendation_id=None)], [(1, 'type')])
    """
    current = time.time() if now is None else now
    latest = current + MAX_FUTURE_SKEW_SECONDS
    known_fields, isfinite, new_event = EVENT_FIELDS, math.isfinite, tuple.__new__
    events: list[Event] = []
    errors: list[tuple[int, ValidationError]] = []
    for index, raw in enumerate(records):
        if type(raw) is dict and known_fields.issuperset(raw):
            get = raw.get
            user_id, item_id, kind = get("user_id"), get("item_id"), get("type")
            stamp: Any = get("timestamp")
            # A missing timestamp means "now" (as in parse_event); HTTP clients mostly send
            # none, so this stays on the fast path instead of costing a parse_event call each.
            if stamp is None:
                stamp = current
            value: Any = get("value")
            event_id, recommendation_id = get("event_id"), get("recommendation_id")
            stamp_type, value_type = type(stamp), type(value)
            if (
                type(user_id) is str
                and 0 < len(user_id) <= MAX_ID_LENGTH
                and user_id.isprintable()
                and type(item_id) is str
                and 0 < len(item_id) <= MAX_ID_LENGTH
                and item_id.isprintable()
                and type(kind) is str
                and kind in known_types
                and (stamp_type is int or stamp_type is float)
                and 0 <= stamp <= latest
                and (
                    (value is None and kind != "rating")
                    or (value_type is float and isfinite(value))
                    or (value_type is int and abs(value) < 2**53)
                )
                and (event_id is None or _plain_id(event_id))
                and (recommendation_id is None or _plain_id(recommendation_id))
            ):
                fields = (
                    user_id,
                    item_id,
                    kind,
                    float(stamp),
                    None if value is None else float(value),
                    event_id,
                    recommendation_id,
                )
                events.append(new_event(Event, fields))  # Event(*fields), minus a Python call
                continue
        try:
            events.append(parse_event(raw, known_types, current))
        except ValidationError as exc:
            errors.append((index, exc))
    return events, errors


def _plain_id(value: Any) -> bool:
    """True for a string ``check_id`` accepts (False may still be valid: ask ``check_id``)."""
    return type(value) is str and 0 < len(value) <= MAX_ID_LENGTH and value.isprintable()


def _string_list(value: Any, name: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list | tuple):
        # A bare string is not a one-element list: coercing "books" hides a client's bug.
        raise ValidationError(f"must be a list of strings, got {type(value).__name__}", name)
    return tuple(check_id(v, name) for v in value)


def _text(raw: Mapping[str, Any], name: str) -> str:
    value = raw.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValidationError(f"must be a string, got {type(value).__name__}", name)
    return value


def _properties(raw: Mapping[str, Any]) -> dict[str, Any]:
    value = raw.get("properties")
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValidationError("must be an object", "properties")
    return dict(value)


def parse_item(raw: Mapping[str, Any]) -> Item:
    """Validate one item record and return it as an ``Item``; raises ``ValidationError``."""
    if not isinstance(raw, Mapping):
        raise ValidationError(f"an item must be an object, got {type(raw).__name__}")
    _reject_unknown(raw, ITEM_FIELDS, "item")
    vector = raw.get("vector")
    if vector is not None:
        if not isinstance(vector, list | tuple) or not vector:
            raise ValidationError("must be a non-empty list of numbers", "vector")
        try:
            vector = tuple(float(v) for v in vector)
        except (TypeError, ValueError, OverflowError):
            raise ValidationError("must be a non-empty list of numbers", "vector") from None
        if not all(math.isfinite(v) for v in vector):
            raise ValidationError("must be finite numbers", "vector")
    created = raw.get("created_at")
    available = raw.get("available", True)
    if not isinstance(available, bool):
        raise ValidationError("must be a boolean", "available")
    return Item(
        item_id=check_id(raw.get("item_id"), "item_id"),
        title=_text(raw, "title"),
        text=_text(raw, "text"),
        categories=_string_list(raw.get("categories"), "categories"),
        properties=_properties(raw),
        created_at=None if created is None else parse_timestamp(created, "created_at"),
        vector=vector,
        available=available,
    )


def parse_user(raw: Mapping[str, Any]) -> User:
    """Validate one user record and return it as a ``User``; raises ``ValidationError``."""
    if not isinstance(raw, Mapping):
        raise ValidationError(f"a user must be an object, got {type(raw).__name__}")
    _reject_unknown(raw, USER_FIELDS, "user")
    return User(
        user_id=check_id(raw.get("user_id"), "user_id"),
        properties=_properties(raw),
        text=_text(raw, "text"),
    )
