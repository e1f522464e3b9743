"""freshrec's prequential replay of MovieLens-100K beside peer libraries, in one run.

freshrec runs through ``freshrec.evaluation.replay`` (the engine's public API: validation,
store, online state, inline retrains); the peers run through ``replay_peers.py`` on the same
event order and evaluated events. freshrec is run twice: on its whole catalogue (what it
serves) and on the peers' candidate set (items with an earlier event; some targets only the
whole catalogue can hit). Both halves of the stream are reported for every system:
freshrec's defaults were chosen on the first half only (``bench/tune_ml100k.py``).

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


def run_freshrec(data_dir: Path, k: int, candidates: str = "catalogue") -> dict[str, float]:
    data = read_movielens(data_dir)
    return row_of(replay(data.events, data.items, k=k, candidates=candidates).to_dict(), k)


def row_of(report: dict[str, float], k: int) -> dict[str, float]:
    """A replay report as a row of the table, in the peers' keys."""
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
    ours, key = results["freshrec"], f"hr@{k}"
    peers = (r for n, r in results.items() if not n.startswith("freshrec"))
    best_peer = max(peers, key=lambda r: r[f"hr@{k}"])
    als_speed = results.get("als", {}).get("events_per_second")
    print(
        f"{'system':<20}{key:>9}{'ndcg':>9}{'1st half':>10}{'2nd half':>10}{'evaluated':>11}"
        f"{'events/s':>11}{'hr/freshrec':>13}{'speed/als':>11}"
    )
    for name, row in results.items():
        speed = f"{row['events_per_second'] / als_speed:>11.2f}" if als_speed else ""
        print(
            f"{name:<20}{row[key]:>9.4f}{row[f'ndcg@{k}']:>9.4f}{row['hr_first_half']:>10.4f}"
            f"{row['hr_second_half']:>10.4f}{row['evaluated']:>11,}"
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
        # The peers can only rank items seen earlier; freshrec on that same candidate set:
        results["freshrec (seen only)"] = run_freshrec(data_dir, args.k, "seen")
        results.update(run_peers(replay_peers.load_stream(data_dir), args.peers, args.k))
    print_results(results, args.k)
    if args.json:
        print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
