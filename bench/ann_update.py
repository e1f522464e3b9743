"""The factor index after a retrain: build breadth, rebuilding, and rewriting moved vectors.

A warm-started retrain moves item factors; the serving HNSW graph either follows the moved
rows (hnswlib rewrites each node in place and re-links it) or is replaced by a new graph
built off the engine's lock. This measures, on clustered 64-d vectors shaped like ALS item
factors (norms spread like item popularity):

- build time and recall@k (vs exact inner product, at the serving ``ef_search``) per
  ``ef_construction``: how much build breadth candidate nomination needs;
- the cost of rewriting a share of the vectors in place, per vector, against the cost per
  vector of a new build: the share past which a new index is cheaper
  (``retrieval.factor_index_rebuild_share``).

    OPENBLAS_NUM_THREADS=1 .venv/bin/python bench/ann_update.py --items 100000
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import numpy.typing as npt

from freshrec.retrieval.ann import VectorIndex, VectorIndexConfig

Matrix = npt.NDArray[np.float32]


def factor_like(n: int, dim: int, seed: int) -> tuple[Matrix, Matrix]:
    """Clustered vectors with log-normal norms, and queries drawn from the same clusters."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(200, dim))
    items = centers[rng.integers(0, 200, n)] + 0.7 * rng.normal(size=(n, dim))
    items *= rng.lognormal(0.0, 0.5, (n, 1))
    queries = centers[rng.integers(0, 200, 300)] + 0.7 * rng.normal(size=(300, dim))
    return items.astype(np.float32), queries.astype(np.float32)


def recall(index: VectorIndex, items: Matrix, queries: Matrix, k: int) -> float:
    exact = np.argsort(-(queries @ items.T), axis=1)[:, :k]
    found = [set(index.search(q, k)[0].tolist()) for q in queries]
    return float(np.mean([len(f & set(e.tolist())) / k for f, e in zip(found, exact, strict=True)]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--k", type=int, default=50, help="factor candidates per answer")
    parser.add_argument("--ef-search", type=int, default=60)
    parser.add_argument("--rewrite", type=int, default=5_000, help="vectors rewritten in place")
    args = parser.parse_args()
    items, queries = factor_like(args.items, args.dim, seed=0)
    ids = np.arange(args.items)
    report: dict[str, object] = {"items": args.items, "dim": args.dim, "k": args.k}
    builds = {}
    for breadth in (200, 100, 64, 40):
        config = VectorIndexConfig(
            dim=args.dim, metric="ip", ef_search=args.ef_search, ef_construction=breadth
        )
        start = time.perf_counter()
        index = VectorIndex(config)
        index.upsert(ids, items)
        seconds = time.perf_counter() - start
        builds[breadth] = {
            "build_seconds": round(seconds, 2),
            "build_ms_per_vector": round(seconds / args.items * 1e3, 4),
            f"recall@{args.k}": round(recall(index, items, queries, args.k), 3),
        }
        # The rewrite of moved vectors, on this graph: what a warm retrain would cost.
        rng = np.random.default_rng(1)
        rows = rng.choice(args.items, args.rewrite, replace=False)
        moved = items[rows] * 1.1 + 0.3 * rng.normal(size=(args.rewrite, args.dim))
        start = time.perf_counter()
        index.upsert(rows, moved.astype(np.float32))
        per_rewrite = (time.perf_counter() - start) / args.rewrite * 1e3
        builds[breadth]["rewrite_ms_per_vector"] = round(per_rewrite, 4)
        builds[breadth]["rewrite_over_insert"] = round(
            per_rewrite / builds[breadth]["build_ms_per_vector"], 1
        )
        print(breadth, builds[breadth], flush=True)
    report["ef_construction"] = builds
    print(json.dumps(report))


if __name__ == "__main__":
    main()
