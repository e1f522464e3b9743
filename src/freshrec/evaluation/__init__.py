"""Offline evaluation: ranking metrics, prequential replay, temporal split."""

from freshrec.evaluation.metrics import hit_rate, ndcg, recall
from freshrec.evaluation.replay import ReplayReport, replay
from freshrec.evaluation.split import temporal_split_evaluate

__all__ = ["ReplayReport", "hit_rate", "ndcg", "recall", "replay", "temporal_split_evaluate"]
