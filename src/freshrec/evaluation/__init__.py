"""Offline evaluation: ranking metrics, prequential replay, temporal split."""

from freshrec.evaluation.metrics import hit_rate, ndcg, recall
from freshrec.evaluation.replay import ReplayReport, replay

__all__ = ["ReplayReport", "hit_rate", "ndcg", "recall", "replay"]
