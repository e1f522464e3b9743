"""Fitting the batch models, and running that in the background without blocking answers."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from freshrec.config import EngineConfig
from freshrec.models import Ease, als
from freshrec.models.als import TrainedFactors
from freshrec.threads import lower_priority
from freshrec.types import EventBatch, FloatArray

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class BatchWeights:
    """What one retrain produces: ALS factors and EASE weights for a log prefix."""

    events: int
    factors: TrainedFactors | None
    ease: npt.NDArray[np.float32] | None


def fit_batch_models(
    config: EngineConfig, events: EventBatch, previous: FloatArray | None = None
) -> BatchWeights:
    """Solve the batch models on ``events`` (a snapshot); live state is not touched.

    ``previous`` (the serving item factors) warm-starts ALS when warm starts are enabled.
    A model whose blend weight is zero is not trained (it would never be read).
    """
    factors = None
    if config.blend.factors > 0:
        warm = previous if config.factors.warm_start_iterations > 0 else None
        factors = als.train(config.factors, events, warm)
    ease = Ease(config.ease).solve(events) if config.blend.ease > 0 else None
    return BatchWeights(len(events), factors, ease)


class BackgroundTrainer:
    """Runs one training job at a time on a daemon thread.

    ``request`` starts a job unless one is already running (a retrain that is asked for while
    another runs would train on nearly the same log, so it is dropped, not queued).
    """

    def __init__(self, train: Callable[[], object]) -> None:
        self._train = train
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.last_error: BaseException | None = None

    @property
    def running(self) -> bool:
        """Whether a job is in progress."""
        return self._thread is not None and self._thread.is_alive()

    def request(self) -> bool:
        """Start a training job; return False when one is already running."""
        with self._lock:
            if self.running:
                return False
            self._thread = threading.Thread(target=self._run, name="freshrec-trainer", daemon=True)
            self._thread.start()
            return True

    def _run(self) -> None:
        lower_priority()  # answers first when a core is contended
        try:
            self._train()
            self.last_error = None
        except Exception as exc:  # a failed retrain keeps the serving model: log, don't crash
            self.last_error = exc
            log.exception("background training failed; the current model stays in service")

    def wait(self, timeout: float | None = None) -> None:
        """Block until the running job (if any) finishes."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
