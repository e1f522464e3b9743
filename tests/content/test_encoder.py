"""The language-model text encoders: fidelity between precisions, invariants, export cache.

One session fixture exports the model once (fp32 + int8 per channel) into a temporary cache;
the torch reference is loaded once. Nothing here reads the network or the user's cache.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from freshrec.content import (
    ENCODER_KINDS,
    EncoderError,
    OnnxEncoder,
    TextEncoder,
    TorchEncoder,
    UnknownEncoderError,
    export_onnx,
    length_batches,
    load_model_files,
    onnx_export,
    onnx_version,
    open_encoder,
)
from freshrec.errors import FreshrecError, ValidationError
from freshrec.simulate import ShopConfig, SyntheticShop

MOVIES = [
    "Toy Story (1995)",
    "GoldenEye (1995)",
    "Twelve Monkeys (1995)",
    "Usual Suspects, The (1995)",
    "Shawshank Redemption, The (1994)",
    "Wallace & Gromit: The Best of Aardman Animation (1996)",
    "Star Wars (1977). Genres: Action, Adventure, Romance, Sci-Fi, War.",
    "Fargo (1996). Genres: Crime, Drama, Thriller.",
    "Amélie (2001) — a whimsical café waitress in Montmartre",
    "東京物語 (1953)",
]
# Over max_seq_length (256) tokens: both implementations must truncate the same way.
LONG = "A very long product description that keeps going. " * 60


@pytest.fixture(scope="session")
def texts() -> list[str]:
    shop = SyntheticShop(ShopConfig(n_users=10, n_items=40, n_events=0, seed=3))
    items = list(shop.items())[:20]
    catalogue = [item["title"] for item in items[:10]]
    catalogue += [f"{item['title']}. {item['text']}" for item in items[10:]]
    return [*MOVIES, *catalogue, LONG, "", "shoes", "   "]


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cache = tmp_path_factory.mktemp("models")
    export_onnx(cache, quantize="int8-per-channel")  # writes the fp32 file on the way
    return cache


@pytest.fixture(scope="session")
def onnx_int8(cache_dir: Path) -> TextEncoder:
    return open_encoder("onnx-int8", cache_dir=cache_dir)


@pytest.fixture(scope="session")
def onnx_fp32(cache_dir: Path) -> TextEncoder:
    return open_encoder("onnx-fp32", cache_dir=cache_dir)


@pytest.fixture(scope="session")
def torch_fp32(cache_dir: Path) -> TextEncoder:
    return open_encoder("torch-fp32", cache_dir=cache_dir)


def rowwise_cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def test_fp32_onnx_matches_sentence_transformers(
    onnx_fp32: TextEncoder, torch_fp32: TextEncoder, texts: list[str]
) -> None:
    # batch_size 4 after sorting gives unpadded and padded batches, and one truncated text.
    got = onnx_fp32.encode(texts, batch_size=4)
    want = torch_fp32.encode(texts, batch_size=4)
    assert rowwise_cosine(got, want).min() > 0.9999


def test_int8_stays_close_to_fp32(
    onnx_int8: TextEncoder, onnx_fp32: TextEncoder, texts: list[str]
) -> None:
    cosine = rowwise_cosine(onnx_int8.encode(texts), onnx_fp32.encode(texts))
    assert cosine.mean() >= 0.99
    assert cosine.min() >= 0.95


@pytest.mark.parametrize("kind", ENCODER_KINDS)
def test_rows_are_float32_unit_vectors(
    kind: str, request: pytest.FixtureRequest, texts: list[str]
) -> None:
    encoder: TextEncoder = request.getfixturevalue(kind.replace("-", "_"))
    vectors = encoder.encode(texts)
    assert encoder.name == "all-MiniLM-L6-v2"
    assert vectors.shape == (len(texts), encoder.dim) == (len(texts), 384)
    assert vectors.dtype == np.float32
    assert np.all(np.isfinite(vectors))
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


@pytest.mark.parametrize("kind", ENCODER_KINDS)
def test_no_texts_gives_an_empty_matrix(kind: str, request: pytest.FixtureRequest) -> None:
    encoder: TextEncoder = request.getfixturevalue(kind.replace("-", "_"))
    assert encoder.encode([]).shape == (0, 384)


def test_order_survives_length_sorting(onnx_fp32: TextEncoder, texts: list[str]) -> None:
    # Shuffled lengths, small batches: every row must be the text's own vector.
    mixed = [texts[i] for i in np.random.default_rng(0).permutation(len(texts))]
    together = onnx_fp32.encode(mixed, batch_size=3)
    alone = np.vstack([onnx_fp32.encode([text]) for text in mixed])
    np.testing.assert_allclose(together, alone, atol=1e-5)


@given(
    lengths=st.lists(st.integers(2, 256), max_size=200),
    batch_size=st.integers(1, 70),
    max_tokens=st.none() | st.integers(1, 2000),
)
def test_length_batches_cover_every_text_once_within_limits(
    lengths: list[int], batch_size: int, max_tokens: int | None
) -> None:
    batches = [b.tolist() for b in length_batches(lengths, batch_size, max_tokens)]
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    for batch in batches:
        widths = [lengths[i] for i in batch]
        assert 1 <= len(batch) <= batch_size
        assert widths == sorted(widths)
        if len(batch) > 1:
            cells = len(batch) * max(widths)
            assert cells <= 2 * sum(widths)  # padding at most half the cells
            assert max_tokens is None or cells <= max_tokens


def test_batching_limits_do_not_change_fp32_vectors(cache_dir: Path, texts: list[str]) -> None:
    files = load_model_files()
    path = export_onnx(cache_dir, quantize="none")
    whole = OnnxEncoder(path, files, version="v", max_batch_tokens=None)
    small = OnnxEncoder(path, files, version="v", max_batch_tokens=64, spin_wait=True)
    np.testing.assert_allclose(whole.encode(texts), small.encode(texts, batch_size=7), atol=1e-5)


def test_int8_rows_belong_to_their_texts(onnx_int8: TextEncoder, texts: list[str]) -> None:
    # int8 activations are quantised per batch, so batching changes the numbers slightly;
    # each row must still be nearest to its own text's single encoding.
    distinct = sorted(set(texts) - {"   "}, key=len)  # "   " and "" tokenise alike
    together = onnx_int8.encode(distinct, batch_size=5)
    alone = np.vstack([onnx_int8.encode([text]) for text in distinct])
    assert (together @ alone.T).argmax(axis=1).tolist() == list(range(len(distinct)))


def test_empty_text_is_a_valid_vector(
    onnx_int8: TextEncoder, onnx_fp32: TextEncoder, torch_fp32: TextEncoder
) -> None:
    # Only [CLS] [SEP] reach the model; the reference still returns a unit vector.
    want = torch_fp32.encode([""])
    fp32 = onnx_fp32.encode(["", "a real sentence about jazz"])[:1]
    int8 = onnx_int8.encode(["", "a real sentence about jazz"])[:1]
    assert rowwise_cosine(fp32, want)[0] > 0.9999
    assert np.linalg.norm(int8) == pytest.approx(1.0, abs=1e-5)
    # Two tokens is where int8 is least faithful (0.975 measured).
    assert rowwise_cosine(int8, want)[0] > 0.95


def test_progress_bar_gives_the_same_vectors(onnx_fp32: TextEncoder, texts: list[str]) -> None:
    np.testing.assert_array_equal(
        onnx_fp32.encode(texts, progress=True), onnx_fp32.encode(texts, progress=False)
    )


def test_threads_do_not_change_the_answer(cache_dir: Path, texts: list[str]) -> None:
    one = open_encoder("onnx-fp32", cache_dir=cache_dir, threads=1).encode(texts)
    two = open_encoder("onnx-fp32", cache_dir=cache_dir, threads=2).encode(texts)
    np.testing.assert_allclose(one, two, atol=1e-5)


def test_unknown_kind_is_a_named_error(tmp_path: Path) -> None:
    with pytest.raises(UnknownEncoderError, match="'onnx-int4'; known: onnx-int8") as caught:
        open_encoder("onnx-int4", cache_dir=tmp_path)
    assert isinstance(caught.value, EncoderError)
    assert isinstance(caught.value, FreshrecError)
    assert list(tmp_path.iterdir()) == []  # nothing exported for a bad kind


def test_bad_arguments_are_named_errors(onnx_int8: TextEncoder, tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="batch_size"):
        onnx_int8.encode(["x"], batch_size=0)
    with pytest.raises(ValidationError, match="one string"):
        onnx_int8.encode("a bare string")
    with pytest.raises(EncoderError, match="threads"):
        open_encoder("onnx-int8", cache_dir=tmp_path, threads=0)
    with pytest.raises(EncoderError, match="unknown quantization"):
        export_onnx(tmp_path, quantize="int4")
    with pytest.raises(EncoderError, match="model files missing"):
        open_encoder("onnx-int8", cache_dir=tmp_path, model_dir=tmp_path / "nowhere")


def test_version_names_precision_and_weights(
    onnx_int8: TextEncoder, onnx_fp32: TextEncoder, torch_fp32: TextEncoder, cache_dir: Path
) -> None:
    files = load_model_files()
    versions = {
        onnx_version("int8-per-channel"),
        onnx_version("int8-per-tensor"),
        onnx_version("none"),
        torch_fp32.version,
    }
    assert len(versions) == 4
    assert onnx_int8.version == f"onnx-int8-per-channel-1+{files.short_digest}"
    assert onnx_fp32.version == f"onnx-fp32-1+{files.short_digest}"
    assert torch_fp32.version == f"torch-fp32+{files.short_digest}"
    assert isinstance(torch_fp32, TorchEncoder)
    assert isinstance(onnx_int8, OnnxEncoder)
    paths = {onnx_export.onnx_path(cache_dir, q, files) for q in onnx_export.QUANTIZATIONS}
    assert len(paths) == len(onnx_export.QUANTIZATIONS)


def test_a_changed_model_changes_version_and_file(tmp_path: Path, cache_dir: Path) -> None:
    # Same weights (linked), another truncation length: embeddings differ, so must versions.
    source = load_model_files().directory
    changed = tmp_path / "model"
    for path in source.rglob("*"):
        if path.is_file():
            target = changed / path.relative_to(source)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to(path)
    config = changed / "sentence_bert_config.json"
    config.unlink()
    config.write_text('{"max_seq_length": 128, "do_lower_case": false}')
    original, other = load_model_files(), load_model_files(changed)
    assert other.max_seq_length == 128
    assert other.digest != original.digest
    assert onnx_version("int8-per-channel", other) != onnx_version("int8-per-channel", original)
    assert onnx_export.onnx_path(cache_dir, "none", other) != onnx_export.onnx_path(
        cache_dir, "none", original
    )


def test_existing_export_is_reused(cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = {p.name: p.stat().st_mtime_ns for p in cache_dir.glob("*.onnx")}

    def fail(*args: object) -> None:
        raise AssertionError("exported again")

    monkeypatch.setattr(onnx_export, "_export_fp32", fail)
    monkeypatch.setattr(onnx_export, "_quantize", fail)
    path = export_onnx(cache_dir, quantize="int8-per-channel")
    assert export_onnx(cache_dir, quantize="none").name in before
    assert path.name in before
    assert {p.name: p.stat().st_mtime_ns for p in cache_dir.glob("*.onnx")} == before


def test_failed_export_leaves_no_file(tmp_path: Path) -> None:
    target = tmp_path / "model.onnx"

    def half_written(path: Path) -> None:
        path.write_bytes(b"partial")
        raise RuntimeError("disk full")

    with pytest.raises(EncoderError, match="disk full"):
        onnx_export._publish(target, half_written)
    assert list(tmp_path.iterdir()) == []


def run_python(code: str, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )


def test_onnx_path_never_imports_torch(cache_dir: Path, tmp_path: Path) -> None:
    process = run_python(
        f"""
        import sys
        from pathlib import Path
        from freshrec.content import open_encoder
        encoder = open_encoder("onnx-int8", cache_dir=Path({str(cache_dir)!r}))
        vectors = encoder.encode(["red running shoes", ""])
        assert vectors.shape == (2, 384), vectors.shape
        loaded = sorted(m for m in ("torch", "sentence_transformers", "transformers")
                        if m in sys.modules)
        print("loaded:", loaded)
        """,
        tmp_path,
    )
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    assert out.strip() == "loaded: []"


def test_concurrent_exports_publish_one_whole_file(cache_dir: Path, tmp_path: Path) -> None:
    # Two processes quantise into the same fresh cache at once (the fp32 file is already
    # there, linked in, so neither needs torch); both must end with the same valid file.
    shared = tmp_path / "cache"
    shared.mkdir()
    for fp32 in cache_dir.glob("*-fp32-*.onnx"):
        os.link(fp32, shared / fp32.name)
    code = f"""
        from pathlib import Path
        from freshrec.content import export_onnx
        print(export_onnx(Path({str(shared)!r}), quantize="int8-per-tensor"))
        """
    processes = [run_python(code, tmp_path) for _ in range(2)]
    results = [p.communicate(timeout=120) for p in processes]
    assert [p.returncode for p in processes] == [0, 0], [err for _, err in results]
    paths = {out.strip() for out, _ in results}
    assert len(paths) == 1
    assert sorted(p.name for p in shared.iterdir() if p.name.endswith(".tmp")) == []
    files = load_model_files()
    encoder = OnnxEncoder(Path(paths.pop()), files, version=onnx_version("int8-per-tensor", files))
    assert encoder.encode(["still loads"]).shape == (1, 384)
