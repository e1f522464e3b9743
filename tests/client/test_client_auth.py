"""Both clients against a real server with API keys (made by ``freshrec keys create``)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

import freshrec
from freshrec.client import AuthError

from .conftest import catalogue, create_key, running_server

EVENT = {"user_id": "u1", "item_id": "i1", "type": "click"}


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    """A server without ``--open`` and one key per scope."""
    data: Path = tmp_path_factory.mktemp("keyed") / "data"
    keys = {scope: create_key(data, scope) for scope in ("admin", "read", "ingest")}
    with running_server(data, open_access=False) as url:
        with freshrec.Client(url, api_key=keys["admin"]) as admin:
            assert admin.upsert_items(catalogue()) == len(catalogue())
        yield url, keys


def test_admin_key_does_everything(keyed: tuple[str, dict[str, str]]) -> None:
    url, keys = keyed
    with freshrec.Client(url, api_key=keys["admin"]) as client:
        assert client.upsert_item({"item_id": "k1"}).item_id == "k1"
        assert client.upsert_user({"user_id": "u1"}).user_id == "u1"
        assert client.send_events(EVENT).accepted == 1
        assert "i1" not in client.recommend("u1").item_ids
        assert client.get_user("u1").user_id == "u1"
        assert client.rank("u1", ["i2"]).item_ids == ["i2"]
        assert "freshrec" in client.metrics()


def test_ingest_key_only_sends_events(keyed: tuple[str, dict[str, str]]) -> None:
    url, keys = keyed
    with freshrec.Client(url, api_key=keys["ingest"]) as client:
        assert client.send_events({**EVENT, "item_id": "i3"}).accepted == 1
        with pytest.raises(AuthError) as refused:
            client.recommend("u1")
        assert (refused.value.status, refused.value.code) == (403, "forbidden")
        assert "ingest" in refused.value.message
        for call in (lambda: client.get_item("i1"), lambda: client.upsert_item({"item_id": "x"})):
            with pytest.raises(AuthError) as other:
                call()
            assert other.value.status == 403
        assert client.health_ready() is True  # health is open to everyone


def test_read_key_reads_but_does_not_write(keyed: tuple[str, dict[str, str]]) -> None:
    url, keys = keyed
    with freshrec.Client(url, api_key=keys["read"]) as client:
        assert client.get_item("i1").item_id == "i1"
        assert client.similar("i1", n=2).scenario == "similar"
        for call in (
            lambda: client.upsert_items([{"item_id": "x"}]),
            lambda: client.delete_item("i1"),
            lambda: client.upsert_users([{"user_id": "x"}]),
            lambda: client.send_events(EVENT),
        ):
            with pytest.raises(AuthError) as refused:
                call()
            assert refused.value.status == 403
        assert client.get_item("i1").available is True  # the refused delete changed nothing


@pytest.mark.parametrize("api_key", [None, "fr_0123456789abcdef_" + "x" * 43, "not-a-key"])
def test_missing_or_unknown_key_is_401(
    keyed: tuple[str, dict[str, str]], api_key: str | None
) -> None:
    url, _ = keyed
    with freshrec.Client(url, api_key=api_key) as client:
        with pytest.raises(AuthError) as refused:
            client.recommend("u1")
        assert (refused.value.status, refused.value.code) == (401, "unauthorized")
        assert isinstance(refused.value, freshrec.FreshrecError)


def test_async_client_sends_its_key(keyed: tuple[str, dict[str, str]]) -> None:
    url, keys = keyed

    async def main() -> None:
        async with freshrec.AsyncClient(url, api_key=keys["ingest"]) as ingest:
            assert (await ingest.send_events({**EVENT, "item_id": "i5"})).accepted == 1
            with pytest.raises(AuthError) as refused:
                await ingest.recommend("u1")
            assert refused.value.status == 403
        async with freshrec.AsyncClient(url, api_key=keys["read"]) as reader:
            answer = await reader.recommend("u1", n=30)
            assert "i5" not in answer.item_ids  # the ingest key's event was applied

    asyncio.run(main())
