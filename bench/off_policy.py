"""Off-policy estimates against the truth: SNIPS/IPS of a held-back configuration's CTR.

1. The closed-loop shop's users are answered by the logging configuration with every list
   randomised (Plackett-Luce, ``measurement.exploration_share`` = 1), propensities logged.
2. The held-back target configuration's CTR is estimated from that log alone
   (``freshrec.measurement.off_policy.estimate_ctr``).
3. The same users (same seed) are answered by the target itself, deterministically: its
   realised CTR is the truth the estimate is judged by (bar: within +-10 % relative).

    .venv/bin/python bench/off_policy.py --requests 20000 --seeds 3
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from freshrec.config import EngineConfig
from freshrec.engine import Engine
from freshrec.measurement.off_policy import estimate_ctr
from freshrec.simulate.closed_loop import ClosedLoopShop, run_loop
from freshrec.simulate.experiment import DEFAULT_SETTINGS
from freshrec.simulate.shop import ShopConfig, SyntheticShop
from freshrec.types import Item

TARGETS: dict[str, dict[str, Any]] = {
    "covisitation-heavy": {"blend": {"covisitation": 1.0, "factors": 0.2, "trending": 0.3}},
    "factors-heavy": {"blend": {"covisitation": 0.3, "factors": 1.0, "trending": 0.1}},
}


def loop_ctr(
    config: EngineConfig, shop_config: ShopConfig, seed: int, requests: int, keep_log: bool = False
) -> tuple[float, Any]:
    shop = SyntheticShop(shop_config)
    loop = ClosedLoopShop(shop, seed)
    with Engine.open(None, config, background_training=False) as engine:
        engine.upsert_items(shop.items())
        history = list(loop.history())
        for start in range(0, len(history), 5_000):
            engine.ingest(history[start : start + 5_000])
        summary = run_loop(
            loop,
            lambda user: engine.serve(user, 10, at=loop.now).to_dict(),
            engine.ingest,
            requests,
        )
        log = None
        if keep_log:
            assert engine.measurement.log.flush(900.0)  # propensities: ~3 ms a list
            items = [Item(item_id=item["item_id"]) for item in shop.items()]
            events = [pair for batch in engine.store.iter_events() for pair in batch]
            log = (events, [served for served, _ in engine.measurement.log.lists()], items)
    return summary.ctr, log


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--seeds", type=int, default=3)
    # Many users, each asking a few times: a deterministic policy that shows a heavy user
    # the same list again and again has a feedback loop no log of other lists can show.
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--items", type=int, default=300)
    parser.add_argument("--history", type=int, default=100_000)
    args = parser.parse_args()
    shop = ShopConfig(n_users=args.users, n_items=args.items, n_events=args.history, seed=0)
    base = EngineConfig.from_dict(DEFAULT_SETTINGS)
    logging = base.merged({"measurement": {"exploration_share": 1.0}})
    rows = []
    for seed in range(args.seeds):
        started = time.perf_counter()
        logged_ctr, log = loop_ctr(logging, shop, seed, args.requests, keep_log=True)
        events, lists, items = log
        for name, partial in TARGETS.items():
            target = base.merged(partial)
            estimate = estimate_ctr(events, lists, items, target)
            realised, _ = loop_ctr(target, shop, seed, args.requests)
            row = {
                "seed": seed,
                "target": name,
                "logging_ctr": round(logged_ctr, 5),
                "realised_ctr": round(realised, 5),
                **estimate.to_dict(),
                "snips_error": round(estimate.snips.value / realised - 1, 4),
                "ips_error": round(estimate.ips.value / realised - 1, 4),
                "seconds": round(time.perf_counter() - started, 1),
            }
            print(json.dumps(row), flush=True)
            rows.append(row)
    errors = sorted(abs(r["snips_error"]) for r in rows)
    print(
        json.dumps(
            {
                "runs": len(rows),
                "snips_within_10pct": sum(e <= 0.10 for e in errors),
                "median_abs_snips_error": errors[len(errors) // 2],
                "max_abs_snips_error": errors[-1],
            }
        )
    )


if __name__ == "__main__":
    main()
