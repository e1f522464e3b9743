"""The serving building blocks on their own: JSON bodies, cache, activity, ids, doctests."""

from __future__ import annotations

import doctest
import importlib

import pytest

from freshrec.errors import ValidationError
from freshrec.serving.activity import EventActivity
from freshrec.serving.answers import id_list, new_recommendation_id
from freshrec.serving.body import MAX_DEPTH, parse_json
from freshrec.serving.cache import RecommendationCache
from freshrec.serving.errors import ApiError, error_body

MODULES = ["__init__", "activity", "answers", "app", "auth", "cache", "paths"]


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name: str) -> None:
    module = importlib.import_module(f"freshrec.serving.{name}".removesuffix(".__init__"))
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
    assert result.attempted > 0


def test_parse_json_accepts_ordinary_documents() -> None:
    assert parse_json(b' {"a": [1, 2.5, "\\u00e9", "\\ud83d\\ude00"]} ') == {
        "a": [1, 2.5, "é", "😀"]
    }


@pytest.mark.parametrize(
    "raw",
    [
        b"{",
        b"NaN",
        b"[Infinity]",
        b"[-1e400]",
        b"\xc3\x28",
        b"   ",
        b'["\\udc00"]',
        b'{"\\ud800": 1}',
        b"1" * 5000,  # beyond Python's int-from-text digit limit
        b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1),
        b"[" * 100_000,
    ],
)
def test_parse_json_refuses_with_a_400(raw: bytes) -> None:
    with pytest.raises(ApiError) as caught:
        parse_json(raw)
    assert caught.value.status == 400
    assert caught.value.code == "invalid_json"


def test_parse_json_accepts_scalars() -> None:
    assert parse_json(b"3") == 3
    assert parse_json(b'"x"') == "x"
    assert parse_json(b"null") is None


def test_depth_limit_is_exact() -> None:
    deep = b"[" * MAX_DEPTH + b"]" * MAX_DEPTH
    assert parse_json(deep) is not None


def test_cache_is_lru_and_bounded() -> None:
    cache = RecommendationCache(max_entries=2)
    cache.put("a", (1,))
    cache.put("b", (2,))
    assert cache.get("a") == (1,)  # a is now the most recent
    cache.put("c", (3,))
    assert cache.get("b") is None
    assert cache.get("a") == (1,) and cache.get("c") == (3,)
    assert len(cache) == 2
    assert (cache.hits, cache.misses) == (3, 1)


def test_cache_can_be_disabled() -> None:
    cache = RecommendationCache(max_entries=0)
    cache.put("a", (1,))
    assert cache.get("a") is None
    with pytest.raises(ValueError):
        RecommendationCache(max_entries=-1)


def test_activity_window() -> None:
    activity = EventActivity(window_seconds=60)
    activity.record(["a"] * 30, now=1000.0)
    activity.record(["b"] * 10, now=1050.0)
    assert activity.rate(60, now=1050.0) == pytest.approx(40 / 60)
    assert activity.rate(10, now=1050.0) == pytest.approx(1.0)
    assert activity.top_items(2, now=1050.0) == [("a", 30), ("b", 10)]
    assert activity.top_items(2, now=1070.0) == [("b", 10)]  # a's second left the window
    assert activity.total == 40


def test_recommendation_ids_are_unique() -> None:
    made = {new_recommendation_id() for _ in range(10_000)}
    assert len(made) == 10_000
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in made)


def test_id_list() -> None:
    assert id_list("a,,b", "exclude") == ("a", "b")
    assert id_list(None, "exclude") == ()
    with pytest.raises(ValidationError) as caught:
        id_list("a,\x01", "exclude")
    assert caught.value.field == "exclude"


def test_error_messages_are_bounded() -> None:
    body = error_body("invalid", "x" * 10_000, "type")
    assert len(body["error"]["message"]) == 500


def test_read_worker_runs_calls_in_order_off_the_loop_and_delivers_errors() -> None:
    import asyncio
    import threading

    from freshrec.serving.scoring import ReadWorker

    worker = ReadWorker()
    seen: list[tuple[int, str]] = []

    def call(k: int) -> int:
        seen.append((k, threading.current_thread().name))
        if k == 3:
            raise ValidationError("bad", "n")
        return k * k

    async def main() -> list[object]:
        loop_thread = threading.current_thread().name
        results = await asyncio.gather(
            *(worker.run(call, k) for k in range(5)), return_exceptions=True
        )
        assert all(name != loop_thread for _, name in seen)
        return results

    results = asyncio.run(main())
    assert results[:3] == [0, 1, 4] and results[4] == 16
    assert isinstance(results[3], ValidationError) and results[3].field == "n"
    assert [k for k, _ in seen] == list(range(5))
    assert len({name for _, name in seen}) == 1  # one thread for every call
    worker.stop()
    assert asyncio.run(worker.run(call, 2)) == 4  # a stopped worker starts again on use
    worker.stop()
