"""Measurement: served lists, attribution, online metrics and experiments."""

from freshrec.measurement.answering import Answer, Answering
from freshrec.measurement.experiments import ExperimentSpec
from freshrec.measurement.service import Measurement

__all__ = ["Answer", "Answering", "ExperimentSpec", "Measurement"]
