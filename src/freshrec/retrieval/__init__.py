"""Candidate retrieval: exact top-n over dense score vectors, ANN index over item vectors."""

from freshrec.retrieval.ann import VectorIndex, VectorIndexConfig, VectorIndexError
from freshrec.retrieval.topk import top_n

__all__ = ["VectorIndex", "VectorIndexConfig", "VectorIndexError", "top_n"]
