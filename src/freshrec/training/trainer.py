"""Fitting the batch models, and running that in the background without blocking answers."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from freshrec.config import EngineConfig
from freshrec.models import Ease, als
from freshrec.models.als import TrainedFactors
from freshrec.threads import lower_priority
from freshrec.types import EventBatch, FloatArray

log = logging.getLogger(__name__)

# Step names ``fit_batch_models`` and ``Engine.train`` report.
ENCODING_STEP = "encoding item texts"
FACTORS_STEP = "factors (ALS sweeps)"
EASE_STEP = "EASE"


class StepProgress(Protocol):
    """Told how long work of several steps has come (``freshrec train``'s progress bars).

    Called with a step's name, how many of its units are done and how many there are in
    all: ``("factors (ALS sweeps)", 3, 15)``. A step may report several times, ``done``
    never decreasing; it runs in the caller's thread.
    """

    def __call__(self, step: str, done: int, total: int, /) -> None:
        """Note that ``done`` of ``total`` units of ``step`` are finished."""


@dataclass(frozen=True, slots=True)
class BatchWeights:
    """What one retrain produces: ALS factors and EASE weights for a log prefix."""

    events: int
    factors: TrainedFactors | None
    ease: npt.NDArray[np.float32] | None


def fit_batch_models(
    config: EngineConfig,
    events: EventBatch,
    previous: FloatArray | None = None,
    progress: StepProgress | None = None,
) -> BatchWeights:
    """Solve the batch models on ``events`` (a snapshot); live state is not touched.

    ``previous`` (the serving item factors) warm-starts ALS when warm starts are enabled.
    A model whose blend weight is zero is not trained (it would never be read).
    ``progress`` hears of ``FACTORS_STEP`` (per ALS sweep) and ``EASE_STEP`` (one unit).
    """
    factors = None
    if config.blend.factors > 0:
        warm = previous if config.factors.warm_start_iterations > 0 else None
        sweeps = None
        if progress is not None:

            def sweeps(done: int, total: int) -> None:
                progress(FACTORS_STEP, done, total)

        factors = als.train(config.factors, events, warm, sweeps)
    ease = None
    if config.blend.ease > 0:
        if progress is not None:
            progress(EASE_STEP, 0, 1)
        ease = Ease(config.ease).solve(events)
        if progress is not None:
            progress(EASE_STEP, 1, 1)
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
