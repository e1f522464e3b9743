"""Candidate sources: the protocol every blend input implements, and the registry of them."""

from freshrec.sources.base import Asker, CandidateSource, blend_source

__all__ = ["Asker", "CandidateSource", "blend_source"]
