"""``freshrec.AsyncClient`` against a real ``freshrec serve --open`` process: every method."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest

import freshrec
from freshrec.client import (
    ApiValidationError,
    Forgotten,
    ItemPage,
    NotFoundError,
    RankedList,
    RecommendationList,
)

T = TypeVar("T")


def run(url: str, scenario: Callable[[freshrec.AsyncClient], Awaitable[T]]) -> T:
    """Run ``scenario`` with a fresh client inside its own event loop."""

    async def main() -> T:
        async with freshrec.AsyncClient(url) as client:
            return await scenario(client)

    return asyncio.run(main())


def test_operations(open_server: str) -> None:
    async def scenario(client: freshrec.AsyncClient) -> None:
        assert await client.health_live() is True
        assert await client.health_ready() is True
        assert "freshrec_http_requests_total" in await client.metrics()

    run(open_server, scenario)


def test_items_and_users(open_server: str) -> None:
    async def scenario(client: freshrec.AsyncClient) -> None:
        item = await client.upsert_item({"item_id": "async/1", "title": "A", "categories": ["c"]})
        assert isinstance(item, freshrec.Item) and item.item_id == "async/1"
        assert await client.get_item("async/1") == item
        assert await client.upsert_items([{"item_id": "async/2"}, freshrec.Item("async/3")]) == 2
        hidden = await client.delete_item("async/2")
        assert hidden.available is False
        assert (await client.get_item("async/2")).available is False

        user = await client.upsert_user({"user_id": "async user", "text": "t"})
        assert user == freshrec.User("async user", {}, "t")
        assert await client.get_user("async user") == user
        assert await client.upsert_users([{"user_id": "au2"}, freshrec.User("au3")]) == 2

    run(open_server, scenario)


def test_read_your_writes_and_answers(open_server: str) -> None:
    async def scenario(client: freshrec.AsyncClient) -> None:
        before = await client.recommend("async-ryw", n=10)
        assert isinstance(before, RecommendationList) and "i0" in before.item_ids
        result = await client.send_events(
            [{"user_id": "async-ryw", "item_id": "i0", "type": "click", "event_id": "async-1"}]
        )
        assert (result.accepted, result.duplicates, result.errors) == (1, 0, [])
        after = await client.recommend("async-ryw", n=10)
        assert "i0" not in after.item_ids and "i2" in after.item_ids[:3]
        assert after.recommendation_id != before.recommendation_id
        resent = await client.send_events(
            {"user_id": "async-ryw", "item_id": "i0", "type": "click", "event_id": "async-1"}
        )
        assert (resent.accepted, resent.duplicates) == (0, 1)

        odd = await client.recommend("async-ryw", n=4, category="odd", exclude=["i1"])
        assert "i1" not in odd.item_ids and all(int(i[1:]) % 2 for i in odd.item_ids)
        similar = await client.similar("i0", n=2)
        assert similar.scenario == "similar" and similar.item_ids[0] == "i2"
        ranked = await client.rank("async-ryw", ["i1", "i2"])
        assert isinstance(ranked, RankedList) and ranked.item_ids == ["i2", "i1"]
        found = await client.search("Item 5", n=2, user_id="async-ryw")
        assert found.scenario == "search" and len(found) <= 2

    run(open_server, scenario)


def test_concurrent_requests_share_one_client(open_server: str) -> None:
    async def scenario(client: freshrec.AsyncClient) -> list[RecommendationList]:
        return await asyncio.gather(*(client.recommend(f"even{k % 6}", n=3) for k in range(20)))

    answers = run(open_server, scenario)
    assert len({answer.recommendation_id for answer in answers}) == 20
    assert all(len(answer) == 3 for answer in answers)


def test_errors(open_server: str) -> None:
    async def scenario(client: freshrec.AsyncClient) -> None:
        with pytest.raises(NotFoundError) as missing:
            await client.get_item("never-stored")
        assert (missing.value.status, missing.value.field) == (404, "item_id")
        with pytest.raises(NotFoundError) as user:
            await client.get_user("never-stored")
        assert user.value.code == "unknown_user"
        with pytest.raises(ApiValidationError) as n:
            await client.similar("i0", n=100_000)
        assert (n.value.status, n.value.field) == (422, "n")
        with pytest.raises(ApiValidationError) as atomic:
            await client.send_events(
                [{"user_id": "u", "item_id": "i1", "type": "click"}, {"user_id": "u"}],
                atomic=True,
            )
        assert atomic.value.field == "item_id"
        partial = await client.send_events(
            [{"user_id": "u", "item_id": "i1", "type": "click"}, {"user_id": "u"}]
        )
        assert partial.accepted == 1 and [i for i, _ in partial.errors] == [1]

    run(open_server, scenario)


def test_patch_items_and_users(open_server: str) -> None:
    async def scenario(client: freshrec.AsyncClient) -> None:
        await client.upsert_item({"item_id": "async-patch", "title": "Old", "properties": {"a": 1}})
        item = await client.patch_item("async-patch", {"title": "New", "properties": {"b": 2}})
        assert isinstance(item, freshrec.Item)
        assert (item.title, item.properties) == ("New", {"a": 1, "b": 2})
        with pytest.raises(NotFoundError) as unknown_item:
            await client.patch_item("never-stored", {"title": "x"})
        assert (unknown_item.value.status, unknown_item.value.field) == (404, "item_id")

        await client.upsert_user({"user_id": "async-patch", "text": "t"})
        user = await client.patch_user("async-patch", {"properties": {"plan": "pro"}})
        assert user == freshrec.User("async-patch", {"plan": "pro"}, "t")
        with pytest.raises(NotFoundError) as unknown_user:
            await client.patch_user("never-mentioned", {"text": "x"})
        assert (unknown_user.value.status, unknown_user.value.field) == (404, "user_id")

    run(open_server, scenario)


def test_list_and_iterate_items(open_server: str) -> None:
    async def scenario(client: freshrec.AsyncClient) -> None:
        page = await client.list_items(limit=5)
        assert isinstance(page, ItemPage) and len(page.items) == 5
        assert page.next_cursor is not None
        following = await client.list_items(page.next_cursor, limit=5)
        assert following.items[0].item_id > page.items[-1].item_id

        every = [item.item_id async for item in client.iter_items(page_size=4)]
        assert every == sorted(every) and {f"i{k}" for k in range(30)} <= set(every)
        assert every == [item.item_id async for item in client.iter_items()]
        await client.upsert_item({"item_id": "async-hidden"})
        await client.delete_item("async-hidden")
        hidden = [item.item_id async for item in client.iter_items(available=False)]
        assert "async-hidden" in hidden

        with pytest.raises(ApiValidationError) as cursor:
            await client.list_items(cursor="not-a-cursor")
        assert (cursor.value.status, cursor.value.field) == (400, "cursor")

    run(open_server, scenario)


def test_user_events_and_forget_user(open_server: str) -> None:
    async def scenario(client: freshrec.AsyncClient) -> None:
        sent = await client.send_events(
            [
                {"user_id": "async-forget", "item_id": "i1", "type": "click", "timestamp": 10.0},
                {"user_id": "async-forget", "item_id": "i3", "type": "view", "timestamp": 20.0},
            ]
        )
        events = await client.user_events("async-forget")
        assert [offset for offset, _ in events] == [sent.offset, sent.offset - 1]
        assert [(e.item_id, e.type, e.timestamp) for _, e in events] == [
            ("i3", "view", 20.0),
            ("i1", "click", 10.0),
        ]
        assert await client.user_events("async-forget", limit=1) == events[:1]
        with pytest.raises(ApiValidationError) as limit:
            await client.user_events("async-forget", limit=0)
        assert (limit.value.status, limit.value.field) == (422, "limit")

        receipt = await client.forget_user("async-forget")
        assert receipt == Forgotten("async-forget", profile=False, events=2, lists=0)
        assert await client.user_events("async-forget") == []
        with pytest.raises(NotFoundError):
            await client.get_user("async-forget")
        with pytest.raises(ApiValidationError) as empty:
            await client.forget_user("")
        assert (empty.value.status, empty.value.field) == (400, "user_id")

    run(open_server, scenario)


def test_recommend_many_and_categories(open_server: str) -> None:
    async def scenario(client: freshrec.AsyncClient) -> None:
        users = [f"async-many{k}" for k in range(150)] + ["even0"]
        answers = await client.recommend_many(users, n=2, category=["odd", "even"])
        assert list(answers) == users
        assert all(isinstance(answer, RecommendationList) for answer in answers.values())
        assert len({answer.recommendation_id for answer in answers.values()}) == len(users)
        alone = await client.recommend("even0", n=2, category=["odd", "even"])
        assert answers["even0"].item_ids == alone.item_ids

        odd = await client.recommend("async-cat", n=30, category=["odd", "no-such-category"])
        assert odd.item_ids and all(int(i[1:]) % 2 for i in odd.item_ids)
        found = await client.search("Item 5", n=3, category=["odd"])
        assert all(int(i[1:]) % 2 for i in found.item_ids)

        with pytest.raises(ApiValidationError) as bad_id:
            await client.recommend_many(["even0", ""])
        assert (bad_id.value.status, bad_id.value.field) == (400, "user_ids")

    run(open_server, scenario)
