"""Text encoder throughput and fidelity: torch fp32 beside ONNX fp32 and ONNX int8, one run.

Texts from real and synthetic catalogues: MovieLens-100K titles (short, <= 16 tokens) and
titles with genres (skipped when the data is absent), and the synthetic shop's titles,
"title. description" texts and ~60-token texts (title, description and descriptions of
other items of the same category, the way a longer product page reads). Throughput:
texts/s over the short and the ~60-token sets at each thread count, medians of interleaved
repeats (variants alternate within each repeat, so load from other jobs on the box hits
them alike), the median per-repeat ratio to ONNX fp32, and texts per CPU-second of the
process (what an idle core would give; robust to other jobs on a shared box). Fidelity:
cosine of each variant's embedding to the torch fp32 reference over the whole catalogue,
and how many of each text's 10 nearest neighbours stay the same (what retrieval sees).

    .venv/bin/python bench/encoder.py --threads 1,2 --repeats 5 [--explore] [--json]

Every ONNX variant runs with the encoder's defaults (at most 384 token cells per call, no
spin-waiting) unless its name says otherwise. ``--explore`` adds what was tried while
choosing them: quantising MatMul only (fp32 embedding table), keeping the FFN output
projections in fp32, ONNX Runtime's BERT fusion before quantising, the default int8 file
with whole 64-text batches, and with spin-waiting threads. ``--cells 256,512`` adds the
default int8 file with other limits on token cells per call.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tokenizers import Tokenizer

from freshrec.content import (
    OnnxEncoder,
    TextEncoder,
    TorchEncoder,
    export_onnx,
    load_model_files,
    onnx_version,
)
from freshrec.content.model_files import ModelFiles
from freshrec.simulate import ShopConfig, SyntheticShop

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "ml-100k"
# u.item's genre flag columns, in order (u.genre).
GENRES = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery",
    "Romance", "Sci-Fi", "Thriller", "War", "Western",
)  # fmt: skip
# Weight matmuls of MiniLM-L6 (6 layers, 384 wide, FFN 1536): 2 FLOP per multiply-add.
MATMUL_FLOP_PER_TOKEN = 2 * 6 * (4 * 384 * 384 + 2 * 384 * 1536)
CEILING_GFLOPS = 200.0  # DESIGN.md: fp32 matrix work on 2 cores of the development box
REFERENCE = "torch-fp32"
PEER = "onnx-fp32"
DEFAULT = "onnx-int8 per-channel"


def movielens_texts(data_dir: Path) -> tuple[list[str], list[str]]:
    """Return (titles, "title. Genres: a, b.") from u.item, or two empty lists if absent."""
    path = data_dir / "u.item"
    if not path.is_file():
        return [], []
    titles, with_genres = [], []
    for line in path.read_text(encoding="latin-1").splitlines():
        fields = line.split("|")
        if len(fields) < 24 or not fields[1]:
            continue
        genres = [g for g, flag in zip(GENRES, fields[5:24], strict=True) if flag == "1"]
        titles.append(fields[1])
        with_genres.append(f"{fields[1]}. Genres: {', '.join(genres)}.")
    return titles, with_genres


def catalogue_texts(n_items: int, tokenizer: Tokenizer) -> dict[str, list[str]]:
    """Synthetic shop texts: titles, "title. description", and ~60-token pages."""
    shop = SyntheticShop(ShopConfig(n_users=10, n_items=n_items, n_events=0, seed=0))
    items = list(shop.items())
    by_category: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for item in items:
        by_category[item["categories"][0]].append(item)
    pages = []
    for item in items:
        same = by_category[item["categories"][0]]
        parts, k = [f"{item['title']}.", item["text"]], same.index(item)
        # Add same-category descriptions until the page passes 48 tokens (lands near 60).
        while len(tokenizer.encode(" ".join(parts)).ids) < 48:
            k += 1
            parts.append(same[k % len(same)]["text"])
        pages.append(" ".join(parts))
    return {
        "shop titles": [item["title"] for item in items],
        "shop title + description": [f"{item['title']}. {item['text']}" for item in items],
        "shop pages (~60 tokens)": pages,
    }


def is_ffn_output(node_name: str) -> bool:
    # "/m/encoder/layer.3/output/dense/MatMul", not ".../attention/output/dense/MatMul".
    return "/output/dense/" in node_name and "/attention/" not in node_name


def quantised_variant(
    fp32: Path,
    target: Path,
    *,
    exclude: Callable[[str], bool] = lambda name: False,
    matmul_only: bool = False,
    fuse: bool = False,
) -> Path:
    """Build an exploratory int8 file (per channel) from the fp32 export."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    model = onnx.load_model(fp32)
    if fuse:
        from onnxruntime.transformers import optimizer

        fused = optimizer.optimize_model(
            str(fp32), model_type="bert", num_heads=12, hidden_size=384, opt_level=0
        )
        fused_path = target.with_suffix(".fused-fp32.onnx")
        fused.save_model_to_file(str(fused_path))  # also declares the com.microsoft opset
        model = onnx.load_model(fused_path)
    excluded = [n.name for n in model.graph.node if exclude(n.name)]
    quantize_dynamic(
        model,
        target,
        op_types_to_quantize=["MatMul"] if matmul_only else ["MatMul", "Gather"],
        per_channel=True,
        weight_type=QuantType.QInt8,
        nodes_to_exclude=excluded,
        extra_options={"MatMulConstBOnly": True, "DefaultTensorType": onnx.TensorProto.FLOAT},
    )
    return target


