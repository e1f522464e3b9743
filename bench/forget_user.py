"""What forgetting a user costs: the rebuild against opening the engine, and reads meanwhile.

A durable engine is loaded from a synthetic shop (or a MovieLens directory with
``--movielens``) and trained; it is closed and opened again (the peer: ``forget_user``
rebuilds the state from the log, as opening does). Then ``--forgets`` users are forgotten
one after another while a reader thread asks ``recommend`` in a loop; the reader's latencies
during the forgets are set against its latencies just before them.

    .venv/bin/python bench/forget_user.py --movielens ../shared/data/ml-100k
    .venv/bin/python bench/forget_user.py --events 100000
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from freshrec import Engine, EngineConfig
from freshrec.readers.movielens import read_movielens
from freshrec.simulate import ShopConfig, SyntheticShop


def load(path: Path, args: argparse.Namespace) -> list[str]:
    """Fill a durable engine at ``path``; return its user ids, busiest first."""
    config = EngineConfig.from_dict({"content": {"encoder": "none"}})
    with Engine.open(path, config, background_training=False) as engine:
        if args.movielens:
            data = read_movielens(Path(args.movielens))
            engine.upsert_items(item.to_dict() for item in data.items)
            events = [e._asdict() for e in data.events]
        else:
            shop = SyntheticShop(
                ShopConfig(n_users=args.users, n_items=args.items, n_events=args.events, seed=1)
            )
            engine.upsert_items(shop.items())
            events = list(shop.events())
        for start in range(0, len(events), 5_000):
            engine.ingest(events[start : start + 5_000])
        engine.train()
        counts: dict[str, int] = {}
        for event in events:
            counts[event["user_id"]] = counts.get(event["user_id"], 0) + 1
    return sorted(counts, key=lambda u: -counts[u])


def read_latencies(engine: Engine, users: list[str], stop: threading.Event) -> list[float]:
    latencies: list[float] = []
    k = 0
    while not stop.is_set():
        started = time.perf_counter()
        engine.recommend(users[k % len(users)], n=10)
        latencies.append((time.perf_counter() - started) * 1000)
        k += 1
    return latencies


def summary(latencies: list[float]) -> dict[str, float]:
    values = np.array(latencies)
    return {
        "answers": len(values),
        "p50_ms": round(float(np.percentile(values, 50)), 2),
        "p99_ms": round(float(np.percentile(values, 99)), 2),
        "max_ms": round(float(values.max()), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--movielens")
    parser.add_argument("--users", type=int, default=5_000)
    parser.add_argument("--items", type=int, default=2_000)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--forgets", type=int, default=3)
    args = parser.parse_args()
    config = EngineConfig.from_dict({"content": {"encoder": "none"}})
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "data"
        users = load(path, args)
        started = time.perf_counter()
        engine = Engine.open(path, config)
        open_seconds = time.perf_counter() - started
        readers = users[len(users) // 2 :][:200]
        try:
            stop = threading.Event()
            before: list[float] = []
            thread = threading.Thread(
                target=lambda: before.extend(read_latencies(engine, readers, stop))
            )
            thread.start()
            time.sleep(2.0)
            stop.set()
            thread.join()

            stop = threading.Event()
            during: list[float] = []
            thread = threading.Thread(
                target=lambda: during.extend(read_latencies(engine, readers, stop))
            )
            thread.start()
            forgets, erased = [], []
            for user in users[: args.forgets]:
                started = time.perf_counter()
                erased.append(engine.forget_user(user).events)
                forgets.append(time.perf_counter() - started)
            stop.set()
            thread.join()
            events_left = engine.stats()["events"]
        finally:
            engine.close()
    forget = statistics.median(forgets)
    print(
        json.dumps(
            {
                "data": args.movielens or f"synthetic {args.users}x{args.items}x{args.events}",
                "events_after": events_left,
                "open_seconds": round(open_seconds, 2),
                "forget_seconds": [round(s, 2) for s in forgets],
                "events_erased": erased,
                "forget_to_open_ratio": round(forget / open_seconds, 2),
                "reads_before": summary(before),
                "reads_during_forgets": summary(during),
            }
        )
    )


if __name__ == "__main__":
    main()
