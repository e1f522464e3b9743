"""Memory of segment trending when every user has a unique e-mail and zip code.

20,000 users with a unique e-mail, a unique zip and one of three plans, then one event per
user over 5,000 items. The peer in the same run is the old rule (every property value a
segment: ``max_values_per_key`` unbounded, ``min_users`` 1), measured with tracemalloc.

    .venv/bin/python bench/segments_memory.py
"""

from __future__ import annotations

import argparse
import json
import tracemalloc

from freshrec.config import TrendingConfig
from freshrec.models import EventBatch
from freshrec.models.segments import MAX_VALUES_PER_KEY, MIN_SEGMENT_USERS, SegmentTrending


def measure(users: int, items: int, max_values: int, min_users: int) -> dict[str, float]:
    tracemalloc.start()
    model = SegmentTrending(TrendingConfig(), max_values_per_key=max_values, min_users=min_users)
    for u in range(users):
        model.set_user(u, {"email": f"u{u}@example.com", "zip": f"{u:05d}", "plan": f"p{u % 3}"})
    rows = [(u, (u * 7919) % items, 1.0, 1e9 + u, True) for u in range(users)]
    rows.append((0, items - 1, 1.0, 1e9, True))  # every count reaches the last item
    model.partial_fit(EventBatch.from_rows(rows))
    current, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"segments": len(model._popularity), "mb": round(current / 2**20, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--items", type=int, default=5_000)
    args = parser.parse_args()
    old = measure(args.users, args.items, 10**9, 1)
    new = measure(args.users, args.items, MAX_VALUES_PER_KEY, MIN_SEGMENT_USERS)
    print(json.dumps({"every value a segment": old, "low cardinality with support": new}))


if __name__ == "__main__":
    main()