@dataclass(frozen=True)
class Variant:
    """One encoder configuration: an ONNX file (None: the torch reference) and its options."""

    path: Path | None
    version: str
    options: dict[str, Any] = field(default_factory=dict)
    distinct_file: bool = True  # False: same numbers as another row, skip its fidelity


def variants(cache: Path, explore: bool, cells: list[int]) -> dict[str, Variant]:
    def exported(quantize: str) -> Variant:
        return Variant(export_onnx(cache, quantize=quantize), onnx_version(quantize))

    table = {
        REFERENCE: Variant(None, "torch"),
        PEER: exported("none"),
        DEFAULT: exported("int8-per-channel"),
        "onnx-int8 per-tensor": exported("int8-per-tensor"),
    }
    default = table[DEFAULT]
    for n in cells:
        table[f"int8 pc, {n} token cells per call"] = Variant(
            default.path, default.version, {"max_batch_tokens": n}, distinct_file=False
        )
    if not explore:
        return table
    fp32 = table[PEER].path
    assert fp32 is not None
    extra: dict[str, Callable[[Path], Path]] = {
        "int8 pc, MatMul only": lambda t: quantised_variant(fp32, t, matmul_only=True),
        "int8 pc, FFN out fp32": lambda t: quantised_variant(fp32, t, exclude=is_ffn_output),
        "int8 pc, BERT-fused": lambda t: quantised_variant(fp32, t, fuse=True),
    }
    for name, build in extra.items():
        target = cache / f"explore-{name.replace(' ', '_').replace(',', '')}.onnx"
        table[name] = Variant(target if target.is_file() else build(target), f"explore:{name}")
    table["int8 pc, 64 texts per call"] = Variant(
        default.path, default.version, {"max_batch_tokens": None}, distinct_file=False
    )
    table["int8 pc, spin-waiting"] = Variant(
        default.path, default.version, {"spin_wait": True}, distinct_file=False
    )
    return table


def timed(encoder: TextEncoder, texts: list[str], batch_size: int) -> tuple[float, float]:
    """Return (texts per wall second, texts per CPU second of this process).

    On a shared box the wall rate depends on what else runs; the CPU rate (all of this
    process's threads, spin-waiting included) is close to the rate on an idle core.
    """
    wall, cpu = time.perf_counter(), time.process_time()
    encoder.encode(texts, batch_size=batch_size)
    return (
        len(texts) / (time.perf_counter() - wall),
        len(texts) / max(time.process_time() - cpu, 1e-9),
    )


