"""One description per endpoint, shared by the sync and the async client.

Each public function returns a ``Call``: the method, the escaped path, the query, the JSON
body and how to read the answer. The clients only send calls (with retries on connection
failures) and hand the response to ``Call.finish``, so both speak the HTTP contract the same
way by construction.

>>> get_item("shoes/42").path
'/v1/items/shoes%2F42'
>>> recommend("u1", 5, "home", ["i1", "i2"], None).params
{'scenario': 'home', 'n': 5, 'exclude': 'i1,i2'}
>>> search("shoes", 3, None, ["a", "b"]).params  # a repeated parameter: any of them
{'q': 'shoes', 'n': 3, 'category': ['a', 'b']}
>>> [len(chunk) for chunk in user_batches(f"u{k}" for k in range(250))]
[100, 100, 50]
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from typing import Any, Generic, TypeAlias, TypeVar
from urllib.parse import quote

import httpx

from freshrec.client import models
from freshrec.client.errors import ApiError, error_from_response
from freshrec.errors import ValidationError
from freshrec.management.forget import Forgotten
from freshrec.types import Categories, Event, IngestResult, Item, User

T = TypeVar("T")

ItemLike: TypeAlias = Mapping[str, Any] | Item
UserLike: TypeAlias = Mapping[str, Any] | User
EventLike: TypeAlias = Mapping[str, Any] | Event
# A list value is sent as the parameter repeated (``?category=a&category=b``).
Params: TypeAlias = dict[str, str | int | list[str]]

# Failures that happen before any response exists, so sending again cannot answer twice
# what was answered once (see the clients' docstrings for POST /v1/events).
RETRYABLE: tuple[type[httpx.TransportError], ...] = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.RemoteProtocolError,
)
JSON_HEADERS = {"Content-Type": "application/json"}
# Event ids the client makes for events sent without one (see ``_event``).
CLIENT_EVENT_ID_PREFIX = "cl-"
# Users per ``POST /v1/recommendations`` (the server's limit, MAX_BATCH_USERS).
MAX_BATCH_USERS = 100


def backoff_delay(base_seconds: float, attempt: int) -> float:
    """Return the pause before retry number ``attempt + 1``: ``base * 2**attempt``.

    >>> [backoff_delay(0.05, k) for k in range(3)]
    [0.05, 0.1, 0.2]
    """
    return base_seconds * (2**attempt)


@dataclass(frozen=True, slots=True)
class Call(Generic[T]):
    """One request to send and how to read its answer.

    Attributes:
        method: the HTTP method.
        path: the path under the base URL, ids already escaped.
        parse: turns a successful response into the typed result.
        params: query parameters.
        content: the encoded JSON body, or ``None`` for none.
        accept: statuses >= 400 that ``parse`` reads instead of raising (readiness's 503).
    """

    method: str
    path: str
    parse: Callable[[httpx.Response], T]
    params: Params | None = None
    content: bytes | None = None
    accept: frozenset[int] = frozenset()

    @property
    def headers(self) -> dict[str, str] | None:
        """Headers this call adds (the JSON media type when it has a body)."""
        return JSON_HEADERS if self.content is not None else None

    def finish(self, response: httpx.Response) -> T:
        """Return the typed result of a read response.

        Raises:
            ApiError: a refusal (status >= 400, as its typed subclass), or a success body
                without the documented shape (code ``"invalid_response"``).
        """
        if response.status_code >= 400 and response.status_code not in self.accept:
            raise error_from_response(response)
        try:
            return self.parse(response)
        except (ValueError, KeyError, TypeError) as exc:
            raise ApiError(
                response.status_code, "invalid_response", f"unexpected response body: {exc!r}"
            ) from exc


def segment(value: object, name: str) -> str:
    """Return an id escaped as one path segment (every reserved character, ``/`` included).

    ``.`` and ``..`` are escaped too, so URL normalisation cannot drop them.

    >>> segment("a b/c?", "item_id"), segment("..", "item_id")
    ('a%20b%2Fc%3F', '%2E%2E')

    Raises:
        ValidationError: ``value`` is not a string (the server judges everything else).
    """
    if not isinstance(value, str):
        raise ValidationError(f"must be a string, got {type(value).__name__}", name)
    escaped = quote(value, safe="")
    return escaped.replace(".", "%2E") if escaped in (".", "..") else escaped


def encode(body: Any) -> bytes:
    """Return ``body`` as compact UTF-8 JSON.

    Raises:
        ValidationError: it holds something JSON cannot carry (NaN, a ``datetime``, ...).
    """
    try:
        text = json.dumps(body, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"cannot be sent as JSON: {exc}") from None
    return text.encode("utf-8")


def _json(read: Callable[[Any], T]) -> Callable[[httpx.Response], T]:
    def parse(response: httpx.Response) -> T:
        return read(response.json())

    return parse


def _record(record: Any, key: str) -> tuple[dict[str, Any], str]:
    """Return a record as a dict and its id (for the path of a ``PUT``)."""
    data: Any = record.to_dict() if isinstance(record, Item | User) else record
    if not isinstance(data, Mapping):
        raise ValidationError(f"expected a mapping or a record, got {type(record).__name__}")
    if key not in data:
        raise ValidationError("is required", key)
    data = dict(data)
    return data, segment(data[key], key)


def _records(records: Iterable[Any]) -> list[Any]:
    if isinstance(records, Mapping | str | bytes | Item | User):
        raise ValidationError(f"expected a list of records, got {type(records).__name__}")
    return [r.to_dict() if isinstance(r, Item | User) else r for r in records]


def _event(event: Any) -> Any:
    """The event as a JSON object, with an ``event_id`` of its own if it had none.

    The id is given before the first send, so a retry after a connection dropped under a
    request the server already applied counts as a duplicate, not as a second event.
    """
    if isinstance(event, Event):
        event = {k: v for k, v in event._asdict().items() if v is not None}
    elif isinstance(event, Mapping):
        event = dict(event)
    else:
        return event  # not an object: the server names what is wrong with it
    if event.get("event_id") is None:
        event["event_id"] = f"{CLIENT_EVENT_ID_PREFIX}{secrets.token_hex(16)}"
    return event


def _id_list(ids: Iterable[str] | None, name: str) -> str | None:
    if ids is None:
        return None
    if isinstance(ids, str):
        ids = [ids]
    parts = list(ids)
    for part in parts:
        if not isinstance(part, str):
            raise ValidationError(f"must hold strings, got {type(part).__name__}", name)
        if "," in part:
            raise ValidationError(f"cannot hold an id with a comma: {part!r}", name)
    return ",".join(parts) or None


def _strings(values: str | Iterable[str], name: str) -> list[str]:
    """Return ``values`` (one string or several) as a list of strings."""
    if isinstance(values, str):
        return [values]
    if isinstance(values, Mapping | bytes):
        raise ValidationError(f"expected a string or a list of them, got {type(values).__name__}")
    parts = list(values)
    for part in parts:
        if not isinstance(part, str):
            raise ValidationError(f"must hold strings, got {type(part).__name__}", name)
    return parts


def _categories(category: Categories) -> list[str] | None:
    """The categories of a filter (any of them), or ``None`` for no filter.

    An empty list is refused here: sent as a repeated parameter it would be no parameter at
    all, so the answer would silently be unfiltered.
    """
    if category is None:
        return None
    wanted = _strings(category, "category")
    if not wanted:
        raise ValidationError("must name at least one category", "category")
    return wanted


def _changes(changes: Mapping[str, Any]) -> bytes:
    """The body of a ``PATCH``: a JSON Merge Patch (RFC 7396) object."""
    if not isinstance(changes, Mapping):
        raise ValidationError(
            f"a patch must be a mapping of the fields to change, got {type(changes).__name__}"
        )
    return encode(dict(changes))


# -- items ----------------------------------------------------------------------------------


def upsert_item(item: ItemLike) -> Call[Item]:
    """``PUT /v1/items/{item_id}``."""
    record, escaped = _record(item, "item_id")
    return Call("PUT", f"/v1/items/{escaped}", _json(models.parse_item), content=encode(record))


def upsert_items(items: Iterable[ItemLike]) -> Call[int]:
    """``POST /v1/items``."""
    return Call("POST", "/v1/items", _json(models.parse_written), content=encode(_records(items)))


def patch_item(item_id: str, changes: Mapping[str, Any]) -> Call[Item]:
    """``PATCH /v1/items/{item_id}`` (JSON Merge Patch)."""
    path = f"/v1/items/{segment(item_id, 'item_id')}"
    return Call("PATCH", path, _json(models.parse_item), content=_changes(changes))


def list_items(cursor: str | None, limit: int, available: bool | None) -> Call[models.ItemPage]:
    """``GET /v1/items`` (one page; parameters left at their defaults are not sent)."""
    params: Params = {"limit": limit}
    if cursor is not None:
        params["cursor"] = cursor
    if available is not None:
        params["available"] = "true" if available else "false"
    return Call("GET", "/v1/items", _json(models.parse_item_page), params)


def get_item(item_id: str) -> Call[Item]:
    """``GET /v1/items/{item_id}``."""
    return Call("GET", f"/v1/items/{segment(item_id, 'item_id')}", _json(models.parse_item))


def delete_item(item_id: str) -> Call[Item]:
    """``DELETE /v1/items/{item_id}``."""
    return Call("DELETE", f"/v1/items/{segment(item_id, 'item_id')}", _json(models.parse_item))


def similar(item_id: str, n: int, exclude: Iterable[str] | None) -> Call[models.RecommendationList]:
    """``GET /v1/items/{item_id}/similar``."""
    params: Params = {"n": n}
    excluded = _id_list(exclude, "exclude")
    if excluded is not None:
        params["exclude"] = excluded
    path = f"/v1/items/{segment(item_id, 'item_id')}/similar"
    return Call("GET", path, _json(models.parse_recommendations), params)


# -- users ----------------------------------------------------------------------------------


def upsert_user(user: UserLike) -> Call[User]:
    """``PUT /v1/users/{user_id}``."""
    record, escaped = _record(user, "user_id")
    return Call("PUT", f"/v1/users/{escaped}", _json(models.parse_user), content=encode(record))


def upsert_users(users: Iterable[UserLike]) -> Call[int]:
    """``POST /v1/users``."""
    return Call("POST", "/v1/users", _json(models.parse_written), content=encode(_records(users)))


def patch_user(user_id: str, changes: Mapping[str, Any]) -> Call[User]:
    """``PATCH /v1/users/{user_id}`` (JSON Merge Patch)."""
    path = f"/v1/users/{segment(user_id, 'user_id')}"
    return Call("PATCH", path, _json(models.parse_user), content=_changes(changes))


def get_user(user_id: str) -> Call[User]:
    """``GET /v1/users/{user_id}``."""
    return Call("GET", f"/v1/users/{segment(user_id, 'user_id')}", _json(models.parse_user))


def user_events(user_id: str, limit: int) -> Call[list[tuple[int, Event]]]:
    """``GET /v1/users/{user_id}/events``."""
    path = f"/v1/users/{segment(user_id, 'user_id')}/events"
    return Call("GET", path, _json(models.parse_user_events), {"limit": limit})


def forget_user(user_id: str) -> Call[Forgotten]:
    """``DELETE /v1/users/{user_id}``."""
    return Call("DELETE", f"/v1/users/{segment(user_id, 'user_id')}", _json(models.parse_forgotten))


# -- events and answers ---------------------------------------------------------------------


def send_events(events: EventLike | Iterable[EventLike], atomic: bool) -> Call[IngestResult]:
    """``POST /v1/events`` (one object or a list)."""
    body: Any
    if isinstance(events, Event | Mapping):
        body = _event(events)
    elif isinstance(events, str | bytes):
        raise ValidationError(f"expected an event or a list of events, got {type(events).__name__}")
    else:
        body = [_event(event) for event in events]
    params: Params | None = {"atomic": "true"} if atomic else None
    return Call("POST", "/v1/events", _json(models.parse_ingest), params, encode(body))


def recommend(
    user_id: str,
    n: int,
    scenario: str,
    exclude: Iterable[str] | None,
    category: Categories,
) -> Call[models.RecommendationList]:
    """``GET /v1/recommendations/{user_id}``."""
    params: Params = {"scenario": scenario, "n": n}
    excluded = _id_list(exclude, "exclude")
    if excluded is not None:
        params["exclude"] = excluded
    categories = _categories(category)
    if categories is not None:
        params["category"] = categories[0] if len(categories) == 1 else categories
    path = f"/v1/recommendations/{segment(user_id, 'user_id')}"
    return Call("GET", path, _json(models.parse_recommendations), params)


def user_batches(user_ids: Iterable[str]) -> list[list[str]]:
    """Return the distinct user ids, in the order first given, in chunks of at most 100.

    A repeated id is asked once: each answer is logged as a served list, and a second one
    for the same user would be logged but never returned.

    Raises:
        ValidationError: ``user_ids`` is one string, or holds something else than strings.
    """
    if isinstance(user_ids, str):
        raise ValidationError("must be a list of user ids, not one string", "user_ids")
    distinct = list(dict.fromkeys(_strings(user_ids, "user_ids")))
    return [
        distinct[start : start + MAX_BATCH_USERS]
        for start in range(0, len(distinct), MAX_BATCH_USERS)
    ]


def recommend_many(
    user_ids: Sequence[str],
    n: int,
    scenario: str,
    exclude: Iterable[str] | None,
    category: Categories,
) -> Call[dict[str, models.RecommendationList]]:
    """``POST /v1/recommendations`` for one chunk of ``user_batches`` (at most 100 users)."""
    if len(user_ids) > MAX_BATCH_USERS:
        raise ValidationError(f"at most {MAX_BATCH_USERS} users per call", "user_ids")
    body: dict[str, Any] = {"user_ids": list(user_ids), "n": n, "scenario": scenario}
    if exclude is not None:
        body["exclude"] = _strings(exclude, "exclude")
    categories = _categories(category)
    if categories is not None:
        body["category"] = categories
    asked = list(user_ids)

    def parse(response: httpx.Response) -> dict[str, models.RecommendationList]:
        return models.parse_batch_recommendations(response.json(), asked)

    return Call("POST", "/v1/recommendations", parse, content=encode(body))


def search(
    text: str, n: int, user_id: str | None, category: Categories
) -> Call[models.RecommendationList]:
    """``GET /v1/search``."""
    params: Params = {"q": text, "n": n}
    if user_id is not None:
        params["user_id"] = user_id
    categories = _categories(category)
    if categories is not None:
        params["category"] = categories[0] if len(categories) == 1 else categories
    return Call("GET", "/v1/search", _json(models.parse_recommendations), params)


def rank(user_id: str, item_ids: Iterable[str]) -> Call[models.RankedList]:
    """``POST /v1/rank``."""
    if isinstance(item_ids, str):
        raise ValidationError("must be a list of item ids, not one string", "item_ids")
    body = {"user_id": user_id, "item_ids": list(item_ids)}
    return Call("POST", "/v1/rank", _json(models.parse_ranked), content=encode(body))


# -- operations -----------------------------------------------------------------------------


def _is_ok(response: httpx.Response) -> bool:
    return response.status_code == 200


def health_live() -> Call[bool]:
    """``GET /health/live``."""
    return Call("GET", "/health/live", _is_ok, accept=frozenset({503}))


def health_ready() -> Call[bool]:
    """``GET /health/ready``: a 503 (starting up, shutting down) reads as ``False``."""
    return Call("GET", "/health/ready", _is_ok, accept=frozenset({503}))


def _text(response: httpx.Response) -> str:
    return response.text


def metrics() -> Call[str]:
    """``GET /metrics``."""
    return Call("GET", "/metrics", _text)


# -- client settings ------------------------------------------------------------------------


def _version() -> str:
    try:
        return metadata.version("freshrec")
    except metadata.PackageNotFoundError:
        return "unknown"


def check_settings(timeout: float, retries: int, backoff_seconds: float) -> None:
    """Refuse settings a client cannot work with.

    Raises:
        ValueError: ``timeout`` is not positive, ``retries`` or ``backoff_seconds`` negative.
    """
    if not timeout > 0:
        raise ValueError(f"timeout must be positive, got {timeout!r}")
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise ValueError(f"retries must be an integer >= 0, got {retries!r}")
    if not backoff_seconds >= 0:
        raise ValueError(f"backoff_seconds must be >= 0, got {backoff_seconds!r}")


def default_headers(api_key: str | None) -> dict[str, str]:
    """Return the headers of every request: JSON accepted, the key as a bearer token."""
    headers = {"Accept": "application/json", "User-Agent": f"freshrec-client/{_version()}"}
    if api_key is not None:
        headers["Authorization"] = f"Bearer {api_key}"
    return headers
