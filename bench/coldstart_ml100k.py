"""Item cold start on MovieLens-100K: rank items nobody has touched, from their content alone.

Protocol (issue 4): hold out 20 % of the items (seeded); ingest every event except those on
held-out items, upsert every item with its text, train. For each user who interacted with
held-out items, rank all held-out items with ``engine.rank`` and measure recall@10 against
that user's held-out items (hits / number of the user's held-out items). Beside it, in the
same run and split: random order (mean of 20 shuffles) and a TF-IDF baseline (user profile =
mean TF-IDF vector of the user's ingested items, cosine).

    OPENBLAS_NUM_THREADS=1 .venv/bin/python bench/coldstart_ml100k.py [--variants default,keywords]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from threadpoolctl import threadpool_limits

from freshrec import Engine, EngineConfig
from freshrec.content.text import item_text
from freshrec.readers import read_movielens
from freshrec.types import Event, Item

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "ml-100k"
HOLDOUT_SHARE = 0.2
SEED = 0

# name -> content settings layered on the defaults; "default" is what ships.
# name -> settings layered on the defaults; "default" is what ships.
VARIANTS: dict[str, dict[str, Any]] = {
    "default": {},
    "fp32 encoder": {"content": {"encoder": "torch-fp32"}},
    "keywords only (no model)": {"content": {"encoder": "none"}},
    "language model only": {"content": {"keyword_weight": 0.0}},
    "keywords 0.5": {"content": {"keyword_weight": 0.5}},
    "ridge l2 3": {"content": {"mapping_l2": 3.0}},
    "ridge l2 30": {"content": {"mapping_l2": 30.0}},
    "+ content profile 0.25": {"blend": {"content": 0.25}},
    "+ content profile 1.0": {"blend": {"content": 1.0}},
}


class Split:
    """Held-out items and each user's held-out positives, from one seeded draw."""

    def __init__(self, events: list[Event], items: list[Item]) -> None:
        rng = np.random.default_rng(SEED)
        ids = sorted(item.item_id for item in items)
        chosen = rng.choice(len(ids), size=int(len(ids) * HOLDOUT_SHARE), replace=False)
        self.held = sorted(ids[i] for i in chosen)
        held = set(self.held)
        self.train = [e for e in events if e.item_id not in held]
        self.relevant: dict[str, set[str]] = defaultdict(set)
        for e in events:
            if e.item_id in held:
                self.relevant[e.user_id].add(e.item_id)


def recall_at(ranked: Sequence[str], relevant: set[str], k: int) -> float:
    return len(set(ranked[:k]) & relevant) / len(relevant)


def mean_recall(split: Split, rank: Callable[[str], Sequence[str]], k: int) -> float:
    return float(np.mean([recall_at(rank(u), rel, k) for u, rel in split.relevant.items()]))


def run_engine(
    split: Split, items: list[Item], settings: dict[str, Any], k: int
) -> dict[str, float]:
    config = EngineConfig.from_dict({**settings, "training": {"retrain_every_events": 0}})
    started = time.perf_counter()
    with Engine.open(None, config, background_training=False) as engine:
        engine.upsert_items([item.to_dict() for item in items])
        events = sorted(split.train, key=lambda e: e.timestamp)
        for start in range(0, len(events), 5_000):
            engine.ingest([e._asdict() for e in events[start : start + 5_000]])
        engine.train()
        ready = time.perf_counter() - started
        started = time.perf_counter()
        score = mean_recall(split, lambda u: [r.item_id for r in engine.rank(u, split.held)], k)
        per_user_ms = (time.perf_counter() - started) / len(split.relevant) * 1e3
    return {"recall": score, "setup_s": ready, "rank_ms_per_user": per_user_ms}


def run_tfidf(split: Split, items: list[Item], k: int) -> float:
    ids = [item.item_id for item in items]
    position = {item_id: row for row, item_id in enumerate(ids)}
    matrix = TfidfVectorizer().fit_transform([item_text(item) for item in items])
    held_rows = [position[i] for i in split.held]
    seen: dict[str, list[int]] = defaultdict(list)
    for e in split.train:
        seen[e.user_id].append(position[e.item_id])

    def rank(user: str) -> list[str]:
        rows = seen.get(user)
        if not rows:
            return list(split.held)
        profile = np.asarray(matrix[rows].mean(axis=0)).ravel()
        profile /= np.linalg.norm(profile) or 1.0
        scores = np.asarray(matrix[held_rows] @ profile).ravel()
        return [split.held[j] for j in np.argsort(-scores, kind="stable")]

    return mean_recall(split, rank, k)


def run_random(split: Split, k: int, repeats: int = 20) -> float:
    rng = np.random.default_rng(SEED)
    return float(np.mean([
        mean_recall(split, lambda _u: list(rng.permutation(split.held)), k) for _ in range(repeats)
    ]))  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if not (args.data / "u.data").is_file():
        print(f"MovieLens-100K not found at {args.data}; nothing to benchmark.")
        return 0
    data = read_movielens(args.data)
    split = Split(data.events, data.items)
    results: dict[str, dict[str, float]] = {}
    with threadpool_limits(limits=1):
        results["random order"] = {"recall": run_random(split, args.k)}
        results["TF-IDF profile"] = {"recall": run_tfidf(split, data.items, args.k)}
        for name in [v.strip() for v in args.variants.split(",") if v.strip()]:
            results[f"freshrec {name}"] = run_engine(split, data.items, VARIANTS[name], args.k)
    base, tfidf = results["random order"]["recall"], results["TF-IDF profile"]["recall"]
    print(f"{len(split.held)} held-out items, {len(split.relevant)} users, k={args.k}")
    print(f"{'system':<34} {'recall@k':>9} {'x random':>9} {'x tf-idf':>9}")
    for name, row in results.items():
        r = row["recall"]
        print(f"{name:<34} {r:9.4f} {r / base:9.2f} {r / tfidf:9.2f}")
    if args.json:
        print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
