"""Text encoders: texts in, L2-normalised sentence embeddings out (all-MiniLM-L6-v2).

Two implementations of one protocol, picked by ``open_encoder``:

- ``OnnxEncoder``: onnxruntime on the exported model (int8 or fp32), tokenisation with the
  ``tokenizers`` library, pooling in numpy. No torch at run time: this is what serves.
- ``TorchEncoder``: sentence-transformers in fp32, the reference the others are checked
  against.

Both compute what sentence-transformers computes for this model: the mean of the token
states under the attention mask, then L2 normalisation, with texts truncated to the model's
``max_seq_length`` tokens.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import numpy.typing as npt

from freshrec.content.model_files import (
    EncoderError,
    ModelFiles,
    load_model_files,
    transformers_progress_off,
)
from freshrec.content.onnx_export import INPUT_NAMES, export_onnx, onnx_version
from freshrec.errors import ValidationError

if TYPE_CHECKING:
    import onnxruntime

FloatMatrix = npt.NDArray[np.float32]

# ONNX kinds -> the quantize argument of export_onnx.
_ONNX_KINDS = {"onnx-int8": "int8-per-channel", "onnx-fp32": "none"}
ENCODER_KINDS = ("onnx-int8", "onnx-fp32", "torch-fp32")
DEFAULT_ENCODER_KIND = "onnx-int8"
# Texts tokenised (and length-sorted) together: large enough that sorting removes most
# padding, small enough that a bulk encode does not hold every tokenisation at once.
_CHUNK_BATCHES = 16
# Token cells (rows x longest row) per onnxruntime call: past this the activations outgrow
# the per-core cache. On the 2-core box int8 at ~60 tokens ran 1.3-1.5x faster with 256-512
# cells per call than with whole 64-text batches (~3,600 cells), titles about the same or
# 1.1x (docs/benchmarks.md).
DEFAULT_MAX_BATCH_TOKENS = 384


class UnknownEncoderError(EncoderError, ValueError):
    """``open_encoder`` was asked for a kind it does not know."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind

    def __str__(self) -> str:
        return f"unknown encoder kind {self.kind!r}; known: {', '.join(ENCODER_KINDS)}"


class TextEncoder(Protocol):
    """Turns texts into unit vectors; ``version`` changes whenever the numbers would.

    ``name``, ``version`` and ``dim`` are read-only: plain attributes and properties (a lazy
    wrapper's) both satisfy the protocol.
    """

    @property
    def name(self) -> str:
        """The model, e.g. ``"all-MiniLM-L6-v2"``."""
        ...

    @property
    def version(self) -> str:
        """Weights digest, precision and export settings: ``"onnx-int8-per-channel-1+<hash>"``.

        Stored embeddings made under another version are stale.
        """
        ...

    @property
    def dim(self) -> int:
        """Embedding width."""
        ...

    def encode(
        self, texts: Sequence[str], *, batch_size: int = 64, progress: bool = False
    ) -> FloatMatrix:
        """Return shape [len(texts), dim] float32, rows L2-normalised, in input order.

        An empty text still gets a unit vector (the model reads only its special tokens).
        ``progress`` shows a progress bar (for bulk encodes).
        """
        ...


def open_encoder(
    kind: str = DEFAULT_ENCODER_KIND,
    *,
    cache_dir: Path,
    threads: int = 1,
    model_dir: Path | None = None,
) -> TextEncoder:
    """Return a loaded encoder of ``kind``, exporting the ONNX file into ``cache_dir`` if needed.

    Args:
        kind: ``"onnx-int8"`` (default: per-channel int8, no torch at run time),
            ``"onnx-fp32"`` or ``"torch-fp32"`` (the sentence-transformers reference).
        cache_dir: where exported ONNX files are kept (unused by ``torch-fp32``).
        threads: CPU threads for one encode call (onnxruntime intra-op threads; for torch,
            ``torch.set_num_threads``, which is process-wide).
        model_dir: a sentence-transformers model directory (default: the bundled model).

    Raises:
        UnknownEncoderError: ``kind`` is not one of ``ENCODER_KINDS``.
        EncoderError: the model is missing or could not be exported or loaded.

    Example:
        >>> open_encoder("onnx-int4", cache_dir=Path("unused"))
        Traceback (most recent call last):
        ...
        freshrec.content.encoder.UnknownEncoderError: unknown encoder kind 'onnx-int4'; ...
    """
    if kind not in ENCODER_KINDS:
        raise UnknownEncoderError(kind)
    if threads < 1:
        raise EncoderError(f"threads must be at least 1, got {threads}")
    files = load_model_files(model_dir)
    if kind == "torch-fp32":
        return TorchEncoder(files, threads=threads)
    quantize = _ONNX_KINDS[kind]
    path = export_onnx(cache_dir, quantize=quantize, model_dir=files.directory)
    return OnnxEncoder(path, files, version=onnx_version(quantize, files), threads=threads)


