"""Ingest throughput through the Python API, durable, with the per-event online update cost.

For each size, a synthetic shop's events go through ``Engine.ingest`` in batches into a
durable SQLite store (WAL, one fsync per batch). The peer measured in the same run is a bare
SQLite ``executemany`` of the same rows into a table of the same shape, with the same fsync
per batch: the floor any durable ingest pays. The ratio says what validation, idempotency and
the online state cost on top of it.

    .venv/bin/python bench/ingest.py --events 200000 --batch 1000
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from freshrec import Engine, EngineConfig
from freshrec.simulate import ShopConfig, SyntheticShop


def shop_events(n_events: int, seed: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    shop = SyntheticShop(
        ShopConfig(n_users=max(1000, n_events // 50), n_items=5000, n_events=n_events, seed=seed)
    )
    events = list(shop.events())
    for index, event in enumerate(events):
        event["event_id"] = f"e{index}"
    return list(shop.items()), events


def bare_sqlite(events: list[dict[str, Any]], batch: int, directory: Path) -> float:
    db = sqlite3.connect(directory / "bare.db", isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute(
        "CREATE TABLE events (offset INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT UNIQUE,"
        " user_id TEXT, item_id TEXT, type TEXT, ts REAL, value REAL, recommendation_id TEXT)"
    )
    start = time.perf_counter()
    for s in range(0, len(events), batch):
        rows = [
            (e["event_id"], e["user_id"], e["item_id"], e["type"], e["timestamp"], e.get("value"))
            for e in events[s : s + batch]
        ]
        db.execute("BEGIN")
        db.executemany(
            "INSERT INTO events (event_id, user_id, item_id, type, ts, value)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            rows,
        )
        db.execute("COMMIT")
    elapsed = time.perf_counter() - start
    db.close()
    return elapsed


def freshrec_ingest(
    items: list[dict[str, Any]], events: list[dict[str, Any]], batch: int, directory: Path
) -> tuple[float, float]:
    """Return (seconds for all ingest calls, seconds spent in the online state update)."""
    config = EngineConfig.from_dict({"training": {"retrain_every_events": 0}})
    with Engine.open(directory / "engine", config) as engine:
        engine.upsert_items(items)
        # The catalogue's texts are encoded by the language model on a worker thread; let it
        # finish first so the figure is event ingest, not event ingest racing the encoder.
        engine.encode_pending()
        apply = engine._apply_events
        spent = [0.0]

        def timed_apply(new_events: Any) -> None:
            t = time.perf_counter()
            apply(new_events)
            spent[0] += time.perf_counter() - t

        engine._apply_events = timed_apply  # type: ignore[method-assign]
        start = time.perf_counter()
        for s in range(0, len(events), batch):
            result = engine.ingest(events[s : s + batch])
            assert not result.errors, result.errors[:3]
        elapsed = time.perf_counter() - start
        assert engine.stats()["events"] == len(events)
    return elapsed, spent[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    items, events = shop_events(args.events, seed=0)
    runs: list[dict[str, float]] = []
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory() as tmp:
            bare = bare_sqlite(events, args.batch, Path(tmp))
            total, online = freshrec_ingest(items, events, args.batch, Path(tmp))
        runs.append({"bare": bare, "freshrec": total, "online": online})
    n = len(events)
    med = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
    report = {
        "events": n,
        "batch": args.batch,
        "freshrec_events_per_second": round(n / med["freshrec"]),
        "bare_sqlite_events_per_second": round(n / med["bare"]),
        "ratio_freshrec_to_bare_time": round(med["freshrec"] / med["bare"], 2),
        "online_update_us_per_event": round(med["online"] / n * 1e6, 2),
    }
    print(f"events={n:,} batch={args.batch} repeats={args.repeats} (medians)")
    print(f"  freshrec ingest (durable):  {report['freshrec_events_per_second']:>10,} events/s")
    print(f"  bare SQLite executemany:    {report['bare_sqlite_events_per_second']:>10,} events/s")
    print(f"  time ratio freshrec / bare: {report['ratio_freshrec_to_bare_time']:>10}")
    print(f"  online update per event:    {report['online_update_us_per_event']:>10} µs")
    if args.json:
        print(json.dumps(report))


if __name__ == "__main__":
    main()
