"""A retried ``send_events`` never counts an event twice: the client gives each an id first.

A real ``freshrec serve`` sits behind a proxy that forwards the first request, waits for the
server's answer (so the events are applied and durable) and then hangs up without passing
it on: the client sees ``RemoteProtocolError`` and sends the same body again.
"""

from __future__ import annotations

import select
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import freshrec

from .conftest import running_server

EVENTS = [
    {"user_id": "u1", "item_id": "i1", "type": "click"},
    {"user_id": "u1", "item_id": "i2", "type": "click"},
]


@contextmanager
def dropping_first_answer(upstream: str) -> Iterator[str]:
    """A proxy to ``upstream`` that swallows the answer to its first connection's request."""
    host, port = upstream.removeprefix("http://").split(":")
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)
    stop = threading.Event()

    def pipe(client: socket.socket, drop_answer: bool) -> None:
        with client, socket.create_connection((host, int(port))) as server:
            while not stop.is_set():
                ready, _, _ = select.select([client, server], [], [], 0.1)
                for source in ready:
                    data = source.recv(65536)
                    if not data or (source is server and drop_answer):
                        return  # hang up: the answer never reaches the client
                    (server if source is client else client).sendall(data)

    def serve() -> None:
        first = True
        while not stop.is_set():
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            threading.Thread(target=pipe, args=(client, first), daemon=True).start()
            first = False

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join()
        listener.close()


def test_a_retry_after_a_lost_answer_is_a_duplicate(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with running_server(data, open_access=True) as url:
        with freshrec.Client(url) as direct:
            direct.upsert_items([{"item_id": "i1"}, {"item_id": "i2"}])
        with (
            dropping_first_answer(url) as proxy,
            freshrec.Client(proxy, retries=2, backoff_seconds=0.01) as client,
        ):
            result = client.send_events(EVENTS)
        # The first send was applied; its answer was lost; the resend was all duplicates.
        assert (result.accepted, result.duplicates, result.errors) == (0, 2, [])
        with freshrec.Client(url) as direct:
            metrics = direct.metrics()
    assert "freshrec_engine_events 2.0" in metrics


def test_given_event_ids_are_kept_and_events_are_not_changed() -> None:
    from freshrec.client import calls

    mine = {"user_id": "u", "item_id": "i", "type": "click", "event_id": "mine"}
    bare = {"user_id": "u", "item_id": "i", "type": "click"}
    call = calls.send_events([mine, bare], atomic=False)
    assert call.content is not None and b'"event_id":"mine"' in call.content.replace(b" ", b"")
    assert call.content.count(b'"cl-') == 1
    assert "event_id" not in bare  # the caller's record is not modified
