"""The blocking client: ``freshrec.Client``."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping
from types import TracebackType
from typing import Any

import httpx

from freshrec.client import calls
from freshrec.client.calls import Call, EventLike, ItemLike, T, UserLike
from freshrec.client.errors import connection_error
from freshrec.client.models import ItemPage, RankedList, RecommendationList
from freshrec.management.forget import Forgotten
from freshrec.types import Categories, Event, IngestResult, Item, User


class Client:
    """A blocking client of the freshrec HTTP API, over one keep-alive connection pool.

    Every method sends one request. A refusal raises the typed ``ApiError`` subclass for its
    status (``ApiValidationError`` for 400/422, ``NotFoundError`` for 404, ``AuthError`` for
    401/403, ``ApiError`` otherwise) with the server's ``code``, ``message`` and ``field``.

    Retries: only failures before any response exists are retried (connection refused or
    unreachable, connect timeout, a kept-alive connection closed under the request), up to
    ``retries`` times with exponential backoff; then ``ApiConnectionError`` is raised. An
    answer, 4xx or 5xx, is never retried. Note that a connection dropped after the server
    read a request may hide that it was applied, so ``send_events`` gives every event
    without an ``event_id`` a random one before the first send: a resent event counts as a
    duplicate, never twice.

    The client is thread-safe; use it as a context manager or call ``close``.

    Args:
        base_url: where the server listens, e.g. ``"http://127.0.0.1:8000"``.
        api_key: a key from ``freshrec keys create``; ``None`` for a server run with ``--open``.
        timeout: seconds allowed for connecting, and for each read and write.
        retries: how many times a connection failure is retried (0: never).
        backoff_seconds: the pause before the first retry; it doubles for each next one.
        transport: an ``httpx`` transport to send through instead of the network (tests).

    Raises:
        ValueError: a setting is out of range.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        timeout: float = 10.0,
        retries: int = 3,
        backoff_seconds: float = 0.05,
        *,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        calls.check_settings(timeout, retries, backoff_seconds)
        self.base_url = base_url.rstrip("/")
        self.retries = retries
        self.backoff_seconds = backoff_seconds
        self._http = httpx.Client(
            base_url=self.base_url,
            headers=calls.default_headers(api_key),
            timeout=timeout,
            transport=transport,
        )

    def __repr__(self) -> str:
        return f"Client({self.base_url!r})"

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the pooled connections; the client cannot be used afterwards."""
        self._http.close()

    def _send(self, call: Call[T]) -> T:
        request = self._http.build_request(
            call.method, call.path, params=call.params, content=call.content, headers=call.headers
        )
        attempt = 0
        while True:
            try:
                # stream=True returns once the status line and headers are in: a failure
                # raised here happened before any response, so resending cannot repeat one.
                response = self._http.send(request, stream=True)
            except calls.RETRYABLE as exc:
                if attempt >= self.retries:
                    raise connection_error(call.method, request.url, exc, attempt + 1) from exc
                time.sleep(calls.backoff_delay(self.backoff_seconds, attempt))
                attempt += 1
                continue
            except httpx.TransportError as exc:
                raise connection_error(call.method, request.url, exc, attempt + 1) from exc
            try:
                response.read()
            except httpx.TransportError as exc:
                raise connection_error(call.method, request.url, exc, attempt + 1) from exc
            finally:
                response.close()
            return call.finish(response)

    # -- items ------------------------------------------------------------------------------

    def upsert_item(self, item: ItemLike) -> Item:
        """Create or replace one item (``PUT /v1/items/{item_id}``); return it as stored.

        Args:
            item: a mapping with ``item_id`` and optional ``title``, ``text``,
                ``categories``, ``properties``, ``created_at``, ``vector``, ``available``;
                or a ``freshrec.Item``.
        """
        return self._send(calls.upsert_item(item))

    def upsert_items(self, items: Iterable[ItemLike]) -> int:
        """Create or replace items in one batch, all or none (``POST /v1/items``).

        Args:
            items: item mappings (or ``freshrec.Item``); one bad item rejects the batch
                with an ``ApiValidationError`` naming it.

        Returns:
            How many items were written.
        """
        return self._send(calls.upsert_items(items))

    def patch_item(self, item_id: str, changes: Mapping[str, Any]) -> Item:
        """Change only the given fields of an item (``PATCH /v1/items/{item_id}``).

        The patch is a JSON Merge Patch (RFC 7396): a field set to ``None`` goes back to its
        default, ``properties`` merge key by key, and what is not named stays as stored.
        ``{"available": True}`` brings a hidden item back as it was.

        Args:
            item_id: the item to change; an id met only in events becomes a listed item.
            changes: the fields to change, e.g. ``{"title": "New", "properties": {"a": None}}``.

        Returns:
            The item as now stored.

        Raises:
            NotFoundError: the server never met ``item_id``.
            ApiValidationError: the patch or the patched item is invalid (nothing changes).
        """
        return self._send(calls.patch_item(item_id, changes))

    def list_items(
        self, cursor: str | None = None, limit: int = 100, available: bool | None = None
    ) -> ItemPage:
        """Return one page of the catalogue in ``item_id`` order (``GET /v1/items``).

        The cursor is stable: while items are upserted, every item present for the whole
        listing is on exactly one page. ``iter_items`` walks every page.

        Args:
            cursor: ``next_cursor`` of the page before; ``None`` for the first page.
            limit: how many items at most (1 to 1000).
            available: only recommendable (``True``) or hidden (``False``) items; ``None``
                for both.

        Returns:
            The page: ``items`` and ``next_cursor`` (``None`` on the last page).

        Raises:
            ApiValidationError: a cursor the server did not make (400, field ``cursor``) or
                a ``limit`` out of range (422).
        """
        return self._send(calls.list_items(cursor, limit, available))

    def iter_items(self, page_size: int = 1000, available: bool | None = None) -> Iterator[Item]:
        """Yield every item of the catalogue in ``item_id`` order, one request per page.

        Args:
            page_size: items per request (1 to 1000).
            available: as for ``list_items``.
        """
        cursor: str | None = None
        while True:
            page = self.list_items(cursor, page_size, available)
            yield from page.items
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    def get_item(self, item_id: str) -> Item:
        """Return a stored item (``GET /v1/items/{item_id}``); ``NotFoundError`` if unknown."""
        return self._send(calls.get_item(item_id))

    def delete_item(self, item_id: str) -> Item:
        """Hide an item from every answer, keeping its history (``DELETE /v1/items/{id}``).

        Upsert it again with ``available: True`` to bring it back.

        Args:
            item_id: the item to hide.

        Returns:
            The item as now stored, with ``available`` false.
        """
        return self._send(calls.delete_item(item_id))

    def similar(
        self, item_id: str, n: int = 10, exclude: Iterable[str] | None = None
    ) -> RecommendationList:
        """Return up to ``n`` items similar to ``item_id``, best first (never itself).

        Args:
            item_id: the item to find neighbours of (``NotFoundError`` if unknown).
            n: how many items at most (1 to 1000).
            exclude: item ids to leave out.
        """
        return self._send(calls.similar(item_id, n, exclude))

    # -- users ------------------------------------------------------------------------------

    def upsert_user(self, user: UserLike) -> User:
        """Create or replace one profile (``PUT /v1/users/{user_id}``); return it as stored.

        Args:
            user: a mapping with ``user_id`` and optional ``properties`` and ``text``; or a
                ``freshrec.User``.
        """
        return self._send(calls.upsert_user(user))

    def upsert_users(self, users: Iterable[UserLike]) -> int:
        """Create or replace profiles in one batch, all or none; return how many were written.

        Args:
            users: profile mappings (or ``freshrec.User``).
        """
        return self._send(calls.upsert_users(users))

    def patch_user(self, user_id: str, changes: Mapping[str, Any]) -> User:
        """Change only the given fields of a profile (``PATCH /v1/users/{user_id}``).

        The patch is a JSON Merge Patch (RFC 7396): ``properties`` merge key by key and a
        property set to ``None`` is removed; what is not named stays as stored.

        Args:
            user_id: the user; one known only from events gets a profile made from the patch.
            changes: the fields to change, e.g. ``{"properties": {"plan": "pro"}}``.

        Returns:
            The profile as now stored.

        Raises:
            NotFoundError: no profile and no event names ``user_id``.
            ApiValidationError: the patch or the patched profile is invalid (nothing changes).
        """
        return self._send(calls.patch_user(user_id, changes))

    def get_user(self, user_id: str) -> User:
        """Return a user's profile (``GET /v1/users/{user_id}``).

        A user known only from events has an empty profile; ``NotFoundError`` when the
        server has neither a profile nor an event of the user.
        """
        return self._send(calls.get_user(user_id))

    def user_events(self, user_id: str, limit: int = 100) -> list[tuple[int, Event]]:
        """Return the user's most recent logged events, newest first.

        Args:
            user_id: whose events (an unknown user has none: an empty list).
            limit: how many events at most (1 to 1000).

        Returns:
            ``(offset, event)`` pairs as ``Engine.user_events`` gives them: the log offset
            and the ``freshrec.Event`` as logged.
        """
        return self._send(calls.user_events(user_id, limit))

    def forget_user(self, user_id: str) -> Forgotten:
        """Erase everything held about a user (``DELETE /v1/users/{user_id}``).

        The profile, the user's events and their served lists are erased and the server's
        state is rebuilt without them, so their next answer is a new user's. Writes to the
        server wait while it rebuilds (about as long as a restart). An unknown user is not
        an error: every count is zero.

        Returns:
            The receipt: whether a ``profile`` was deleted, how many ``events`` and served
            ``lists`` were erased.
        """
        return self._send(calls.forget_user(user_id))

    # -- events and answers -----------------------------------------------------------------

    def send_events(
        self, events: EventLike | Iterable[EventLike], atomic: bool = False
    ) -> IngestResult:
        """Send behaviour events (``POST /v1/events``); durable once this returns.

        The next answer for each event's user reflects it. Events without an ``event_id``
        get a random one before the first send, so a retry (or sending the same events
        again) counts them as ``duplicates``, never twice.

        Args:
            events: one event (a mapping with ``user_id``, ``item_id``, ``type`` and
                optional ``timestamp``, ``value``, ``event_id``, ``recommendation_id``, or a
                ``freshrec.Event``) or a list of them. A single bad event raises
                ``ApiValidationError``.
            atomic: for a list, reject it whole (``ApiValidationError``, nothing stored) if
                one event is bad; by default bad events are reported and the rest kept.

        Returns:
            ``accepted`` and ``duplicates`` counts and ``errors`` as ``(index, message)``.
        """
        return self._send(calls.send_events(events, atomic))

    def recommend(
        self,
        user_id: str,
        n: int = 10,
        scenario: str = "home",
        exclude: Iterable[str] | None = None,
        category: Categories = None,
    ) -> RecommendationList:
        """Return up to ``n`` items for a user, best first, each with its score and reasons.

        Items the user interacted with never appear; an unknown user gets a cold-start answer.

        Args:
            user_id: whom to recommend for.
            n: how many items at most (1 to 1000).
            scenario: a configured scenario (``ApiValidationError`` for an unknown one).
            exclude: item ids to leave out (ids holding a comma cannot be excluded).
            category: only items of this category, or of any of a list of categories.
        """
        return self._send(calls.recommend(user_id, n, scenario, exclude, category))

    def recommend_many(
        self,
        user_ids: Iterable[str],
        n: int = 10,
        scenario: str = "home",
        exclude: Iterable[str] | None = None,
        category: Categories = None,
    ) -> dict[str, RecommendationList]:
        """Return an answer for each user, as ``recommend`` gives it (``POST /v1/recommendations``).

        Users are asked 100 per request; each answer has its own ``recommendation_id``. A
        repeated user id is asked once. A refusal (a bad user id, say) raises, and answers
        of requests sent before it are lost to the caller (but logged as served lists).

        Args:
            user_ids: whom to recommend for.
            n: how many items at most per user (1 to 1000).
            scenario: a configured scenario, the same for every user.
            exclude: item ids to leave out of every answer.
            category: only items of this category, or of any of a list of categories.

        Returns:
            The answers keyed by user id, in the order the users were given (empty for no
            users, without a request).
        """
        answers: dict[str, RecommendationList] = {}
        for chunk in calls.user_batches(user_ids):
            call = calls.recommend_many(chunk, n, scenario, exclude, category)
            answered: dict[str, RecommendationList] = self._send(call)
            answers.update(answered)
        return answers

    def search(
        self,
        text: str,
        n: int = 10,
        user_id: str | None = None,
        category: Categories = None,
    ) -> RecommendationList:
        """Return items matching a description in words ("recommend items like: ..."), best first.

        Args:
            text: what to look for, in plain words.
            n: how many items at most (1 to 1000).
            user_id: personalise the order for this user (their seen items are left out).
            category: only items of this category, or of any of a list of categories.
        """
        return self._send(calls.search(text, n, user_id, category))

    def rank(self, user_id: str, item_ids: Iterable[str]) -> RankedList:
        """Score the given candidates for a user, best first (``POST /v1/rank``).

        Args:
            user_id: whom to rank for.
            item_ids: the candidates (at most 1000); unknown items score 0 and come last.
        """
        return self._send(calls.rank(user_id, item_ids))

    # -- operations -------------------------------------------------------------------------

    def health_live(self) -> bool:
        """Return whether the server process answers (``GET /health/live``)."""
        return self._send(calls.health_live())

    def health_ready(self) -> bool:
        """Return whether the server is ready to serve; ``False`` while starting or stopping."""
        return self._send(calls.health_ready())

    def metrics(self) -> str:
        """Return the Prometheus metrics text (``GET /metrics``)."""
        return self._send(calls.metrics())
