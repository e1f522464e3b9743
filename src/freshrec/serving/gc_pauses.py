"""Garbage-collector pauses, timed per generation and exported to Prometheus.

A CPython collection stops every thread of the process; in a server holding millions of
long-lived objects a full pass lands on whatever requests are in flight, so it is the first
suspect of a latency tail. prometheus-client's ``GCCollector`` counts collections but not
how long they took; this records the time of each one (``gc.callbacks``, process-wide,
installed once) and exports count, total and worst pause per generation.
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

_GENERATIONS = 3


class _PauseRecorder:
    """Count, total and maximum pause per generation, updated from ``gc.callbacks``."""

    def __init__(self) -> None:
        self.count = [0] * _GENERATIONS
        self.total = [0.0] * _GENERATIONS
        self.worst = [0.0] * _GENERATIONS
        # Collections run in whichever thread allocated; each thread times its own pass.
        self._started = threading.local()

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started.at = time.perf_counter()
            return
        started = getattr(self._started, "at", None)
        if started is None:  # installed mid-collection
            return
        pause = time.perf_counter() - started
        generation = int(info["generation"])
        self.count[generation] += 1
        self.total[generation] += pause
        self.worst[generation] = max(self.worst[generation], pause)


_recorder = _PauseRecorder()
_install_lock = threading.Lock()


def install() -> None:
    """Start timing collections in this process (idempotent)."""
    with _install_lock:
        if _recorder not in gc.callbacks:
            gc.callbacks.append(_recorder)


class GcPauseCollector(Collector):
    """Exports the process's collection pauses (read at scrape time)."""

    def collect(self) -> Iterator[Metric]:
        """Count, total and longest pause per generation."""
        labels = ["generation"]
        count = CounterMetricFamily(
            "freshrec_gc_collections", "Garbage collections by generation.", labels=labels
        )
        total = CounterMetricFamily(
            "freshrec_gc_pause_seconds", "Time spent in garbage collections.", labels=labels
        )
        worst = GaugeMetricFamily(
            "freshrec_gc_pause_max_seconds", "Longest single collection so far.", labels=labels
        )
        for generation in range(_GENERATIONS):
            key = [str(generation)]
            count.add_metric(key, _recorder.count[generation])
            total.add_metric(key, _recorder.total[generation])
            worst.add_metric(key, _recorder.worst[generation])
        yield from (count, total, worst)
