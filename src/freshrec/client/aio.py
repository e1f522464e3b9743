"""The asyncio client: ``freshrec.AsyncClient``, the same methods as ``Client``, awaited."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Mapping
from types import TracebackType
from typing import Any

import httpx

from freshrec.client import calls
from freshrec.client.calls import Call, EventLike, ItemLike, T, UserLike
from freshrec.client.errors import connection_error
from freshrec.client.models import ItemPage, RankedList, RecommendationList
from freshrec.management.forget import Forgotten
from freshrec.types import Categories, Event, IngestResult, Item, User


class AsyncClient:
    """An asyncio client of the freshrec HTTP API, over one keep-alive connection pool.

    Methods, results, errors and retries are those of ``freshrec.Client`` (read its
    docstring: only connection failures before any response are retried, and
    ``send_events`` gives events without an ``event_id`` one before the first send, so a
    retry is counted as a duplicate). Create, use and
    close it inside one event loop: ``async with AsyncClient(url) as client: ...``.

    Args:
        base_url: where the server listens, e.g. ``"http://127.0.0.1:8000"``.
        api_key: a key from ``freshrec keys create``; ``None`` for a server run with ``--open``.
        timeout: seconds allowed for connecting, and for each read and write.
        retries: how many times a connection failure is retried (0: never).
        backoff_seconds: the pause before the first retry; it doubles for each next one.
        transport: an ``httpx`` async transport to send through instead of the network.

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
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        calls.check_settings(timeout, retries, backoff_seconds)
        self.base_url = base_url.rstrip("/")
        self.retries = retries
        self.backoff_seconds = backoff_seconds
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            headers=calls.default_headers(api_key),
            timeout=timeout,
            transport=transport,
        )

    def __repr__(self) -> str:
        return f"AsyncClient({self.base_url!r})"

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the pooled connections; the client cannot be used afterwards."""
        await self._http.aclose()

    async def aclose(self) -> None:
        """Close the pooled connections (the name ``contextlib.aclosing`` expects)."""
        await self.close()

    async def _send(self, call: Call[T]) -> T:
        request = self._http.build_request(
            call.method, call.path, params=call.params, content=call.content, headers=call.headers
        )
        attempt = 0
        while True:
            try:
                # As in Client._send: a failure here happened before any response.
                response = await self._http.send(request, stream=True)
            except calls.RETRYABLE as exc:
                if attempt >= self.retries:
                    raise connection_error(call.method, request.url, exc, attempt + 1) from exc
                await asyncio.sleep(calls.backoff_delay(self.backoff_seconds, attempt))
                attempt += 1
                continue
            except httpx.TransportError as exc:
                raise connection_error(call.method, request.url, exc, attempt + 1) from exc
            try:
                await response.aread()
            except httpx.TransportError as exc:
                raise connection_error(call.method, request.url, exc, attempt + 1) from exc
            finally:
                await response.aclose()
            return call.finish(response)

    async def upsert_item(self, item: ItemLike) -> Item:
        """Create or replace one item; see ``Client.upsert_item``."""
        return await self._send(calls.upsert_item(item))

    async def upsert_items(self, items: Iterable[ItemLike]) -> int:
        """Create or replace items in one batch; see ``Client.upsert_items``."""
        return await self._send(calls.upsert_items(items))

    async def patch_item(self, item_id: str, changes: Mapping[str, Any]) -> Item:
        """Change only the given fields of an item; see ``Client.patch_item``."""
        return await self._send(calls.patch_item(item_id, changes))

    async def list_items(
        self, cursor: str | None = None, limit: int = 100, available: bool | None = None
    ) -> ItemPage:
        """Return one page of the catalogue; see ``Client.list_items``."""
        return await self._send(calls.list_items(cursor, limit, available))

    async def iter_items(
        self, page_size: int = 1000, available: bool | None = None
    ) -> AsyncIterator[Item]:
        """Yield every item, one request per page (``async for``); see ``Client.iter_items``."""
        cursor: str | None = None
        while True:
            page = await self.list_items(cursor, page_size, available)
            for item in page.items:
                yield item
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    async def get_item(self, item_id: str) -> Item:
        """Return a stored item; see ``Client.get_item``."""
        return await self._send(calls.get_item(item_id))

    async def delete_item(self, item_id: str) -> Item:
        """Hide an item from every answer; see ``Client.delete_item``."""
        return await self._send(calls.delete_item(item_id))

    async def similar(
        self, item_id: str, n: int = 10, exclude: Iterable[str] | None = None
    ) -> RecommendationList:
        """Return items similar to an item; see ``Client.similar``."""
        return await self._send(calls.similar(item_id, n, exclude))

    async def upsert_user(self, user: UserLike) -> User:
        """Create or replace one profile; see ``Client.upsert_user``."""
        return await self._send(calls.upsert_user(user))

    async def upsert_users(self, users: Iterable[UserLike]) -> int:
        """Create or replace profiles in one batch; see ``Client.upsert_users``."""
        return await self._send(calls.upsert_users(users))

    async def patch_user(self, user_id: str, changes: Mapping[str, Any]) -> User:
        """Change only the given fields of a profile; see ``Client.patch_user``."""
        return await self._send(calls.patch_user(user_id, changes))

    async def get_user(self, user_id: str) -> User:
        """Return a user's profile; see ``Client.get_user``."""
        return await self._send(calls.get_user(user_id))

    async def user_events(self, user_id: str, limit: int = 100) -> list[tuple[int, Event]]:
        """Return the user's recent events, newest first; see ``Client.user_events``."""
        return await self._send(calls.user_events(user_id, limit))

    async def forget_user(self, user_id: str) -> Forgotten:
        """Erase everything held about a user; see ``Client.forget_user``."""
        return await self._send(calls.forget_user(user_id))

    async def send_events(
        self, events: EventLike | Iterable[EventLike], atomic: bool = False
    ) -> IngestResult:
        """Send behaviour events; see ``Client.send_events`` (idempotent only with event ids)."""
        return await self._send(calls.send_events(events, atomic))

    async def recommend(
        self,
        user_id: str,
        n: int = 10,
        scenario: str = "home",
        exclude: Iterable[str] | None = None,
        category: Categories = None,
    ) -> RecommendationList:
        """Return up to ``n`` items for a user; see ``Client.recommend``."""
        return await self._send(calls.recommend(user_id, n, scenario, exclude, category))

    async def recommend_many(
        self,
        user_ids: Iterable[str],
        n: int = 10,
        scenario: str = "home",
        exclude: Iterable[str] | None = None,
        category: Categories = None,
    ) -> dict[str, RecommendationList]:
        """Return an answer for each user, keyed by user id; see ``Client.recommend_many``.

        The requests of 100 users each are sent one after the other, not at once.
        """
        answers: dict[str, RecommendationList] = {}
        for chunk in calls.user_batches(user_ids):
            call = calls.recommend_many(chunk, n, scenario, exclude, category)
            answered: dict[str, RecommendationList] = await self._send(call)
            answers.update(answered)
        return answers

    async def search(
        self,
        text: str,
        n: int = 10,
        user_id: str | None = None,
        category: Categories = None,
    ) -> RecommendationList:
        """Return items matching a description in words; see ``Client.search``."""
        return await self._send(calls.search(text, n, user_id, category))

    async def rank(self, user_id: str, item_ids: Iterable[str]) -> RankedList:
        """Score the given candidates for a user; see ``Client.rank``."""
        return await self._send(calls.rank(user_id, item_ids))

    async def health_live(self) -> bool:
        """Return whether the server process answers; see ``Client.health_live``."""
        return await self._send(calls.health_live())

    async def health_ready(self) -> bool:
        """Return whether the server is ready to serve; see ``Client.health_ready``."""
        return await self._send(calls.health_ready())

    async def metrics(self) -> str:
        """Return the Prometheus metrics text; see ``Client.metrics``."""
        return await self._send(calls.metrics())
