"""Background retraining, model versions and promotion."""

from freshrec.training.artifacts import ModelArtifact
from freshrec.training.trainer import BackgroundTrainer, fit_batch_models

__all__ = ["BackgroundTrainer", "ModelArtifact", "fit_batch_models"]
