"""freshrec's prequential replay of MovieLens-100K beside peer libraries, in one run.

freshrec runs through ``freshrec.evaluation.replay`` (the engine's public API: validation,
store, online state, inline retrains); the peers run through ``replay_peers.py`` on the same
event order and evaluated events. Both halves of the stream are reported: freshrec's defaults
were chosen on the first half only.

    .venv/bin/python bench/replay_ml100k.py [--peers itemknn,ease,als] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent))
import replay_peers
from freshrec.evaluation import replay
from freshrec.readers import read_movielens


def run_freshrec(data_dir: Path, k: int) -> dict[str, float]:
    data = read_movielens(data_dir)
    report = replay(data.events, data.items, k=k).to_dict()
    return {
        f"hr@{k}": report[f"hr@{k}"],
        f"ndcg@{k}": report[f"ndcg@{k}"],
        "evaluated": report["evaluated"],
        "events_per_second": report["events_per_second"],
        "hr_first_half": report[f"hr@{k}_first_half"],
        "hr_second_half": report[f"hr@{k}_second_half"],
    }


def run_peers(stream: replay_peers.Stream, peers: str, k: int) -> dict[str, dict[str, float]]:
    """Replay every named peer over ``stream`` (single-threaded BLAS is the caller's)."""
    results: dict[str, dict[str, float]] = {}
    tie_order = np.random.default_rng(replay_peers.TIE_SEED).permutation(stream.n_items)
    for name in [p.strip() for p in peers.split(",") if p.strip()]:
        peer = replay_peers.make_peer(name, stream.n_items)
        if peer is not None:
            results[name] = replay_peers.replay(stream, peer, k, tie_order)
    return results


def print_results(results: dict[str, dict[str, float]], k: int) -> None:
    """The table of one run, each system against freshrec and against the ALS peer."""
    ours = results["freshrec"]
    best_peer = max((r for n, r in results.items() if n != "freshrec"), key=lambda r: r["hr@10"])
    als_speed = results.get("als", {}).get("events_per_second")
    key = f"hr@{k}"
    print(
        f"{'system':<14}{key:>9}{'ndcg':>9}{'evaluated':>11}{'events/s':>11}"
        f"{'hr/freshrec':>13}{'speed/als':>11}"
    )
    for name, row in results.items():
        speed = f"{row['events_per_second'] / als_speed:>11.2f}" if als_speed else ""
        print(
            f"{name:<14}{row[key]:>9.4f}{row[f'ndcg@{k}']:>9.4f}{row['evaluated']:>11,}"
            f"{row['events_per_second']:>11,.0f}{row[key] / ours[key]:>13.2f}{speed}"
        )
    print(
        f"freshrec hr first half {ours['hr_first_half']:.4f}, second half "
        f"{ours['hr_second_half']:.4f}; ahead of the best peer by "
        f"{ours[key] / best_peer[key]:.2f}x"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=replay_peers.DEFAULT_DATA)
    parser.add_argument("--peers", default="popularity,itemknn,ease,als,als_nofoldin")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    data_dir = args.data.resolve()
    if not (data_dir / "u.data").is_file():
        print(f"MovieLens-100K not found at {data_dir}; nothing to benchmark.")
        return 0
    with threadpool_limits(limits=1):
        results = {"freshrec": run_freshrec(data_dir, args.k)}
        results.update(run_peers(replay_peers.load_stream(data_dir), args.peers, args.k))
    print_results(results, args.k)
    if args.json:
        print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
