"""Candidate retrieval against whole-catalogue scoring: answer latency and agreement.

Loads a synthetic shop (or opens an imported data directory), then answers the same random
users' ``home`` feeds with every candidate setting given and with whole-catalogue scoring
(the reference), in one process on the same state. Reports per-answer latency and how much
of each reference top-10 the candidate answer keeps (overlap@10), plus the time to build the
factor index (the retrain's extra cost).

    OPENBLAS_NUM_THREADS=1 .venv/bin/python bench/candidates.py --items 100000 --users 100000 \\
        --events 1000000

The engine's retrieval settings are swapped on the running engine (private attributes): every
variant reads exactly the same state, which two engines built apart would not guarantee.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from freshrec.config import EngineConfig, RetrievalConfig
from freshrec.engine import Engine
from freshrec.simulate import ShopConfig, write_shop


def build(args: argparse.Namespace, overrides: dict[str, Any]) -> Engine:
    """An in-memory engine holding a synthetic shop, trained once."""
    config = EngineConfig.from_dict(
        {"training": {"retrain_every_events": 0}, "content": {"encoder": "none"}, **overrides}
    )
    engine = Engine.open(None, config, background_training=False)
    with tempfile.TemporaryDirectory() as work:
        shop = write_shop(
            Path(work),
            ShopConfig(n_users=args.users, n_items=args.items, n_events=args.events, seed=0),
        )
        with open(shop.items) as lines:
            engine.upsert_items(json.loads(line) for line in lines)
        batch: list[dict[str, Any]] = []
        with open(shop.events, newline="") as rows:
            for row in csv.DictReader(rows):
                event: dict[str, Any] = {**row, "timestamp": float(row["timestamp"])}
                if row["value"]:
                    event["value"] = float(row["value"])
                else:
                    del event["value"]
                batch.append(event)
                if len(batch) == 5_000:
                    engine.ingest(batch)
                    batch = []
        engine.ingest(batch)
    start = time.perf_counter()
    engine.train()
    print(f"train incl. factor index: {time.perf_counter() - start:.1f} s", file=sys.stderr)
    return engine


def answers(engine: Engine, users: list[str], n: int) -> tuple[dict[str, list[str]], list[float]]:
    got, times = {}, []
    for user in users:
        start = time.perf_counter()
        got[user] = engine.recommend_ids(user, n)
        times.append((time.perf_counter() - start) * 1e3)
    return got, times


def summary(times: list[float]) -> dict[str, float]:
    ordered = sorted(times)
    return {
        "p50_ms": round(statistics.median(ordered), 3),
        "p90_ms": round(ordered[int(0.9 * (len(ordered) - 1))], 3),
        "p99_ms": round(ordered[int(0.99 * (len(ordered) - 1))], 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--data", type=Path, help="open this imported data directory instead")
    parser.add_argument("--requests", type=int, default=2_000)
    parser.add_argument("--n", type=int, default=10)
    parser.add_argument("--first-variant", type=int, default=0)
    parser.add_argument(
        "--settings", default="{}", help='JSON overrides, e.g. \'{"blend": {"content": 0.2}}\''
    )
    args = parser.parse_args()
    overrides = json.loads(args.settings)
    # The content profile's text-space search is the same in every variant: its cost shows
    # in all of them (``--settings '{"blend": {"content": 0.2}}'``).
    if args.data is not None:
        config = EngineConfig.from_dict({"training": {"retrain_every_events": 0}, **overrides})
        engine = Engine.open(args.data, config)
        engine.wait_for_training()
    else:
        engine = build(args, overrides)
    pipelines = engine._pipelines  # see the module docstring
    base = pipelines.config
    known = engine._state.users.ids()
    users = random.Random(0).choices(known, k=args.requests)

    def use(retrieval: RetrievalConfig) -> None:
        pipelines.config = base.model_copy(update={"retrieval": retrieval})
        index = engine._models.factors.index
        if index is not None:
            index.index.set_ef_search(retrieval.factor_ef_search)

    use(RetrievalConfig(candidates_from_items=10**12))
    answers(engine, users, args.n)  # warm the per-user caches (fold-in systems) for all paths
    reference, dense_times = answers(engine, users, args.n)
    report: dict[str, Any] = {
        "items": len(engine._state.items),
        "whole_catalogue": summary(dense_times),
    }
    variants = []
    # The last three only matter with content in the blend (--settings).
    for factors, covisitation, trending, ef, content in [
        (30, 100, 50, 40, 200),
        (50, 100, 50, 60, 200),
        (100, 200, 100, 100, 200),
        (200, 400, 200, 200, 200),
        (50, 100, 50, 60, 100),
        (50, 100, 50, 60, 50),
        (50, 100, 50, 60, 30),
    ][args.first_variant :]:
        retrieval = RetrievalConfig(
            candidates_from_items=1,
            factor_candidates=factors,
            covisitation_candidates=covisitation,
            trending_candidates=trending,
            factor_ef_search=ef,
            content_candidates=content,
        )
        use(retrieval)
        got, times = answers(engine, users, args.n)
        overlap = [
            len(set(got[u]) & set(reference[u])) / len(reference[u]) for u in users if reference[u]
        ]
        variants.append(
            {
                "factors": factors,
                "covisitation": covisitation,
                "trending": trending,
                "ef_search": ef,
                "content": content,
                "overlap_at_n": round(float(np.mean(overlap)), 4),
                **summary(times),
            }
        )
    report["candidates"] = variants
    engine.close()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
