"""Retries: connection failures are retried with backoff; answers (4xx, 5xx) never are.

No server process here: a closed port, a socket that hangs up, and ``httpx.MockTransport``.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable, Iterator

import httpx
import pytest

import freshrec
from freshrec.client import ApiConnectionError, ApiError, ApiValidationError, AuthError

from .conftest import free_port

Handler = Callable[[httpx.Request], httpx.Response]


class Counting:
    """A mock handler that counts calls and answers from a list (the last one repeats)."""

    def __init__(self, *outcomes: httpx.Response | Exception) -> None:
        self.outcomes = outcomes
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        outcome = self.outcomes[min(len(self.requests), len(self.outcomes)) - 1]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    @property
    def calls(self) -> int:
        return len(self.requests)


def mock_client(handler: Handler, retries: int = 2) -> freshrec.Client:
    return freshrec.Client(
        "http://freshrec.test",
        api_key="k",
        retries=retries,
        backoff_seconds=0.001,
        transport=httpx.MockTransport(handler),
    )


def refused(request: httpx.Request) -> httpx.ConnectError:
    return httpx.ConnectError("connection refused", request=request)


class CountingTransport(httpx.HTTPTransport):
    """The real network transport, counting each attempt."""

    def __init__(self) -> None:
        super().__init__()
        self.attempts = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.attempts += 1
        return super().handle_request(request)


class AsyncCountingTransport(httpx.AsyncHTTPTransport):
    def __init__(self) -> None:
        super().__init__()
        self.attempts = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.attempts += 1
        return await super().handle_async_request(request)


def test_closed_port_is_retried_then_raises() -> None:
    transport = CountingTransport()
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    client = freshrec.Client(url, retries=2, backoff_seconds=0.02, transport=transport)
    started = time.monotonic()
    with client, pytest.raises(ApiConnectionError) as caught:
        client.recommend("u1")
    elapsed = time.monotonic() - started
    assert transport.attempts == 3  # the first try and 2 retries
    assert caught.value.attempts == 3
    assert isinstance(caught.value.__cause__, httpx.ConnectError)
    assert isinstance(caught.value, ConnectionError) and isinstance(
        caught.value, freshrec.FreshrecError
    )
    assert "3 attempts" in str(caught.value)
    assert elapsed >= 0.02 + 0.04  # exponential backoff: 0.02 s, then 0.04 s


def test_closed_port_async() -> None:
    transport = AsyncCountingTransport()
    url = f"http://127.0.0.1:{free_port()}"

    async def main() -> None:
        async with freshrec.AsyncClient(
            url, retries=2, backoff_seconds=0.001, transport=transport
        ) as client:
            with pytest.raises(ApiConnectionError) as caught:
                await client.health_live()
            assert caught.value.attempts == 3

    asyncio.run(main())
    assert transport.attempts == 3


def test_zero_retries_tries_once() -> None:
    transport = CountingTransport()
    client = freshrec.Client(f"http://127.0.0.1:{free_port()}", retries=0, transport=transport)
    with client, pytest.raises(ApiConnectionError) as caught:
        client.health_ready()
    assert transport.attempts == 1 and caught.value.attempts == 1


@pytest.fixture
def hang_up_server() -> Iterator[tuple[str, list[int]]]:
    """A socket server that reads each request and closes without answering."""
    accepted = [0]
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            accepted[0] += 1
            with conn:
                conn.recv(65536)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}", accepted
    finally:
        stop.set()
        thread.join()
        listener.close()


def test_hang_up_before_a_response_is_retried(hang_up_server: tuple[str, list[int]]) -> None:
    url, accepted = hang_up_server
    client = freshrec.Client(url, retries=2, backoff_seconds=0.001)
    with client, pytest.raises(ApiConnectionError) as caught:
        client.get_item("i1")
    assert caught.value.attempts == 3 and accepted[0] == 3
    assert isinstance(caught.value.__cause__, httpx.RemoteProtocolError)


def test_connection_failures_then_success() -> None:
    ok = httpx.Response(200, json={"status": "ready"})
    handler = Counting(httpx.ConnectError("refused"), httpx.RemoteProtocolError("hung up"), ok)
    with mock_client(handler, retries=3) as client:
        assert client.health_ready() is True
    assert handler.calls == 3


def test_connect_timeout_is_retried() -> None:
    handler = Counting(httpx.ConnectTimeout("slow"))
    with mock_client(handler, retries=2) as client, pytest.raises(ApiConnectionError):
        client.metrics()
    assert handler.calls == 3


def test_read_timeout_is_not_retried() -> None:
    handler = Counting(httpx.ReadTimeout("the server may be working on it"))
    with mock_client(handler) as client, pytest.raises(ApiConnectionError) as caught:
        client.send_events({"user_id": "u", "item_id": "i", "type": "click"})
    assert handler.calls == 1 and caught.value.attempts == 1


def error(status: int, code: str, field: str | None = None) -> httpx.Response:
    return httpx.Response(
        status, json={"error": {"code": code, "message": f"{code} happened", "field": field}}
    )


@pytest.mark.parametrize(
    ("response", "kind"),
    [
        (error(500, "internal"), ApiError),
        (error(503, "unavailable"), ApiError),
        (error(400, "invalid", "item_id"), ApiValidationError),
        (error(401, "unauthorized"), AuthError),
        (error(429, "too_many"), ApiError),
    ],
)
def test_answers_are_never_retried(response: httpx.Response, kind: type[ApiError]) -> None:
    handler = Counting(response)
    with mock_client(handler, retries=5) as client, pytest.raises(kind) as caught:
        client.send_events([{"user_id": "u", "item_id": "i", "type": "click"}])
    assert handler.calls == 1
    assert caught.value.status == response.status_code
    assert caught.value.message == f"{caught.value.code} happened"


def test_answers_are_never_retried_async() -> None:
    handler = Counting(error(502, "bad_gateway"))

    async def main() -> None:
        transport = httpx.MockTransport(handler)
        async with freshrec.AsyncClient(
            "http://freshrec.test", retries=5, transport=transport
        ) as client:
            with pytest.raises(ApiError) as caught:
                await client.recommend("u1")
            assert caught.value.status == 502 and type(caught.value) is ApiError

    asyncio.run(main())
    assert handler.calls == 1


def test_async_connection_failures_then_success() -> None:
    handler = Counting(httpx.ConnectError("refused"), httpx.Response(200, json={"status": "live"}))

    async def main() -> bool:
        transport = httpx.MockTransport(handler)
        async with freshrec.AsyncClient(
            "http://freshrec.test", backoff_seconds=0.001, transport=transport
        ) as client:
            return await client.health_live()

    assert asyncio.run(main()) is True
    assert handler.calls == 2


def test_request_shape_and_odd_bodies() -> None:
    handler = Counting(
        httpx.Response(200, json={"recommendation_id": "r", "scenario": "home", "items": []}),
        httpx.Response(502, text="<html>Bad Gateway</html>"),
        httpx.Response(200, json={"unexpected": True}),
        httpx.Response(503, json={"error": {"code": "not_ready", "message": "starting"}}),
    )
    with mock_client(handler) as client:
        assert len(client.recommend("a/b c", n=3, exclude=["x", "y"], category="c")) == 0
        sent = handler.requests[0]
        assert (
            sent.url.raw_path
            == b"/v1/recommendations/a%2Fb%20c?scenario=home&n=3&exclude=x%2Cy&category=c"
        )
        assert sent.headers["authorization"] == "Bearer k"
        with pytest.raises(ApiError) as html:
            client.metrics()
        assert (html.value.status, html.value.code) == (502, "http_error")
        assert "Bad Gateway" in html.value.message
        with pytest.raises(ApiError) as shape:
            client.get_item("i1")
        assert shape.value.code == "invalid_response"
        assert client.health_ready() is False  # a 503 while starting or stopping
    assert handler.calls == 4


def test_settings_are_checked() -> None:
    for bad in ({"retries": -1}, {"timeout": 0}, {"backoff_seconds": -0.1}):
        with pytest.raises(ValueError):
            freshrec.Client("http://x", **bad)
