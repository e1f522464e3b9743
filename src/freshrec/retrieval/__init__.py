"""Candidate retrieval: exact top-n over dense score vectors."""

from freshrec.retrieval.topk import top_n

__all__ = ["top_n"]