def neighbour_overlap(a: np.ndarray, b: np.ndarray, k: int = 10) -> float:
    """Mean share of each row's k nearest rows (cosine) that a and b agree on."""

    def top(x: np.ndarray) -> np.ndarray:
        scores = x @ x.T
        np.fill_diagonal(scores, -np.inf)
        return np.argpartition(-scores, k, axis=1)[:, :k]

    ta, tb = top(a), top(b)
    return float(np.mean([len(set(r) & set(s)) / k for r, s in zip(ta, tb, strict=True)]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="ml-100k directory")
    parser.add_argument(
        "--cache", type=Path, default=Path(tempfile.gettempdir()) / "freshrec-bench-models"
    )
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--items", type=int, default=2000, help="synthetic catalogue size")
    parser.add_argument("--short", type=int, default=2048, help="texts in the short set")
    parser.add_argument("--long", type=int, default=512, help="texts in the ~60-token set")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--explore", action="store_true")
    parser.add_argument(
        "--cells", default="", help="extra int8 rows with these max_batch_tokens, e.g. 256,512"
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    model = load_model_files()
    tokenizer = Tokenizer.from_file(str(model.directory / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.no_truncation()

    titles, with_genres = movielens_texts(args.data.resolve())
    if not titles:
        print(f"MovieLens-100K not found at {args.data}; short texts are synthetic titles only.")
    catalogue = {"ml-100k titles": titles, "ml-100k title + genres": with_genres}
    catalogue.update(catalogue_texts(args.items, tokenizer))
    catalogue = {name: texts for name, texts in catalogue.items() if texts}
    short_pool = [t for t in titles or catalogue["shop titles"] if count(tokenizer, t) <= 16]
    short = (short_pool * (args.short // len(short_pool) + 1))[: args.short]
    long = catalogue["shop pages (~60 tokens)"][: args.long]
    for name, texts in [
        *catalogue.items(),
        ("throughput: short", short),
        ("throughput: ~60", long),
    ]:
        lengths = [count(tokenizer, t) for t in texts]
        print(
            f"{name:<28} {len(texts):>6} texts, tokens median {statistics.median(lengths):.0f}"
            f" (p10 {np.percentile(lengths, 10):.0f}, p90 {np.percentile(lengths, 90):.0f},"
            f" mean {np.mean(lengths):.1f})"
        )

    cells = [int(n) for n in args.cells.split(",") if n]
    table = variants(args.cache, args.explore, cells)
    thread_counts = [int(t) for t in args.threads.split(",")]
    rows: dict[tuple[str, int], dict[str, Any]] = {}
    fidelity: dict[str, dict[str, Any]] = {}
    for threads in thread_counts:
        encoders = open_variants(model, table, threads)
        speed = measure_speed(encoders, short, long, args.batch_size, args.repeats)
        for name, row in speed.items():
            rows[(name, threads)] = row
        if threads == thread_counts[-1]:
            everything = [t for texts in catalogue.values() for t in texts]
            chosen = {n: e for n, e in encoders.items() if table[n].distinct_file}
            fidelity = measure_fidelity(chosen, everything)
            for name, values in fidelity.items():
                path = table[name].path or model.directory / "model.safetensors"
                values["size_mb"] = path.stat().st_size / 1e6

    short_tokens = float(np.mean([count(tokenizer, t) for t in short]))
    long_tokens = float(np.mean([count(tokenizer, t) for t in long]))
    ceiling = {
        "short": CEILING_GFLOPS * 1e9 / (MATMUL_FLOP_PER_TOKEN * short_tokens),
        "long": CEILING_GFLOPS * 1e9 / (MATMUL_FLOP_PER_TOKEN * long_tokens),
    }
    print(
        f"\nfp32 ceiling at {CEILING_GFLOPS:.0f} GFLOP/s ({MATMUL_FLOP_PER_TOKEN / 1e6:.1f} MFLOP/"
        f"token): short ({short_tokens:.1f} tokens) {ceiling['short']:,.0f} texts/s, ~60 "
        f"({long_tokens:.1f} tokens) {ceiling['long']:,.0f} texts/s"
    )
    print(
        "\n| variant | threads | short texts/s | x onnx-fp32 | per CPU-s | ~60-token texts/s |"
        " x onnx-fp32 | per CPU-s | GFLOP/s per CPU-s (~60) |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for (name, threads), row in rows.items():
        gflops = row["long_cpu"] * long_tokens * MATMUL_FLOP_PER_TOKEN / 1e9
        print(
            f"| {name} | {threads} | {row['short']:,.0f} | {row['short_ratio']:.2f} |"
            f" {row['short_cpu']:,.0f} | {row['long']:,.0f} | {row['long_ratio']:.2f} |"
            f" {row['long_cpu']:,.0f} | {gflops:.0f} |"
        )
    print("\n| variant | file MB | mean cosine | p1 cosine | min cosine | 10-NN overlap |")
    print("|---|---|---|---|---|---|")
    for name, f in fidelity.items():
        print(
            f"| {name} | {f['size_mb']:.1f} | {f['mean']:.4f} | {f['p1']:.4f} |"
            f" {f['min']:.4f} | {f['nn10']:.3f} |"
        )
    results: dict[str, Any] = {"texts": {n: len(t) for n, t in catalogue.items()}}
    results["fidelity"] = fidelity
    results["speed"] = {f"{n}@{t}": r for (n, t), r in rows.items()}
    results["ceiling_texts_per_s"] = ceiling
    results["tokens_per_text"] = {"short": short_tokens, "long": long_tokens}
    if args.json:
        print(json.dumps(results))
    return 0


def measure_speed(
    encoders: dict[str, TextEncoder],
    short: list[str],
    long: list[str],
    batch_size: int,
    repeats: int,
) -> dict[str, dict[str, Any]]:
    """Texts/s (medians) and median per-repeat ratios to ONNX fp32, variants interleaved."""
    for encoder in encoders.values():
        encoder.encode(short[:64], batch_size=batch_size)  # warm-up
    speed: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    names = list(encoders)
    for repeat in range(repeats):
        # Rotate the order so no variant always runs right after the slowest one.
        for name in names[repeat % len(names) :] + names[: repeat % len(names)]:
            for key, texts in (("short", short), ("long", long)):
                wall, cpu = timed(encoders[name], texts, batch_size)
                speed[name][key].append(wall)
                speed[name][f"{key}_cpu"].append(cpu)
    rows: dict[str, dict[str, Any]] = {}
    for name in names:
        row: dict[str, Any] = {}
        for key in ("short", "long"):
            runs = speed[name][key]
            row[key] = statistics.median(runs)
            row[f"{key}_ratio"] = statistics.median(
                [s / p for s, p in zip(runs, speed[PEER][key], strict=True)]
            )
            row[f"{key}_runs"] = [round(v) for v in runs]
            row[f"{key}_cpu"] = statistics.median(speed[name][f"{key}_cpu"])
        rows[name] = row
    return rows


def measure_fidelity(encoders: dict[str, TextEncoder], texts: list[str]) -> dict[str, Any]:
    """Cosine of each variant to the torch fp32 reference; 10-NN agreement on a sample."""
    want = encoders[REFERENCE].encode(texts)
    sample = slice(0, None, max(1, len(texts) // 3000))
    fidelity = {}
    for name, encoder in encoders.items():
        got = want if name == REFERENCE else encoder.encode(texts)
        cosine = (got * want).sum(axis=1)
        fidelity[name] = {
            "mean": float(cosine.mean()),
            "p1": float(np.percentile(cosine, 1)),
            "min": float(cosine.min()),
            "nn10": neighbour_overlap(got[sample], want[sample]),
            "version": encoder.version,
        }
    return fidelity


def open_variants(
    model: ModelFiles, table: dict[str, Variant], threads: int
) -> dict[str, TextEncoder]:
    encoders: dict[str, TextEncoder] = {}
    for name, variant in table.items():
        start = time.perf_counter()
        if variant.path is None:
            encoders[name] = TorchEncoder(model, threads=threads)
        else:
            encoders[name] = OnnxEncoder(
                variant.path, model, version=variant.version, threads=threads, **variant.options
            )
        print(f"opened {name} ({threads} thread(s)) in {time.perf_counter() - start:.2f} s")
    return encoders


def count(tokenizer: Tokenizer, text: str) -> int:
    return len(tokenizer.encode(text).ids)


if __name__ == "__main__":
    sys.exit(main())
