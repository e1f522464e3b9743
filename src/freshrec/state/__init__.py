"""Online state updated inside every ingest call: ids, histories, counters."""

from freshrec.state.histories import UserHistories
from freshrec.state.popularity import DecayedPopularity
from freshrec.state.vocabulary import IdVocabulary

__all__ = ["DecayedPopularity", "IdVocabulary", "UserHistories"]
