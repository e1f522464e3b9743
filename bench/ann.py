"""ANN libraries against exact search: recall@10, single-query latency, build, add, remove.

Three parts, each runnable alone (1M builds take minutes on the 2-core box):

    # libraries at one size (data and exact answers cached under --cache)
    .venv/bin/python bench/ann.py compare --size 1000000 --data clustered \
        --libs hnswlib,usearch,faiss-hnsw,faiss-ivf
    .venv/bin/python bench/ann.py compare --size 1000000 --data clustered \
        --libs usearch-f16,usearch-i8,freshrec
    # exact numpy vs ANN per single query at small sizes: where the threshold goes
    .venv/bin/python bench/ann.py threshold --sizes 1000,2000,5000,10000,20000,50000,100000
    # start-up cost: VectorIndex built from 100k x 384 vectors in one upsert
    .venv/bin/python bench/ann.py startup --size 100000
    # recall cost of storing the embedding table as f16 or i8 (exact search, no graph)
    .venv/bin/python bench/ann.py storage --size 1000000

Data: ``clustered`` imitates sentence embeddings (a mixture of 4,096 Gaussian centres with
Zipf-like sizes around a shared mean direction, plus isotropic noise, normalised; nearest
neighbours at cosine ~0.7, random pairs ~0.1); ``isotropic`` is normalised standard normal,
the hard case for graph indexes. Queries are 1,000 fresh draws from the same distribution;
the truth is the exact top-10 by inner product (= cosine). Thread counts are set explicitly:
builds use ``--build-threads`` (default 2, both cores), every query and every single add or
remove uses 1 thread; numpy's BLAS is limited to 1 thread while timing exact search.
Latencies are per call from Python, medians over ``--repeats`` passes of p50 and p99.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
from threadpoolctl import threadpool_limits

Matrix = npt.NDArray[np.float32]
Ids = npt.NDArray[np.int64]

K = 10


# ---------------------------------------------------------------- data


def clustered(n: int, dim: int, seed: int, n_centres: int = 4096) -> Matrix:
    """Normalised mixture of Gaussian centres around a shared mean direction."""
    structure = np.random.default_rng(12345)  # the same centres for items and queries
    mean = structure.standard_normal(dim).astype(np.float32)
    mean /= np.linalg.norm(mean)
    centres = structure.standard_normal((n_centres, dim)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    centres = centres + 0.35 * mean
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    weights = 1.0 / np.arange(1, n_centres + 1) ** 0.7
    weights /= weights.sum()
    rng = np.random.default_rng(seed)
    out = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, 100_000):
        m = min(100_000, n - start)
        which = rng.choice(n_centres, size=m, p=weights)
        noise = rng.standard_normal((m, dim), dtype=np.float32) * np.float32(0.75 / np.sqrt(dim))
        block = centres[which] + noise
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        out[start : start + m] = block
    return out


def isotropic(n: int, dim: int, seed: int) -> Matrix:
    rng = np.random.default_rng(seed)
    out = rng.standard_normal((n, dim), dtype=np.float32)
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    return out


def make_data(kind: str, n: int, dim: int, seed: int) -> Matrix:
    return clustered(n, dim, seed) if kind == "clustered" else isotropic(n, dim, seed)


def exact_top(base: Matrix, queries: Matrix, k: int) -> Ids:
    """Exact top-k ids by inner product, best first, in blocks of the base."""
    best_ids = np.zeros((len(queries), 0), dtype=np.int64)
    best_scores = np.zeros((len(queries), 0), dtype=np.float32)
    for start in range(0, len(base), 200_000):
        scores = queries @ base[start : start + 200_000].T
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        best_ids = np.hstack([best_ids, part + start])
        best_scores = np.hstack([best_scores, np.take_along_axis(scores, part, axis=1)])
    order = np.argsort(-best_scores, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(best_ids, order, axis=1)


def dataset(args: argparse.Namespace, n: int) -> tuple[Matrix, Matrix, Matrix, Ids]:
    """Base [n, dim], queries [q, dim], extra vectors for adds [200, dim], truth [q, K]."""
    path = Path(args.cache) / f"ann-{args.data}-{n}-{args.dim}.npz" if args.cache else None
    if path is not None and path.exists():
        saved = np.load(path)
        return saved["base"], saved["queries"], saved["extra"], saved["truth"]
    base = make_data(args.data, n, args.dim, seed=1)
    queries = make_data(args.data, args.queries, args.dim, seed=2)
    extra = make_data(args.data, 200, args.dim, seed=3)
    with threadpool_limits(limits=args.build_threads):
        truth = exact_top(base, queries, K)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, base=base, queries=queries, extra=extra, truth=truth)
    return base, queries, extra, truth


# ---------------------------------------------------------------- libraries


class Adapter(Protocol):
    name: str
    knob: str  # the search-time parameter swept
    can_remove: bool

    def build(self, base: Matrix, threads: int) -> None: ...
    def set_knob(self, value: int) -> None: ...
    def search(self, query: Matrix, k: int) -> Ids: ...
    def add_one(self, key: int, vector: Matrix) -> None: ...
    def remove_one(self, key: int) -> None: ...
    def memory_bytes(self) -> int | None: ...


class Hnswlib:
    knob = "ef"
    can_remove = True

    def __init__(self, dim: int, m: int, ef_construction: int) -> None:
        import hnswlib

        self.name = "hnswlib"
        self.index = hnswlib.Index(space="ip", dim=dim)
        self.m, self.efc = m, ef_construction

    def build(self, base: Matrix, threads: int) -> None:
        self.index.init_index(
            max_elements=len(base) + 1024,
            M=self.m,
            ef_construction=self.efc,
            allow_replace_deleted=True,
        )
        self.index.add_items(base, np.arange(len(base)), num_threads=threads)

    def set_knob(self, value: int) -> None:
        self.index.set_ef(value)

    def search(self, query: Matrix, k: int) -> Ids:
        labels, _ = self.index.knn_query(query, k=k, num_threads=1)
        return labels[0].astype(np.int64)

    def add_one(self, key: int, vector: Matrix) -> None:
        self.index.add_items(vector[None], np.array([key]), num_threads=1)

    def remove_one(self, key: int) -> None:
        self.index.mark_deleted(key)

    def memory_bytes(self) -> int | None:
        return None


class Usearch:
    knob = "expansion_search"
    can_remove = True

    def __init__(self, dim: int, m: int, ef_construction: int, dtype: str) -> None:
        from usearch.index import Index

        self.name = "usearch" if dtype == "f32" else f"usearch-{dtype}"
        # i8 quantises each coordinate to [-127, 127]: meant for the cosine metric.
        metric = "cos" if dtype == "i8" else "ip"
        self.index = Index(
            ndim=dim,
            metric=metric,
            dtype=dtype,
            connectivity=m,
            expansion_add=ef_construction,
            expansion_search=64,
        )

    def build(self, base: Matrix, threads: int) -> None:
        self.index.add(np.arange(len(base)), base, threads=threads)

    def set_knob(self, value: int) -> None:
        self.index.expansion_search = value

    def search(self, query: Matrix, k: int) -> Ids:
        return np.asarray(self.index.search(query, k, threads=1).keys, dtype=np.int64)

    def add_one(self, key: int, vector: Matrix) -> None:
        self.index.add(key, vector, threads=1)

    def remove_one(self, key: int) -> None:
        self.index.remove(key)

    def memory_bytes(self) -> int | None:
        return int(self.index.memory_usage)


class FaissHnsw:
    knob = "efSearch"
    can_remove = False  # IndexHNSW has no remove_ids

    def __init__(self, dim: int, m: int, ef_construction: int) -> None:
        import faiss

        self.faiss = faiss
        self.name = "faiss-hnsw"
        self.index = faiss.IndexHNSWFlat(dim, m, faiss.METRIC_INNER_PRODUCT)
        self.index.hnsw.efConstruction = ef_construction

    def build(self, base: Matrix, threads: int) -> None:
        self.faiss.omp_set_num_threads(threads)
        self.index.add(base)  # ids are positions: no add_with_ids on IndexHNSW
        self.faiss.omp_set_num_threads(1)

    def set_knob(self, value: int) -> None:
        self.index.hnsw.efSearch = value

    def search(self, query: Matrix, k: int) -> Ids:
        _, labels = self.index.search(query[None], k)
        return labels[0].astype(np.int64)

    def add_one(self, key: int, vector: Matrix) -> None:
        assert key == self.index.ntotal, "faiss HNSW ids are insertion positions"
        self.index.add(vector[None])

    def remove_one(self, key: int) -> None:
        raise NotImplementedError

    def memory_bytes(self) -> int | None:
        return None


class FaissIvf:
    knob = "nprobe"
    can_remove = True

    def __init__(self, dim: int, nlist: int) -> None:
        import faiss

        self.faiss = faiss
        self.name = f"faiss-ivf{nlist}"
        self.quantizer = faiss.IndexFlatIP(dim)
        self.index = faiss.IndexIVFFlat(self.quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
        self.nlist = nlist

    def build(self, base: Matrix, threads: int) -> None:
        self.faiss.omp_set_num_threads(threads)
        sample = base[np.random.default_rng(0).permutation(len(base))[: self.nlist * 40]]
        self.index.train(sample)
        self.index.add_with_ids(base, np.arange(len(base), dtype=np.int64))
        # A hash-table direct map makes remove_ids O(removed) instead of a scan of all lists.
        self.index.set_direct_map_type(self.faiss.DirectMap.Hashtable)
        self.faiss.omp_set_num_threads(1)

    def set_knob(self, value: int) -> None:
        self.index.nprobe = value

    def search(self, query: Matrix, k: int) -> Ids:
        _, labels = self.index.search(query[None], k)
        return labels[0].astype(np.int64)

    def add_one(self, key: int, vector: Matrix) -> None:
        self.index.add_with_ids(vector[None], np.array([key], dtype=np.int64))

    def remove_one(self, key: int) -> None:
        self.index.remove_ids(np.array([key], dtype=np.int64))

    def memory_bytes(self) -> int | None:
        return None


class Freshrec:
    """The project's VectorIndex (ANN mode), to show what the wrapper adds per call."""

    knob = "ef_search"
    can_remove = True

    def __init__(self, dim: int, m: int, ef_construction: int) -> None:
        from freshrec.retrieval import VectorIndex, VectorIndexConfig

        self.name = "freshrec"
        self.config = VectorIndexConfig(
            dim=dim, metric="cosine", m=m, ef_construction=ef_construction
        )
        self.make = VectorIndex
        self.index = VectorIndex(self.config)

    def build(self, base: Matrix, threads: int) -> None:
        from dataclasses import replace

        self.index = self.make(replace(self.config, build_threads=threads))
        self.index.upsert(np.arange(len(base)), base)

    def set_knob(self, value: int) -> None:
        self.index.set_ef_search(value)

    def search(self, query: Matrix, k: int) -> Ids:
        return self.index.search(query, k)[0]

    def add_one(self, key: int, vector: Matrix) -> None:
        self.index.upsert(np.array([key]), vector[None])

    def remove_one(self, key: int) -> None:
        self.index.remove(np.array([key]))

    def memory_bytes(self) -> int | None:
        return None


