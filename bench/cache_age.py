"""What the answer cache's age limit costs: hit rate and service time per age limit.

A synthetic shop is loaded into an in-process engine; the last ``--live`` events are held
back as live traffic. A simulated timeline then sends ``--rate`` recommendation requests a
second (users drawn like the live stream's: active users ask more) while the held-back events
arrive at ``--event-rate`` a second, for ``--seconds`` simulated seconds. Each request goes
through the HTTP route's own lookup (``routes_recs._cached``: key with the engine's
freshness, then the cache, else score and render), on a cache whose clock is the timeline,
so the hit rate depends only on the traffic, never on this machine's speed. Service times are
real (``perf_counter`` around each lookup). The peer in the same run is no cache at all
(``max_age_seconds`` 0); ``inf`` is the old behaviour (no age limit: answers could hide other
users' events indefinitely).

    .venv/bin/python bench/cache_age.py --users 20000 --items 5000 --events 200000
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import time
from dataclasses import dataclass
from typing import Any

from freshrec import Engine, EngineConfig
from freshrec.serving.answers import rendered
from freshrec.serving.cache import RecommendationCache
from freshrec.simulate import ShopConfig, SyntheticShop


@dataclass
class SimulatedClock:
    now: float = 0.0

    def __call__(self) -> float:
        return self.now


def load(shop: SyntheticShop, live: int, config: EngineConfig) -> tuple[Engine, list[dict]]:
    events = list(shop.events())
    engine = Engine.open(None, config, background_training=False)
    engine.upsert_items(shop.items())
    for start in range(0, len(events) - live, 5_000):
        engine.ingest(events[start : min(start + 5_000, len(events) - live)])
    engine.train()
    return engine, events[len(events) - live :]


def run(
    engine: Engine, live: list[dict], max_age: float, args: argparse.Namespace
) -> dict[str, Any]:
    clock = SimulatedClock()
    # The timeline's clock, so the hit rate does not depend on this machine's speed.
    limit = max_age if math.isfinite(max_age) else 1e12
    cache = RecommendationCache(max_age_seconds=limit, clock=clock)
    rng = random.Random(args.seed)
    askers = [event["user_id"] for event in live]
    stored_at: dict[Any, float] = {}
    service: list[float] = []
    ages: list[float] = []
    next_event, event_gap, request_gap = 0, 1.0 / args.event_rate, 1.0 / args.rate
    for k in range(int(args.seconds * args.rate)):
        clock.now = k * request_gap
        due = min(len(live), int(clock.now / event_gap) + 1)
        if due > next_event:
            engine.ingest(live[next_event:due])
            next_event = due
        user = rng.choice(askers)
        started = time.perf_counter()
        key = (user, "home", 10, (), None, engine.freshness(user))
        answer = cache.get(key)
        if answer is None:
            answer = rendered(engine.recommend, user, 10, "home", (), None)
            cache.put(key, answer)
            stored_at[key] = clock.now
        else:
            ages.append(clock.now - stored_at[key])
        service.append(time.perf_counter() - started)
    service.sort()
    lookups = cache.hits + cache.misses
    return {
        "max_age_seconds": max_age,
        "requests": lookups,
        "events": next_event,
        "hit_rate": round(cache.hits / lookups, 4),
        "mean_ms": round(statistics.fmean(service) * 1e3, 4),
        "p50_ms": round(service[len(service) // 2] * 1e3, 4),
        "p99_ms": round(service[int(len(service) * 0.99)] * 1e3, 4),
        "oldest_served_s": round(max(ages), 3) if ages else 0.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--items", type=int, default=5_000)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--live", type=int, default=20_000)
    parser.add_argument("--rate", type=float, default=500.0, help="requests per second")
    parser.add_argument("--event-rate", type=float, default=200.0, help="events per second")
    parser.add_argument("--seconds", type=float, default=30.0, help="simulated seconds")
    parser.add_argument("--ages", default="0,0.25,1,5,inf", help="max_age_seconds to compare")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    shop = SyntheticShop(ShopConfig(n_users=args.users, n_items=args.items, n_events=args.events))
    config = EngineConfig.from_dict(
        {"content": {"encoder": "none"}, "training": {"retrain_every_events": 0}}
    )
    results = []
    for text in args.ages.split(","):
        engine, live = load(shop, args.live, config)  # the same state for every age limit
        try:
            results.append(run(engine, live, float(text), args))
        finally:
            engine.close()
        print(json.dumps(results[-1]), flush=True)
    base = results[0]["mean_ms"]
    for row in results:
        row["mean_vs_no_cache"] = round(row["mean_ms"] / base, 3)
    print(json.dumps({"args": vars(args), "results": results}))


if __name__ == "__main__":
    main()
