"""Cursor listing of a large catalogue over HTTP while items are upserted.

A real ``freshrec serve --open`` process gets ``--items`` items (1,000 per ``POST``), then
``GET /v1/items`` pages through them ``--limit`` at a time twice: alone (the peer: the same
listing with nothing else going on), and while a second client upserts meanwhile (a rewrite
of an existing item, a new id sorting inside the listed range and one sorting before it, 3
items per ``POST`` without pause). Each pass must list every item present from the start
exactly once, in id order: duplicates and gaps are counted, not assumed. Text encoding is off
(``content.encoder: none``) so the load is quick; it does not change what listing costs.

    .venv/bin/python bench/list_items.py --items 100000 --limit 1000
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

LAUNCH = "from freshrec.cli import app; app(prog_name='freshrec')"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start(data: Path, port: int) -> subprocess.Popen[bytes]:
    config = data.parent / "settings.json"
    config.write_text(json.dumps({"content": {"encoder": "none"}}))
    command = [sys.executable, "-c", LAUNCH, "serve", "--data", str(data), "--open"]
    process = subprocess.Popen(
        [*command, "--port", str(port), "--config", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "OPENBLAS_NUM_THREADS": "1"},
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if httpx.get(f"{url}/health/ready", timeout=1.0).status_code == 200:
                return process
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    process.kill()
    raise RuntimeError("the server did not start")


def list_all(client: httpx.Client, limit: int) -> tuple[list[str], int, float]:
    """Every item id of one listing, the pages it took and its seconds."""
    ids: list[str] = []
    cursor, pages = None, 0
    started = time.perf_counter()
    while True:
        params: dict[str, Any] = {"limit": limit}
        if cursor is not None:
            params["cursor"] = cursor
        page = client.get("/v1/items", params=params)
        page.raise_for_status()
        body = page.json()
        ids += [item["item_id"] for item in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            return ids, pages, time.perf_counter() - started


def check(ids: list[str], expected: set[str]) -> dict[str, int]:
    return {
        "listed": len(ids),
        "duplicates": len(ids) - len(set(ids)),
        "gaps": len(expected - set(ids)),
        "out_of_order": sum(a >= b for a, b in itertools.pairwise(ids)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--limit", type=int, default=1_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        process = start(Path(tmp) / "data", port)
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60.0) as client:
                expected = {f"item-{k:07d}" for k in range(args.items)}
                ordered = sorted(expected)
                loaded = time.perf_counter()
                for start_at in range(0, len(ordered), 1_000):
                    batch = [
                        {"item_id": i, "title": f"Item {i}", "categories": ["c"]}
                        for i in ordered[start_at : start_at + 1_000]
                    ]
                    client.post("/v1/items", json=batch).raise_for_status()
                load_seconds = time.perf_counter() - loaded

                alone, alone_pages, alone_seconds = list_all(client, args.limit)
                stop, writes = threading.Event(), [0]

                def upsert() -> None:
                    with httpx.Client(base_url=client.base_url, timeout=60.0) as writer:
                        k = 0
                        while not stop.is_set():
                            existing = ordered[(k * 7919) % len(ordered)]
                            batch = [
                                {"item_id": existing, "title": f"rewritten {k}"},
                                {"item_id": f"{existing}-new{k}"},
                                {"item_id": f"a-new-{k:07d}"},
                            ]
                            writer.post("/v1/items", json=batch).raise_for_status()
                            writes[0] += 3
                            k += 1

                thread = threading.Thread(target=upsert)
                thread.start()
                try:
                    busy, busy_pages, busy_seconds = list_all(client, args.limit)
                finally:
                    stop.set()
                    thread.join()
        finally:
            process.terminate()
            process.wait(timeout=60)
    result = {
        "items": args.items,
        "limit": args.limit,
        "load_items_per_second": round(args.items / load_seconds),
        "alone": {
            **check(alone, expected),
            "pages": alone_pages,
            "seconds": round(alone_seconds, 2),
            "items_per_second": round(len(alone) / alone_seconds),
        },
        "while_upserting": {
            **check(busy, expected),
            "pages": busy_pages,
            "seconds": round(busy_seconds, 2),
            "items_per_second": round(len(busy) / busy_seconds),
            "items_upserted_meanwhile": writes[0],
        },
        "time_ratio_busy_to_alone": round(busy_seconds / alone_seconds, 2),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
