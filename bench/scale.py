"""Synthetic scale run: ingest a large shop durably, train, answer; report time and memory.

    .venv/bin/python bench/scale.py --users 1000000 --items 100000 --events 10000000

Peak memory is the process's maximum resident set size (``ru_maxrss``). The peer measured in
the same run is the synthetic generator itself producing the same events as dicts (what any
ingest must at least read), so ``ingest / generate`` is a ratio, not a noisy absolute.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import tempfile
import time
from itertools import islice
from pathlib import Path

from freshrec import Engine, EngineConfig
from freshrec.simulate import ShopConfig, SyntheticShop


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--dir", type=Path, default=None, help="data dir (default: a temp dir)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    shop = SyntheticShop(
        ShopConfig(n_users=args.users, n_items=args.items, n_events=args.events, seed=0)
    )
    directory = args.dir or Path(tempfile.mkdtemp(prefix="freshrec-scale-"))
    config = EngineConfig.from_dict({"training": {"retrain_every_events": 0}})
    report: dict[str, float] = {"users": args.users, "items": args.items, "events": args.events}

    start = time.perf_counter()
    generated = sum(1 for _ in shop.events())
    report["generate_seconds"] = time.perf_counter() - start
    assert generated == args.events

    engine = Engine.open(directory, config)
    start = time.perf_counter()
    engine.upsert_items(shop.items())
    engine.upsert_users(shop.users())
    report["catalogue_seconds"] = time.perf_counter() - start

    start = time.perf_counter()
    stream = shop.events()
    done = 0
    while True:
        batch = list(islice(stream, args.batch))
        if not batch:
            break
        engine.ingest(batch)
        done += len(batch)
        if done % 1_000_000 == 0:
            rate = done / (time.perf_counter() - start)
            print(
                f"  {done:>11,} events  {rate:>8,.0f}/s  peak {peak_rss_mb():,.0f} MB", flush=True
            )
    report["ingest_seconds"] = time.perf_counter() - start
    report["ingest_events_per_second"] = args.events / report["ingest_seconds"]
    report["ingest_over_generate"] = report["ingest_seconds"] / report["generate_seconds"]
    report["peak_rss_mb_after_ingest"] = peak_rss_mb()

    start = time.perf_counter()
    report["model_version"] = engine.train()  # type: ignore[assignment]
    report["train_seconds"] = time.perf_counter() - start
    report["peak_rss_mb_after_train"] = peak_rss_mb()

    latencies = []
    for user in range(0, args.users, max(1, args.users // 500)):
        t = time.perf_counter()
        engine.recommend(f"u{user}", n=10)
        latencies.append((time.perf_counter() - t) * 1e3)
    latencies.sort()
    report["recommend_ms_p50"] = statistics.median(latencies)
    report["recommend_ms_p99"] = latencies[int(0.99 * (len(latencies) - 1))]
    engine.close()
    report["disk_mb"] = sum(f.stat().st_size for f in directory.rglob("*")) / 2**20
    if args.dir is None:
        shutil.rmtree(directory)
    for key, value in report.items():
        print(f"{key:>28}: {value:,.2f}" if isinstance(value, float) else f"{key:>28}: {value}")
    if args.json:
        print(json.dumps(report))


if __name__ == "__main__":
    main()