class OnnxEncoder:
    """all-MiniLM-L6-v2 on onnxruntime; imports neither torch nor sentence-transformers.

    Each call tokenises up to 16 batches of texts at a time, groups them by token count so
    a batch pads little (``length_batches``), runs the batches and writes each row back to
    its input position. One instance may serve several threads at once (the session and
    the tokenizer are never mutated after construction).

    Args:
        model_path: an ONNX file from ``export_onnx``.
        files: the model it was exported from (tokenizer, width, truncation length).
        version: the version string to report (see ``onnx_version``).
        threads: onnxruntime intra-op threads (inter-op is 1: the graph is a chain).
        max_batch_tokens: token cells per onnxruntime call (``None``: only ``batch_size``
            limits a batch); results do not depend on it beyond int8 rounding.
        spin_wait: let idle intra-op threads spin. Off by default: when other work shares
            the cores (the engine's own threads, other processes) spinning threads steal
            their time; with 2 threads on a shared box it halved throughput.
    """

    def __init__(
        self,
        model_path: Path,
        files: ModelFiles,
        *,
        version: str,
        threads: int = 1,
        max_batch_tokens: int | None = DEFAULT_MAX_BATCH_TOKENS,
        spin_wait: bool = False,
    ) -> None:
        try:
            import onnxruntime
            from tokenizers import Tokenizer
        except ImportError as exc:
            raise EncoderError("the ONNX encoder needs onnxruntime and tokenizers") from exc
        self.name = files.name
        self.version = version
        self.dim = files.dim
        self.model_path = Path(model_path)
        self.max_batch_tokens = max_batch_tokens
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.add_session_config_entry("session.intra_op.allow_spinning", str(int(spin_wait)))
        try:
            self._session: onnxruntime.InferenceSession = onnxruntime.InferenceSession(
                str(self.model_path), options, providers=["CPUExecutionProvider"]
            )
            tokenizer = Tokenizer.from_file(str(files.directory / "tokenizer.json"))
        except Exception as exc:
            raise EncoderError(f"cannot load {self.model_path}: {exc}") from exc
        # tokenizer.json pads and truncates to 128; the model reads up to max_seq_length
        # tokens (sentence_bert_config.json), and padding is done per batch below.
        tokenizer.no_padding()
        tokenizer.enable_truncation(max_length=files.max_seq_length)
        self._tokenizer = tokenizer
        inputs = {i.name for i in self._session.get_inputs()}
        if inputs != set(INPUT_NAMES):
            expected = ", ".join(INPUT_NAMES)
            raise EncoderError(f"{self.model_path}: inputs {sorted(inputs)}, expected {expected}")
        self._output = self._session.get_outputs()[0].name

    def encode(
        self, texts: Sequence[str], *, batch_size: int = 64, progress: bool = False
    ) -> FloatMatrix:
        """Return shape [len(texts), dim] float32, rows L2-normalised, in input order."""
        texts = _checked(texts, batch_size)
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        chunk = batch_size * _CHUNK_BATCHES
        with _progress_bar(len(texts), self.name, progress) as advance:
            for start in range(0, len(texts), chunk):
                encodings = self._tokenizer.encode_batch_fast(texts[start : start + chunk])
                ids = [e.ids for e in encodings]
                lengths = [len(row) for row in ids]
                for rows in length_batches(lengths, batch_size, self.max_batch_tokens):
                    out[start + rows] = self._run([ids[r] for r in rows])
                    advance(len(rows))
        return out

    def _run(self, ids: list[list[int]]) -> FloatMatrix:
        width = max(len(row) for row in ids)
        input_ids = np.zeros((len(ids), width), dtype=np.int64)
        mask = np.zeros((len(ids), width), dtype=np.int64)
        for k, row in enumerate(ids):
            input_ids[k, : len(row)] = row
            mask[k, : len(row)] = 1
        feed = {"input_ids": input_ids, "attention_mask": mask}
        hidden = self._session.run([self._output], feed)[0]
        return mean_pool_normalise(hidden, mask)


