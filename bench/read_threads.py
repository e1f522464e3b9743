"""Do two reader threads answer in parallel? Answers/s with 1 and with 2 threads, in process.

A synthetic shop is loaded and trained in one engine; then ``--threads`` threads each ask
``recommend_ids`` for users drawn at random (seeded per thread) for ``--seconds``, and the
answers of all threads are counted. The peer in the same run is one thread: the bar is
``2 threads / 1 thread >= 1.5`` on the 2-core box. On a large catalogue most of an answer is
numpy work over every item (a mat-vec, masks, a partial sort), which releases the GIL, so two
threads can overlap only if the read path takes no exclusive lock.

Two shapes of answer: ``--retrieval whole`` scores the whole catalogue (numpy over every
item, which releases the GIL), ``--retrieval candidates`` the default above 25,000 items
(ANN and co-visitation nominees: ~0.5 ms of mostly Python per answer, which the GIL
serialises). Text encoding is off (``--encoder none``) so the load takes seconds; it adds
no per-answer work to a home feed with the default blend.

    .venv/bin/python bench/read_threads.py --items 50000 --retrieval whole
    .venv/bin/python bench/read_threads.py --items 50000 --retrieval candidates
"""

from __future__ import annotations

import argparse
import json
import random
import threading
import time

from freshrec import Engine, EngineConfig
from freshrec.simulate import ShopConfig, SyntheticShop


def load(args: argparse.Namespace) -> tuple[Engine, list[str]]:
    shop = SyntheticShop(
        ShopConfig(n_users=args.users, n_items=args.items, n_events=args.events, seed=args.seed)
    )
    settings: dict = {"content": {"encoder": args.encoder}}
    if args.retrieval == "whole":
        settings["retrieval"] = {"candidates_from_items": 10**9}
    engine = Engine.open(None, EngineConfig.from_dict(settings), background_training=False)
    engine.upsert_items(shop.items())
    events = list(shop.events())
    for start in range(0, len(events), 20_000):
        engine.ingest(events[start : start + 20_000])
    engine.train()
    users = sorted({event["user_id"] for event in events})
    return engine, users


def answers_per_second(engine: Engine, users: list[str], threads: int, seconds: float) -> float:
    counts = [0] * threads
    start = threading.Barrier(threads + 1)
    stop = threading.Event()

    def ask(slot: int) -> None:
        rng = random.Random(slot)
        start.wait()
        done = 0
        while not stop.is_set():
            engine.recommend_ids(rng.choice(users), 10)
            done += 1
        counts[slot] = done

    workers = [threading.Thread(target=ask, args=(slot,)) for slot in range(threads)]
    for worker in workers:
        worker.start()
    start.wait()
    began = time.perf_counter()
    time.sleep(seconds)
    stop.set()
    for worker in workers:
        worker.join()
    return sum(counts) / (time.perf_counter() - began)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--items", type=int, default=50_000)
    parser.add_argument("--events", type=int, default=150_000)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--retrieval", choices=["whole", "candidates"], default="whole")
    parser.add_argument("--encoder", default="none")
    args = parser.parse_args()
    engine, users = load(args)
    for user in users[:200]:  # warm the per-user caches both runs share
        engine.recommend_ids(user, 10)
    rows = []
    for round_ in range(args.rounds):  # interleaved, so drift hits both alike
        one = answers_per_second(engine, users, 1, args.seconds)
        two = answers_per_second(engine, users, 2, args.seconds)
        rows.append({"round": round_, "one_thread": one, "two_threads": two, "ratio": two / one})
        print(json.dumps(rows[-1]), flush=True)
    ratios = sorted(row["ratio"] for row in rows)
    median = ratios[len(ratios) // 2]
    print(json.dumps({"retrieval": args.retrieval, "median_ratio": median, "bar": 1.5}))
    engine.close()


if __name__ == "__main__":
    main()
