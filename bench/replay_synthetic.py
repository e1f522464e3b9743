"""freshrec's prequential replay of a synthetic shop with a large catalogue, beside the peers.

The shop comes from the project's own generator (``freshrec simulate``, fixed seed), by
default 12,500 items, 5,000 users and 100,000 events. freshrec replays it through
``freshrec.evaluation.replay`` with the item file (the catalogue, its texts encoded by the
language model before the clock starts); the peers of ``replay_peers.py`` run on the same
event order with the engine's positive rule. The item texts' encoding is reported apart.

    .venv/bin/python bench/replay_synthetic.py [--items 12500] [--users 5000]
        [--events 100000] [--peers itemknn,als] [--no-items] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent))
import replay_ml100k
import replay_peers
from freshrec.config import EngineConfig
from freshrec.evaluation import replay
from freshrec.readers import read_events_any, read_items
from freshrec.simulate.shop import ShopConfig
from freshrec.simulate.writer import write_shop


def run_freshrec(events_path: Path, items_path: Path | None, k: int) -> dict[str, float]:
    config = EngineConfig()
    events = read_events_any(events_path, config.events.weights, strict=True).records
    items = read_items(items_path, strict=True).records if items_path else ()
    started = time.perf_counter()
    report = replay(events, items, k=k, config=config).to_dict()
    total = time.perf_counter() - started
    row = replay_ml100k.row_of(report, k)
    row["catalogue_load_seconds"] = round(total - report["seconds"], 1)
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=12_500)
    parser.add_argument("--users", type=int, default=5_000)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--peers", default="popularity,itemknn,als")
    parser.add_argument("--no-items", action="store_true", help="replay the events alone")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        files = write_shop(
            Path(folder),
            ShopConfig(
                n_users=args.users, n_items=args.items, n_events=args.events, seed=args.seed
            ),
        )
        stream = replay_peers.load_event_file(files.events)
        print(
            f"{len(stream.users):,} events, {stream.n_users:,} users, "
            f"{stream.n_items:,} items with events, catalogue {args.items:,}"
        )
        with threadpool_limits(limits=1):
            ours = run_freshrec(files.events, None if args.no_items else files.items, args.k)
            results = {"freshrec": ours}
            results.update(replay_ml100k.run_peers(stream, args.peers, args.k))
    replay_ml100k.print_results(results, args.k)
    print(
        "catalogue load (item texts encoded, outside the clock):",
        f"{ours['catalogue_load_seconds']} s",
    )
    if args.json:
        print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