class TorchEncoder:
    """The sentence-transformers reference in fp32 (imports torch when constructed).

    Args:
        files: the model directory to load (offline: ``local_files_only``).
        threads: ``torch.set_num_threads`` (process-wide: torch has one pool).
    """

    def __init__(self, files: ModelFiles, *, threads: int = 1) -> None:
        try:
            import torch
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise EncoderError("torch-fp32 needs torch and sentence-transformers") from exc
        torch.set_num_threads(threads)
        self.name = files.name
        self.version = f"torch-fp32+{files.short_digest}"
        self.dim = files.dim
        try:
            with transformers_progress_off():
                self._model: Any = SentenceTransformer(
                    str(files.directory), device="cpu", local_files_only=True
                )
        except Exception as exc:
            raise EncoderError(f"cannot load {files.directory}: {exc}") from exc
        self._model.max_seq_length = files.max_seq_length

    def encode(
        self, texts: Sequence[str], *, batch_size: int = 64, progress: bool = False
    ) -> FloatMatrix:
        """Return shape [len(texts), dim] float32, rows L2-normalised, in input order."""
        texts = _checked(texts, batch_size)
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        chunk = batch_size * _CHUNK_BATCHES
        with _progress_bar(len(texts), self.name, progress) as advance:
            for start in range(0, len(texts), chunk):
                part = texts[start : start + chunk]
                # sentence-transformers sorts by length inside one call, like OnnxEncoder.
                out[start : start + len(part)] = self._model.encode(
                    part,
                    batch_size=batch_size,
                    convert_to_numpy=True,
                    normalize_embeddings=True,
                    show_progress_bar=False,
                )
                advance(len(part))
        return out


def length_batches(
    lengths: Sequence[int], batch_size: int, max_tokens: int | None = None
) -> Iterator[npt.NDArray[np.intp]]:
    """Yield positions of texts to run together, shortest first, at most ``batch_size`` each.

    A batch also ends before a text that would make padding more than half of its cells,
    so one long text does not make a batch of short ones pay for its length, or that would
    make it more than ``max_tokens`` cells (rows x longest row; a single text may exceed
    it). Every position appears exactly once.

    Example:
        >>> [b.tolist() for b in length_batches([9, 3, 3, 100, 4, 5], batch_size=3)]
        [[1, 2, 4], [5, 0], [3]]
        >>> [b.tolist() for b in length_batches([9, 3, 3, 100, 4, 5], 3, max_tokens=10)]
        [[1, 2], [4, 5], [0], [3]]
    """
    order = np.argsort(lengths, kind="stable")
    budget = max_tokens if max_tokens is not None else np.inf
    start, real = 0, 0
    for k, row in enumerate(order):
        taken, length = k - start, int(lengths[row])
        cells = length * (taken + 1)
        if taken and (taken == batch_size or cells > 2 * (real + length) or cells > budget):
            yield order[start:k]
            start, real = k, 0
        real += length
    if start < len(order):
        yield order[start:]


def mean_pool_normalise(hidden: npt.NDArray[Any], mask: npt.NDArray[Any]) -> FloatMatrix:
    """Return the masked mean of token states, L2-normalised, as sentence-transformers does.

    Args:
        hidden: token states, shape [batch, seq, dim].
        mask: 1 for real tokens, 0 for padding, shape [batch, seq].

    Returns:
        Shape [batch, dim] float32 with unit rows (a zero row stays zero).

    Example:
        >>> hidden = np.array([[[3.0, 0.0], [1.0, 4.0], [9.0, 9.0]]])
        >>> pooled = mean_pool_normalise(hidden, np.array([[1, 1, 0]]))  # mean (2, 2)
        >>> pooled.dtype, pooled.astype(float).round(3).tolist()
        (dtype('float32'), [[0.707, 0.707]])
    """
    weights = mask.astype(np.float32)[:, :, None]
    summed = (hidden.astype(np.float32) * weights).sum(axis=1)
    # The reference clamps the token count at 1e-9 and the norm at 1e-12.
    pooled = summed / np.maximum(weights.sum(axis=1), 1e-9)
    norms = np.linalg.norm(pooled, axis=1, keepdims=True)
    result: FloatMatrix = (pooled / np.maximum(norms, 1e-12)).astype(np.float32)
    return result


def _checked(texts: Sequence[str], batch_size: int) -> list[str]:
    if batch_size < 1:
        raise ValidationError(f"must be at least 1, got {batch_size}", field="batch_size")
    if isinstance(texts, str):  # a bare string would be encoded character by character
        raise ValidationError("expected a sequence of strings, got one string", field="texts")
    return list(texts)


@contextlib.contextmanager
def _progress_bar(total: int, name: str, enabled: bool) -> Iterator[Callable[[int], None]]:
    if not enabled or total == 0:
        yield lambda _: None
        return
    from rich.progress import Progress  # only bulk encodes show a bar

    with Progress(transient=True) as bar:
        task = bar.add_task(f"encoding {total:,} texts ({name})", total=total)
        yield lambda done: bar.advance(task, done)
