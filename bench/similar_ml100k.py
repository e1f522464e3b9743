"""Similar items on MovieLens-100K: does the next movie a user rates sit among the last one's
neighbours? Chooses the weight of content neighbours in ``similar`` by measurement.

Protocol: events in time order; the first 80 % are ingested and trained on; for every later
pair of consecutive events of one user (a -> b, b not rated before by them), ask
``engine.similar(a, 10)`` and count a hit when b is in it. Variants differ only in
``blend.similar_content`` (0 = collaborative sources alone). A second table does the same for
held-out items (20 % of the items, no events at all): their neighbours can only come from
content and content-predicted factors, so it shows what content adds for new items.

    OPENBLAS_NUM_THREADS=1 .venv/bin/python bench/similar_ml100k.py
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from freshrec import Engine, EngineConfig
from freshrec.readers import read_movielens
from freshrec.types import Event

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "ml-100k"
WEIGHTS = (0.0, 0.1, 0.3, 1.0)


def transitions(events: list[Event], held: set[str]) -> tuple[list[Event], list[tuple[str, str]]]:
    ordered = sorted(events, key=lambda e: e.timestamp)
    cut = int(len(ordered) * 0.8)
    train = [e for e in ordered[:cut] if e.item_id not in held]
    last: dict[str, str] = {}
    seen: dict[str, set[str]] = {}
    for e in train:
        last[e.user_id] = e.item_id
        seen.setdefault(e.user_id, set()).add(e.item_id)
    pairs = []
    for e in ordered[cut:]:
        before = last.get(e.user_id)
        mine = seen.setdefault(e.user_id, set())
        if before is not None and e.item_id not in mine:
            pairs.append((before, e.item_id))
        last[e.user_id] = e.item_id
        mine.add(e.item_id)
    return train, pairs


def hit_rate(engine: Engine, pairs: list[tuple[str, str]], k: int) -> float:
    hits = [b in {r.item_id for r in engine.similar(a, k)} for a, b in pairs]
    return float(np.mean(hits)) if hits else 0.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--k", type=int, default=10)
    args = parser.parse_args()
    if not (args.data / "u.data").is_file():
        print(f"MovieLens-100K not found at {args.data}; nothing to benchmark.")
        return 0
    data = read_movielens(args.data)
    rng = np.random.default_rng(0)
    ids = sorted(item.item_id for item in data.items)
    held = {ids[i] for i in rng.choice(len(ids), size=len(ids) // 5, replace=False)}
    train, pairs = transitions(data.events, held)
    known_pairs = [(a, b) for a, b in pairs if b not in held]
    new_pairs = [(a, b) for a, b in pairs if b in held]
    print(f"{len(known_pairs):,} transitions to known items, {len(new_pairs):,} to held-out ones")
    print(f"{'similar_content':>16} {'hr@k known':>12} {'hr@k held-out':>14}")
    with threadpool_limits(limits=1):
        for weight in WEIGHTS:
            config = EngineConfig.from_dict(
                {"blend": {"similar_content": weight}, "training": {"retrain_every_events": 0}}
            )
            with Engine.open(None, config, background_training=False) as engine:
                engine.upsert_items([item.to_dict() for item in data.items])
                rows = [e._asdict() for e in train]
                for start in range(0, len(rows), 5_000):
                    engine.ingest(rows[start : start + 5_000])
                engine.train()
                sample = known_pairs[:: max(1, len(known_pairs) // 3_000)]
                known, new = hit_rate(engine, sample, args.k), hit_rate(engine, new_pairs, args.k)
            print(f"{weight:16.2f} {known:12.4f} {new:14.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