def make_adapter(name: str, args: argparse.Namespace) -> Adapter:
    makers: dict[str, Callable[[], Any]] = {
        "hnswlib": lambda: Hnswlib(args.dim, args.m, args.ef_construction),
        "usearch": lambda: Usearch(args.dim, args.m, args.ef_construction, "f32"),
        "usearch-f16": lambda: Usearch(args.dim, args.m, args.ef_construction, "f16"),
        "usearch-i8": lambda: Usearch(args.dim, args.m, args.ef_construction, "i8"),
        "faiss-hnsw": lambda: FaissHnsw(args.dim, args.m, args.ef_construction),
        "faiss-ivf": lambda: FaissIvf(args.dim, args.nlist),
        "freshrec": lambda: Freshrec(args.dim, args.m, args.ef_construction),
    }
    return makers[name]()  # type: ignore[no-any-return]


# ---------------------------------------------------------------- measuring


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = np.sort(np.asarray(samples))
    return float(np.percentile(ordered, 50)), float(np.percentile(ordered, 99))


def timed_pass(call: Callable[[Matrix], Ids], queries: Matrix) -> tuple[list[Ids], list[float]]:
    found, times = [], []
    for query in queries:
        start = time.perf_counter_ns()
        ids = call(query)
        times.append((time.perf_counter_ns() - start) / 1e6)
        found.append(ids)
    return found, times


