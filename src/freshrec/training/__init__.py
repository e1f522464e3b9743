"""Background retraining, model versions and promotion."""

from freshrec.training.artifacts import ModelArtifact
from freshrec.training.trainer import BackgroundTrainer, BatchWeights, fit_batch_models

__all__ = ["BackgroundTrainer", "BatchWeights", "ModelArtifact", "fit_batch_models"]
