"""Content understanding: language-model text encoders, embeddings, fusion of modalities.

The text encoder API lives here; the engine-facing pieces (embedding tables, the indexer,
fusion) are in their own modules.
"""

from freshrec.content.encoder import (
    DEFAULT_ENCODER_KIND,
    DEFAULT_MAX_BATCH_TOKENS,
    ENCODER_KINDS,
    OnnxEncoder,
    TextEncoder,
    TorchEncoder,
    UnknownEncoderError,
    length_batches,
    mean_pool_normalise,
    open_encoder,
)
from freshrec.content.model_files import EncoderError, ModelFiles, load_model_files
from freshrec.content.onnx_export import QUANTIZATIONS, Quantization, export_onnx, onnx_version

__all__ = [
    "DEFAULT_ENCODER_KIND",
    "DEFAULT_MAX_BATCH_TOKENS",
    "ENCODER_KINDS",
    "QUANTIZATIONS",
    "EncoderError",
    "ModelFiles",
    "OnnxEncoder",
    "Quantization",
    "TextEncoder",
    "TorchEncoder",
    "UnknownEncoderError",
    "export_onnx",
    "length_batches",
    "load_model_files",
    "mean_pool_normalise",
    "onnx_version",
    "open_encoder",
]