def recall_at_k(found: list[Ids], truth: Ids) -> float:
    hits = sum(len(np.intersect1d(f[:K], t)) for f, t in zip(found, truth, strict=True))
    return hits / truth.size


def latency_ms(call: Callable[[Matrix], Ids], queries: Matrix, repeats: int) -> dict[str, Any]:
    """Recall input and median p50/p99 over ``repeats`` passes after a warm-up pass."""
    timed_pass(call, queries[:100])
    passes = [timed_pass(call, queries) for _ in range(repeats)]
    p50s, p99s = zip(*(percentiles(times) for _, times in passes), strict=True)
    return {"found": passes[0][0], "p50": statistics.median(p50s), "p99": statistics.median(p99s)}


def compare(args: argparse.Namespace) -> list[dict[str, Any]]:
    base, queries, extra, truth = dataset(args, args.size)
    rows = []
    for name in args.libs.split(","):
        gc.collect()
        adapter = make_adapter(name, args)
        before = rss_bytes()
        start, cpu_start = time.perf_counter(), time.process_time()
        adapter.build(base, args.build_threads)
        build_s = time.perf_counter() - start
        # CPU seconds over all threads: robust to other jobs sharing the cores.
        build_cpu_s = time.process_time() - cpu_start
        memory = adapter.memory_bytes() or (rss_bytes() - before)
        knobs = [int(v) for v in (args.nprobe if "ivf" in name else args.ef).split(",")]
        sweep = []
        for value in knobs:
            adapter.set_knob(value)
            measured = latency_ms(lambda q, a=adapter: a.search(q, K), queries, args.repeats)
            recall = recall_at_k(measured["found"], truth)
            sweep.append({adapter.knob: value, "recall": recall, **_ms(measured)})
            print(
                f"  {name} {adapter.knob}={value}: recall@10={recall:.4f} "
                f"p50={measured['p50']:.3f} ms p99={measured['p99']:.3f} ms",
                flush=True,
            )
        # Additions one at a time, each followed at once by a search for the vector itself.
        add_times, visible = [], 0
        first_key = len(base)
        for offset, vector in enumerate(extra):
            start = time.perf_counter_ns()
            adapter.add_one(first_key + offset, vector)
            add_times.append((time.perf_counter_ns() - start) / 1e6)
            visible += int(first_key + offset in adapter.search(vector, K))
        remove_ms = None
        leaked = None
        if adapter.can_remove:
            remove_times, leaked = [], 0
            for offset, vector in enumerate(extra):
                start = time.perf_counter_ns()
                adapter.remove_one(first_key + offset)
                remove_times.append((time.perf_counter_ns() - start) / 1e6)
                leaked += int(first_key + offset in adapter.search(vector, K))
            remove_ms = statistics.median(remove_times)
        row = {
            "lib": name,
            "data": args.data,
            "size": args.size,
            "dim": args.dim,
            "m": args.m,
            "ef_construction": args.ef_construction,
            "build_threads": args.build_threads,
            "build_s": build_s,
            "build_cpu_s": build_cpu_s,
            "memory_mb": memory / 2**20,
            "sweep": sweep,
            "add_ms_p50": statistics.median(add_times),
            "add_ms_p99": percentiles(add_times)[1],
            "added_visible": visible / len(extra),
            "remove_ms_p50": remove_ms,
            "removed_returned": leaked,
        }
        print(json.dumps(row), flush=True)
        rows.append(row)
        del adapter
    return rows


