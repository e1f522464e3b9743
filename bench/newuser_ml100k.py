"""New users on MovieLens-100K: served from who they are, then from their first few events.

Protocol: hold out 20 % of the users (seeded). Ingest every other user's events in time
order and upsert every user with their demographics (age, gender, occupation: what a sign-up
form asks). For each held-out user, ask for 10 items:
- before any event (``new_user`` scenario: segment trending + global trending), against all
  the user's positive items (rating >= 4);
- after their first ``--first`` events (ingested in their own order), against the rest of
  their positives, with the ``new_user`` and the ``home`` scenario side by side.
Global trending alone is the peer measured in the same run.

    OPENBLAS_NUM_THREADS=1 .venv/bin/python bench/newuser_ml100k.py [--first 3]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from freshrec import Engine, EngineConfig
from freshrec.readers import read_movielens
from freshrec.readers.movielens_users import read_movielens_users
from freshrec.types import Event

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "ml-100k"
SEED = 0
HOLDOUT_SHARE = 0.2

VARIANTS: dict[str, dict[str, Any]] = {
    "trending only (peer)": {"scenarios": {"new_user_blend": {"segments": 0.0}}},
    "default": {},
    "segments 2.0": {"scenarios": {"new_user_blend": {"segments": 2.0}}},
    "segments 0.5": {"scenarios": {"new_user_blend": {"segments": 0.5}}},
}


def positives(events: list[Event]) -> set[str]:
    return {e.item_id for e in events if e.value is not None and e.value >= 4}


def recall(recommended: list[str], relevant: set[str]) -> float | None:
    return len(set(recommended) & relevant) / len(relevant) if relevant else None


def run(data_dir: Path, overrides: dict[str, Any], first: int) -> dict[str, float]:
    data = read_movielens(data_dir)
    users, _ = read_movielens_users(data_dir)
    rng = np.random.default_rng(SEED)
    ids = sorted({e.user_id for e in data.events})
    held = {ids[i] for i in rng.choice(len(ids), size=int(len(ids) * HOLDOUT_SHARE), replace=False)}
    events = sorted(data.events, key=lambda e: e.timestamp)
    theirs: dict[str, list[Event]] = defaultdict(list)
    for e in events:
        if e.user_id in held:
            theirs[e.user_id].append(e)
    config = EngineConfig.from_dict({"training": {"retrain_every_events": 0}, **overrides})
    scores: dict[str, list[float]] = defaultdict(list)
    with Engine.open(None, config, background_training=False) as engine:
        engine.upsert_items([item.to_dict() for item in data.items])
        engine.upsert_users([user.to_dict() for user in users])
        rest = [e._asdict() for e in events if e.user_id not in held]
        for start in range(0, len(rest), 5_000):
            engine.ingest(rest[start : start + 5_000])
        engine.train()
        for user in sorted(held):
            mine = theirs[user]
            cold = recall(
                [r.item_id for r in engine.recommend(user, 10, "new_user")], positives(mine)
            )
            if cold is not None:
                scores["no events"].append(cold)
            engine.ingest([e._asdict() for e in mine[:first]])
            later = positives(mine[first:]) - {e.item_id for e in mine[:first]}
            for scenario in ("new_user", "home"):
                got = recall([r.item_id for r in engine.recommend(user, 10, scenario)], later)
                if got is not None:
                    scores[f"after {first} events, {scenario}"].append(got)
    return {name: float(np.mean(values)) for name, values in scores.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--first", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if not (args.data / "u.user").is_file():
        print(f"MovieLens-100K with u.user not found at {args.data}; nothing to benchmark.")
        return 0
    results = {}
    with threadpool_limits(limits=1):
        for name, overrides in VARIANTS.items():
            results[name] = run(args.data, overrides, args.first)
    columns = list(results["default"])
    print(f"{'variant':<24}" + "".join(f"{c:>30}" for c in columns))
    for name, row in results.items():
        print(f"{name:<24}" + "".join(f"{row[c]:30.4f}" for c in columns))
    if args.json:
        print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
