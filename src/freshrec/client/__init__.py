"""Python client of the freshrec HTTP API: ``Client`` (blocking) and ``AsyncClient`` (asyncio).

Both cover every route of ``freshrec serve`` with the same methods and typed results:
stored records come back as ``freshrec.Item`` / ``freshrec.User``, ingest outcomes as
``freshrec.IngestResult``, answers as ``RecommendationList`` / ``RankedList`` of
``freshrec.Recommendation``, catalogue pages as ``ItemPage``, a user's events as
``(offset, freshrec.Event)`` and a forgotten user's receipt as ``Forgotten``. Refusals
raise ``ApiError`` subclasses carrying ``status``, ``code``, ``message`` and ``field``; only
connection failures are retried.

Example (with ``freshrec serve --data demo-data --open`` running)::

    import freshrec

    with freshrec.Client("http://127.0.0.1:8000") as client:
        client.upsert_items([{"item_id": "i1", "title": "Blue shoes", "categories": ["shoes"]},
                             {"item_id": "i2", "title": "Red shoes", "categories": ["shoes"]}])
        client.send_events({"user_id": "u1", "item_id": "i1", "type": "click",
                            "event_id": "u1-i1-1"})
        answer = client.recommend("u1", n=5)
        for rec in answer:
            print(rec.item_id, round(rec.score, 3), rec.why)
        client.patch_item("i2", {"title": "Red shoes, large"})  # only the fields named
        print(sum(1 for _ in client.iter_items()), "items")  # every page of the catalogue
        answers = client.recommend_many(["u1", "u2"], n=3, category=["shoes", "boots"])
        print({user_id: answer.item_ids for user_id, answer in answers.items()})
        try:
            client.get_item("no-such-item")
        except freshrec.client.NotFoundError as error:
            print(error.status, error.code, error.field)

The same with ``asyncio``::

    import asyncio

    async def main() -> None:
        async with freshrec.AsyncClient("http://127.0.0.1:8000") as client:
            answer = await client.recommend("u1", n=5)
            print(answer.recommendation_id, answer.item_ids)

    asyncio.run(main())

With keys (``freshrec keys create --data DIR --scope read``), pass ``api_key=KEY``.
"""

from freshrec.client.aio import AsyncClient
from freshrec.client.errors import (
    ApiConnectionError,
    ApiError,
    ApiValidationError,
    AuthError,
    NotFoundError,
)
from freshrec.client.models import Forgotten, ItemPage, RankedList, RecommendationList
from freshrec.client.sync import Client

__all__ = [
    "ApiConnectionError",
    "ApiError",
    "ApiValidationError",
    "AsyncClient",
    "AuthError",
    "Client",
    "Forgotten",
    "ItemPage",
    "NotFoundError",
    "RankedList",
    "RecommendationList",
]