def _ms(measured: dict[str, Any]) -> dict[str, float]:
    return {"p50_ms": round(measured["p50"], 4), "p99_ms": round(measured["p99"], 4)}


def exact_search(matrix: Matrix, query: Matrix, k: int) -> Ids:
    """What VectorIndex does below the threshold: one mat-vec, argpartition, sort k."""
    scores = matrix @ query
    top = np.argpartition(scores, len(scores) - k)[len(scores) - k :]
    return top[np.argsort(-scores[top])].astype(np.int64)


def threshold(args: argparse.Namespace) -> list[dict[str, Any]]:
    rows = []
    for size in [int(s) for s in args.sizes.split(",")]:
        base, queries, _, truth = dataset(args, size)
        with threadpool_limits(limits=1):
            exact = latency_ms(lambda q, b=base: exact_search(b, q, K), queries, args.repeats)
        row: dict[str, Any] = {"size": size, "data": args.data, "exact": _ms(exact)}
        for name in args.libs.split(","):
            adapter = make_adapter(name, args)
            start = time.perf_counter()
            adapter.build(base, args.build_threads)
            build_s = time.perf_counter() - start
            adapter.set_knob(int(args.ef.split(",")[0]))
            ann = latency_ms(lambda q, a=adapter: a.search(q, K), queries, args.repeats)
            row[name] = {
                **_ms(ann),
                "recall": recall_at_k(ann["found"], truth),
                "build_s": round(build_s, 3),
            }
        print(json.dumps(row), flush=True)
        rows.append(row)
    return rows


