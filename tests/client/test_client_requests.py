"""What the clients put on the wire for the record and batch routes, through a mock transport.

The server refuses unknown query parameters, so parameters left at their defaults must not be
sent at all; repeated categories go as a repeated parameter; batches of users go 100 a call.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

import freshrec
from freshrec.client import ApiError, Forgotten

Handler = Callable[[httpx.Request], httpx.Response]


class Recording:
    """A mock handler that keeps every request and answers with ``answer(request)``."""

    def __init__(self, answer: Callable[[httpx.Request], Any]) -> None:
        self.answer = answer
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(200, json=self.answer(request))

    @property
    def queries(self) -> list[list[tuple[str, str]]]:
        return [list(request.url.params.multi_items()) for request in self.requests]

    @property
    def bodies(self) -> list[Any]:
        return [json.loads(request.content) for request in self.requests]


def sync_client(handler: Handler) -> freshrec.Client:
    return freshrec.Client("http://freshrec.test", transport=httpx.MockTransport(handler))


def async_client(handler: Handler) -> freshrec.AsyncClient:
    return freshrec.AsyncClient("http://freshrec.test", transport=httpx.MockTransport(handler))


def answer_body(request: httpx.Request) -> dict[str, Any]:
    return {"recommendation_id": "r", "scenario": "home", "items": []}


def item(item_id: str) -> dict[str, Any]:
    return {"item_id": item_id}


def three_pages(request: httpx.Request) -> dict[str, Any]:
    """Items a..e, two a page, the cursor being the last id of the page before."""
    pages = {None: (["a", "b"], "c1"), "c1": (["c", "d"], "c2"), "c2": (["e"], None)}
    ids, cursor = pages[request.url.params.get("cursor")]
    return {"items": [item(i) for i in ids], "next_cursor": cursor}


def batch_answer(request: httpx.Request) -> dict[str, Any]:
    user_ids = json.loads(request.content)["user_ids"]
    return {
        "results": [
            {"user_id": user_id, "recommendation_id": f"r-{user_id}", "scenario": "home",
             "variant": None, "model_version": "v1", "items": []}
            for user_id in user_ids
        ]
    }  # fmt: skip


def test_categories_are_sent_as_a_repeated_parameter() -> None:
    recording = Recording(answer_body)
    with sync_client(recording) as client:
        client.recommend("u", category=["a", "b"])
        client.recommend("u", category="a")
        client.recommend("u")
        client.search("shoes", category=("a", "b"))
    categories = [[v for k, v in query if k == "category"] for query in recording.queries]
    assert categories == [["a", "b"], ["a"], [], ["a", "b"]]
    assert str(recording.requests[0].url).endswith("category=a&category=b")


def test_list_items_sends_only_what_is_set() -> None:
    recording = Recording(lambda request: {"items": [item("a")], "next_cursor": None})
    with sync_client(recording) as client:
        page = client.list_items()
        client.list_items("i1.YQ", limit=5, available=False)
        client.list_items(available=True)
    assert page == freshrec.client.ItemPage([freshrec.Item("a")], None)
    assert recording.queries == [
        [("limit", "100")],
        [("limit", "5"), ("cursor", "i1.YQ"), ("available", "false")],
        [("limit", "100"), ("available", "true")],
    ]


def test_iter_items_follows_the_cursor_to_the_last_page() -> None:
    recording = Recording(three_pages)
    with sync_client(recording) as client:
        ids = [found.item_id for found in client.iter_items(page_size=2, available=True)]
    assert ids == ["a", "b", "c", "d", "e"]
    assert [request.url.params.get("cursor") for request in recording.requests] == [
        None,
        "c1",
        "c2",
    ]
    assert all(request.url.params["limit"] == "2" for request in recording.requests)


def test_async_iter_items_follows_the_cursor_to_the_last_page() -> None:
    recording = Recording(three_pages)

    async def main() -> list[str]:
        async with async_client(recording) as client:
            return [found.item_id async for found in client.iter_items(page_size=2)]

    assert asyncio.run(main()) == ["a", "b", "c", "d", "e"]
    assert len(recording.requests) == 3


def test_patch_user_events_and_forget_requests() -> None:
    def answer(request: httpx.Request) -> Any:
        if request.url.path.endswith("/events"):
            return {"user_id": "u/1", "events": []}
        if request.method == "DELETE":
            return {"user_id": "u/1", "profile": True, "events": 3, "lists": 2}
        return {"user_id": "u/1", "properties": {}, "text": "", "profile": True, "events": 0}

    recording = Recording(answer)
    with sync_client(recording) as client:
        assert client.patch_user("u/1", {"text": None}) == freshrec.User("u/1")
        assert client.user_events("u/1", limit=7) == []
        assert client.forget_user("u/1") == Forgotten("u/1", True, 3, 2)
    patch, events, forget = recording.requests
    assert (patch.method, patch.url.raw_path) == ("PATCH", b"/v1/users/u%2F1")
    assert patch.content == b'{"text":null}'
    assert patch.headers["Content-Type"] == "application/json"
    assert events.url.raw_path == b"/v1/users/u%2F1/events?limit=7"
    assert (forget.method, forget.url.raw_path, forget.content) == (
        "DELETE",
        b"/v1/users/u%2F1",
        b"",
    )


def test_recommend_many_sends_100_distinct_users_a_call() -> None:
    recording = Recording(batch_answer)
    users = [f"u{k}" for k in range(250)]
    with sync_client(recording) as client:
        answers = client.recommend_many(users + users[:10], n=3, exclude=["i1"], category="c")
    assert list(answers) == users
    assert answers["u7"].recommendation_id == "r-u7"
    assert [len(body["user_ids"]) for body in recording.bodies] == [100, 100, 50]
    assert recording.bodies[2] == {
        "user_ids": users[200:],
        "n": 3,
        "scenario": "home",
        "exclude": ["i1"],
        "category": ["c"],
    }
    assert all(request.url.params == httpx.QueryParams() for request in recording.requests)


def test_async_recommend_many_sends_100_distinct_users_a_call() -> None:
    recording = Recording(batch_answer)

    async def main() -> list[str]:
        async with async_client(recording) as client:
            answers = await client.recommend_many([f"u{k}" for k in range(101)], n=1)
            return list(answers)

    assert asyncio.run(main()) == [f"u{k}" for k in range(101)]
    assert [len(body["user_ids"]) for body in recording.bodies] == [100, 1]
    assert set(recording.bodies[0]) == {"user_ids", "n", "scenario"}  # defaults not sent


def test_recommend_many_checks_the_answer_matches_the_question() -> None:
    def shuffled(request: httpx.Request) -> dict[str, Any]:
        body = batch_answer(request)
        body["results"].reverse()
        return body

    with sync_client(Recording(shuffled)) as client, pytest.raises(ApiError) as caught:
        client.recommend_many(["a", "b"])
    assert caught.value.code == "invalid_response"
    with sync_client(Recording(batch_answer)) as client:
        assert client.recommend_many([]) == {}


def test_local_checks_of_the_new_arguments() -> None:
    recording = Recording(answer_body)
    with sync_client(recording) as client:
        with pytest.raises(freshrec.ValidationError) as empty:
            client.search("shoes", category=[])
        assert empty.value.field == "category"
        with pytest.raises(freshrec.ValidationError) as not_str:
            client.recommend("u", category=["a", 1])  # type: ignore[list-item]
        assert not_str.value.field == "category"
        with pytest.raises(freshrec.ValidationError) as users:
            client.recommend_many(["a", None])  # type: ignore[list-item]
        assert users.value.field == "user_ids"
        with pytest.raises(freshrec.ValidationError):
            client.patch_item("i1", "title=x")  # type: ignore[arg-type]
    assert recording.requests == []  # nothing was sent
