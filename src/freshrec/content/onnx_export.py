"""Export the language model to ONNX once, and compress it to int8, into a cache directory.

Only the export needs torch; serving then runs the file with onnxruntime alone. The
transformer is exported (token ids and mask in, last hidden states out); pooling and
normalisation stay in numpy, where they are a few lines and exactly the reference's.

Compression is ONNX Runtime's dynamic quantisation: int8 weights for every MatMul with a
constant weight and for the embedding tables, activations quantised per batch at run time.
Per-channel weight scales keep the embeddings close to fp32 (mean cosine 0.993 to the fp32
reference on the benchmark catalogue, against 0.961 per tensor, at the same speed;
docs/benchmarks.md).

Files are named by a hash of the model digest and every setting that changes the numbers, so
a new model or setting exports a new file and never reads a stale one. Each file is written
to a temporary name in the same directory and renamed into place, so a reader sees a whole
file or none, and processes exporting at the same time each publish a complete file (the
last rename wins; the contents are the same).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import warnings
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from freshrec.content.model_files import (
    EncoderError,
    ModelFiles,
    load_model_files,
    transformers_progress_off,
)

# Bump when the export or quantisation code changes the numbers: every version string and
# file name changes with it, so stored embeddings are re-encoded.
EXPORT_REVISION = 1
OPSET = 17
INPUT_NAMES = ("input_ids", "attention_mask")
OUTPUT_NAME = "last_hidden_state"


@dataclass(frozen=True, slots=True)
class Quantization:
    """Settings of ONNX Runtime's dynamic quantisation (weights int8, symmetric).

    Attributes:
        per_channel: one scale per output column of each weight matrix (else per tensor).
        reduce_range: 7-bit weights; only helps CPUs without VNNI, where u8 x s8 products
            can saturate. Off: it cost fidelity here (mean cosine 0.9915 against 0.9924 on
            a trial set) and the development machine has VNNI.
        op_types: operators whose constant inputs are quantised; Gather covers the token
            embedding table (58 -> 23 MB on disk at no measurable fidelity cost).
    """

    per_channel: bool
    reduce_range: bool = False
    op_types: tuple[str, ...] = ("MatMul", "Gather")


# None: the fp32 export itself.
QUANTIZATIONS: dict[str, Quantization | None] = {
    "none": None,
    "int8-per-channel": Quantization(per_channel=True),
    "int8-per-tensor": Quantization(per_channel=False),
}


def onnx_version(quantize: str = "int8-per-channel", files: ModelFiles | None = None) -> str:
    """Return the encoder version of an ONNX export: precision, revision and model digest.

    Raises:
        EncoderError: ``quantize`` is not one of ``QUANTIZATIONS``, or the model is missing.

    Example:
        >>> onnx_version("int8-per-channel")
        'onnx-int8-per-channel-1+...'
        >>> onnx_version("none")
        'onnx-fp32-1+...'
    """
    _settings(quantize)
    files = load_model_files() if files is None else files
    precision = "fp32" if quantize == "none" else quantize
    return f"onnx-{precision}-{EXPORT_REVISION}+{files.short_digest}"


def onnx_path(cache_dir: Path, quantize: str, files: ModelFiles) -> Path:
    """Return where the export for these settings lives (whether or not it exists yet)."""
    settings = _settings(quantize)
    key = json.dumps(
        {
            "digest": files.digest,
            "revision": EXPORT_REVISION,
            "opset": OPSET,
            "quantization": None if settings is None else asdict(settings),
        },
        sort_keys=True,
    )
    tag = hashlib.sha256(key.encode()).hexdigest()[:16]
    precision = "fp32" if quantize == "none" else quantize
    return Path(cache_dir) / f"{files.name}-{precision}-{tag}.onnx"


def export_onnx(
    cache_dir: Path, *, quantize: str = "int8-per-channel", model_dir: Path | None = None
) -> Path:
    """Return the path of the ONNX model for ``quantize``, exporting it first if needed.

    An existing file is reused as it is (files appear only whole, by rename). The fp32 export
    is kept beside the int8 one: ``onnx-fp32`` runs it, and a new quantisation setting starts
    from it without torch.

    Args:
        cache_dir: directory for exported files (created if missing).
        quantize: a key of ``QUANTIZATIONS``: ``"int8-per-channel"``, ``"int8-per-tensor"``
            or ``"none"`` (fp32).
        model_dir: the sentence-transformers model directory (default: the bundled model).

    Returns:
        Path to the ``.onnx`` file: inputs ``input_ids`` and ``attention_mask`` (int64,
        shape [batch, seq]), output ``last_hidden_state`` (float32, [batch, seq, dim]).

    Raises:
        EncoderError: unknown ``quantize``, the model is missing, or the export failed
            (torch or transformers missing, or an error inside them).
    """
    settings = _settings(quantize)
    files = load_model_files(model_dir)
    cache_dir = Path(cache_dir)
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise EncoderError(f"cannot create the model cache {cache_dir}: {exc}") from exc
    target = onnx_path(cache_dir, quantize, files)
    if target.is_file():
        return target
    fp32 = onnx_path(cache_dir, "none", files)
    if not fp32.is_file():
        _publish(fp32, lambda tmp: _export_fp32(files, tmp))
    if settings is not None:
        _publish(target, lambda tmp: _quantize(fp32, tmp, settings))
    return target


def _settings(quantize: str) -> Quantization | None:
    if quantize not in QUANTIZATIONS:
        known = ", ".join(QUANTIZATIONS)
        raise EncoderError(f"unknown quantization {quantize!r}; known: {known}")
    return QUANTIZATIONS[quantize]


def _publish(target: Path, write: Callable[[Path], None]) -> None:
    """Run ``write`` into a fresh temporary file beside ``target``, then rename it into place.

    The temporary name is unique per call, so concurrent writers never share a file; the
    rename is atomic on one filesystem, so ``target`` is always absent or complete.
    """
    try:
        handle, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    except OSError as exc:
        raise EncoderError(f"cannot write to the model cache {target.parent}: {exc}") from exc
    os.close(handle)
    tmp = Path(name)
    try:
        write(tmp)
        tmp.chmod(0o644)  # mkstemp makes it private; the cache may be shared by users
        os.replace(tmp, target)
    except EncoderError:
        raise
    except Exception as exc:
        raise EncoderError(f"exporting {target.name} failed: {exc}") from exc
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def _export_fp32(files: ModelFiles, target: Path) -> None:
    try:
        import torch
        from transformers import AutoModel
    except ImportError as exc:
        raise EncoderError(
            "exporting the ONNX model needs torch and transformers (once per model); "
            "install them or copy an exported file into the cache directory"
        ) from exc

    class HiddenStates(torch.nn.Module):
        def __init__(self, model: Any) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            return self.model(input_ids=input_ids, attention_mask=attention_mask)[0]

    model = _load_quietly(AutoModel, files.directory)
    # The example has padding, so the traced mask arithmetic is the general one.
    input_ids = torch.tensor([[101, 7592, 2088, 102], [101, 7592, 102, 0]], dtype=torch.int64)
    attention_mask = (input_ids != 0).to(torch.int64)
    axes = {0: "batch", 1: "sequence"}
    with torch.no_grad(), _quiet_export_warnings(torch.jit.TracerWarning):
        torch.onnx.export(
            HiddenStates(model),
            (input_ids, attention_mask),
            str(target),
            dynamo=False,  # the TorchScript exporter needs no onnxscript
            input_names=list(INPUT_NAMES),
            output_names=[OUTPUT_NAME],
            dynamic_axes={name: axes for name in (*INPUT_NAMES, OUTPUT_NAME)},
            opset_version=OPSET,
            do_constant_folding=True,
        )


def _load_quietly(auto_model: Any, directory: Path) -> Any:
    """Load the transformer in eval mode, offline, without transformers' progress bar."""
    with transformers_progress_off():
        # Eager attention: the SDPA path may drop the mask when a traced example has no
        # padding, and the trace would keep that choice for every input.
        return auto_model.from_pretrained(
            str(directory), attn_implementation="eager", local_files_only=True
        ).eval()


@contextlib.contextmanager
def _quiet_export_warnings(tracer_warning: type[Warning]) -> Iterator[None]:
    # The legacy exporter's deprecation notice, its note on indexing, and the tracer's note
    # on shape arithmetic in transformers' mask code (a padding length that is always 0
    # here). That the trace generalises is pinned by the tests: fp32 ONNX equals torch on
    # padded, unpadded and truncated batches.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", tracer_warning)
        yield


def _quantize(source: Path, target: Path, settings: Quantization) -> None:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # Given a path, the quantiser writes "<source>-inferred.onnx" beside the source and
    # deletes it, so two processes quantising the same fp32 file collide; given the loaded
    # model it works in a private temporary directory.
    quantize_dynamic(
        onnx.load_model(source),
        target,
        op_types_to_quantize=list(settings.op_types),
        per_channel=settings.per_channel,
        reduce_range=settings.reduce_range,
        weight_type=QuantType.QInt8,
        extra_options={"MatMulConstBOnly": True},
    )