def startup(args: argparse.Namespace) -> dict[str, Any]:
    base, queries, _, truth = dataset(args, args.size)
    from freshrec.retrieval import VectorIndex, VectorIndexConfig

    report: dict[str, Any] = {"size": args.size, "dim": args.dim, "data": args.data}
    for threads in (1, args.build_threads):
        times, cpu = [], []
        for _ in range(args.repeats):
            index = VectorIndex(
                VectorIndexConfig(dim=args.dim, metric="cosine", build_threads=threads)
            )
            start, cpu_start = time.perf_counter(), time.process_time()
            index.upsert(np.arange(len(base)), base)
            times.append(time.perf_counter() - start)
            cpu.append(time.process_time() - cpu_start)
        report[f"build_s_threads_{threads}"] = statistics.median(times)
        report[f"build_cpu_s_threads_{threads}"] = statistics.median(cpu)
        found = [index.search(q, K)[0] for q in queries]
        report[f"recall_threads_{threads}"] = recall_at_k(found, truth)
        print(json.dumps(report), flush=True)
    return report


def quantised_top(table: npt.NDArray[Any], scale: Matrix | None, queries: Matrix) -> Ids:
    """Exact top-K over a stored f16 or i8 table, decoded block by block to float32."""
    best = []
    for query_block in np.array_split(queries, max(1, len(queries) // 250)):
        ids = np.zeros((len(query_block), 0), dtype=np.int64)
        scores = np.zeros((len(query_block), 0), dtype=np.float32)
        for start in range(0, len(table), 100_000):
            block = table[start : start + 100_000].astype(np.float32)
            if scale is not None:
                block *= scale[start : start + 100_000, None]
            s = query_block @ block.T
            part = np.argpartition(-s, K - 1, axis=1)[:, :K]
            ids = np.hstack([ids, part + start])
            scores = np.hstack([scores, np.take_along_axis(s, part, axis=1)])
        order = np.argsort(-scores, axis=1, kind="stable")[:, :K]
        best.append(np.take_along_axis(ids, order, axis=1))
    return np.vstack(best)


def storage(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Recall@10 of exact search when the embedding table is stored as f16 or i8."""
    base, queries, _, truth = dataset(args, args.size)
    row_scale = np.abs(base).max(axis=1) / 127.0
    tables: dict[str, tuple[npt.NDArray[Any], Matrix | None]] = {
        "f32": (base, None),
        "f16": (base.astype(np.float16), None),
        # One scale per row (max |x| -> 127): what an i8 embedding table would store.
        "i8 (per-row scale)": (
            np.round(base / row_scale[:, None]).astype(np.int8),
            row_scale.astype(np.float32),
        ),
        # usearch's i8 for cosine: x * 127, clipped, no stored scale.
        "i8 (x*127, usearch)": (np.clip(np.round(base * 127), -127, 127).astype(np.int8), None),
    }
    rows = []
    with threadpool_limits(limits=args.build_threads):
        for name, (table, scale) in tables.items():
            found = quantised_top(table, scale, queries)
            bytes_ = table.nbytes + (scale.nbytes if scale is not None else 0)
            row = {
                "storage": name,
                "size": args.size,
                "data": args.data,
                "recall": recall_at_k(list(found), truth),
                "table_mb": bytes_ / 2**20,
            }
            print(json.dumps(row), flush=True)
            rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("part", choices=["compare", "threshold", "startup", "storage"])
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--sizes", default="1000,2000,5000,10000,20000,50000,100000")
    parser.add_argument("--data", choices=["clustered", "isotropic"], default="clustered")
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--libs", default="hnswlib,usearch,faiss-hnsw,faiss-ivf")
    parser.add_argument("--m", type=int, default=16, help="HNSW M / usearch connectivity")
    parser.add_argument("--ef-construction", type=int, default=200)
    parser.add_argument("--ef", default="16,24,32,48,64,96,128,192,256")
    parser.add_argument("--nprobe", default="8,16,32,64,128")
    parser.add_argument("--nlist", type=int, default=4096)
    parser.add_argument("--build-threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cache", default="/tmp/freshrec-ann-bench")
    parser.add_argument("--out", default=None, help="append JSON results to this file")
    args = parser.parse_args()
    print(f"# {' '.join(sys.argv)}", flush=True)
    result: Any
    if args.part == "compare":
        result = compare(args)
    elif args.part == "threshold":
        result = threshold(args)
    elif args.part == "storage":
        result = storage(args)
    else:
        result = startup(args)
    if args.out:
        with open(args.out, "a") as out:
            out.write(json.dumps({"args": vars(args), "result": result}) + "\n")


if __name__ == "__main__":
    main()
