"""Recommend latency over HTTP while the writer works: a bulk upsert, an event burst, a retrain.

A synthetic shop is imported (``freshrec import``) and served (``freshrec serve``, default
settings: text encoding, background retrains). A reader process asks
``GET /v1/recommendations/{user}`` at a paced ``--rate`` (keep-alive ``http.client``, one
connection: a closed loop that sends each request at its slot, or at once when late) and
records every latency. Phases, each measured by the same reader:

- ``idle``: nothing else runs (the peer in the same run);
- ``upsert``: ``--new-items`` new items posted in 1,000-item batches back to back;
- ``burst``: ``--burst`` events posted in 2,000-event batches back to back, then until the
  retrains they start have been swapped in and every new item has its vector.

The bar (issue 12): p99 <= 10 ms in the upsert and the burst phases.

    .venv/bin/python bench/latency_under_write.py --items 20000 --users 20000 --events 200000
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from freshrec.simulate import ShopConfig, SyntheticShop, write_shop

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from http_load import FRESHREC, free_port, wait_for_training, wait_ready  # noqa: E402


def read_paced(base: str, users: int, rate: float, stop: Any, out: Any) -> None:
    """Ask for recommendations every ``1 / rate`` seconds until ``stop``; send latencies."""
    host, port = base.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    rng = random.Random(7)
    latencies: list[float] = []
    gap, slot = 1.0 / rate, time.perf_counter()
    while not stop.is_set():
        slot += gap
        pause = slot - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
        started = time.perf_counter()
        conn.request("GET", f"/v1/recommendations/u{rng.randrange(users)}?n=10")
        response = conn.getresponse()
        response.read()
        latencies.append((time.perf_counter() - started) * 1e3)
        if response.status != 200:
            raise RuntimeError(f"recommend answered {response.status}")
    out.put(latencies)


def summary(latencies: list[float], seconds: float) -> dict[str, float]:
    ordered = sorted(latencies)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return {
        "requests": len(ordered),
        "seconds": round(seconds, 1),
        "p50_ms": round(at(0.50), 2),
        "p99_ms": round(at(0.99), 2),
        "max_ms": round(ordered[-1], 2),
    }


def measured(base: str, args: argparse.Namespace, work: Any) -> dict[str, float]:
    """Run ``work()`` while the paced reader measures; return the reader's summary."""
    stop, out = mp.Event(), mp.Queue()
    reader = mp.Process(target=read_paced, args=(base, args.users, args.rate, stop, out))
    reader.start()
    started = time.perf_counter()
    try:
        work()
    finally:
        elapsed = time.perf_counter() - started
        stop.set()
        latencies = out.get(timeout=60)
        reader.join(60)
    return summary(latencies, elapsed)


def new_items(args: argparse.Namespace) -> list[dict[str, Any]]:
    """``--new-items`` items the served shop does not have (ids past its catalogue)."""
    extra = SyntheticShop(ShopConfig(n_users=10, n_items=args.new_items, n_events=10, seed=9))
    return [{**item, "item_id": f"new{k}"} for k, item in enumerate(extra.items())]


def burst_events(args: argparse.Namespace) -> list[dict[str, Any]]:
    """``--burst`` events of the shop's users on its items, later than the imported log."""
    shop = SyntheticShop(
        ShopConfig(
            n_users=args.users,
            n_items=args.items,
            n_events=args.burst,
            seed=11,
            start_timestamp=1_700_000_000.0 + 100 * 86_400,
        )
    )
    return list(shop.events())


def post_all(base: str, path: str, records: list[dict[str, Any]], batch: int) -> None:
    with httpx.Client(base_url=base, timeout=120) as client:
        for start in range(0, len(records), batch):
            client.post(path, json=records[start : start + batch]).raise_for_status()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--new-items", type=int, default=30_000)
    parser.add_argument("--burst", type=int, default=400_000)
    parser.add_argument("--rate", type=float, default=100.0, help="requests per second")
    parser.add_argument("--idle-seconds", type=float, default=15.0)
    parser.add_argument("--settings", default="{}", help="engine settings (JSON)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="freshrec-lw-"))
    data = work / "data"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    shop = write_shop(
        work / "shop",
        ShopConfig(n_users=args.users, n_items=args.items, n_events=args.events, seed=0),
    )
    subprocess.run(
        [*FRESHREC, "import", "--data", str(data), "--events", str(shop.events),
         "--items", str(shop.items), "--users", str(shop.users), "--batch", "5000"],
        check=True, env=env, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    (work / "settings.json").write_text(args.settings)
    items, events = new_items(args), burst_events(args)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [*FRESHREC, "serve", "--data", str(data), "--host", "127.0.0.1", "--port", str(port),
         "--open", "--config", str(work / "settings.json")],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    report: dict[str, Any] = {"args": vars(args)}
    try:
        wait_ready(base)
        wait_for_training(base)
        report["idle"] = measured(base, args, lambda: time.sleep(args.idle_seconds))
        report["upsert"] = measured(base, args, lambda: post_all(base, "/v1/items", items, 1_000))
        wait_for_training(base)

        def burst() -> None:
            post_all(base, "/v1/events", events, 2_000)
            time.sleep(1.0)  # let the retrain the burst starts begin before settling
            wait_for_training(base, timeout=900)

        report["burst_and_retrain"] = measured(base, args, burst)
    finally:
        server.terminate()
        server.wait(timeout=60)
    report["bar_p99_ms"] = 10.0
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
