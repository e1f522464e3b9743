"""Prometheus metrics: requests per route and status, latency, events, cache, engine counts.

Each app gets its own registry (several apps can live in one process, as in tests). Request
metrics are recorded by an ASGI middleware labelled with the route *template*
(``/v1/recommendations/{user_id}``), never the raw path, so label sets stay bounded.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from freshrec.serving import gc_pauses
from freshrec.serving.cache import RecommendationCache

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS_SECONDS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
)  # fmt: skip
_ENGINE_GAUGES = ("events", "users", "items", "catalogue_items", "user_profiles")


class _LiveCollector(Collector):
    """Reads the cache counters and the engine's counts at scrape time."""

    def __init__(self, cache: RecommendationCache, stats: Callable[[], dict[str, Any]]) -> None:
        self._cache = cache
        self._stats = stats

    def collect(self) -> Iterator[Metric]:
        yield CounterMetricFamily(
            "freshrec_recommendation_cache_hits",
            "Recommendation requests answered from the cache.",
            value=self._cache.hits,
        )
        yield CounterMetricFamily(
            "freshrec_recommendation_cache_misses",
            "Recommendation requests that had to be scored.",
            value=self._cache.misses,
        )
        yield CounterMetricFamily(
            "freshrec_recommendation_cache_expired",
            "Cache misses because the answer was older than serving.cache.max_age_seconds.",
            value=self._cache.expired,
        )
        yield GaugeMetricFamily(
            "freshrec_recommendation_cache_entries", "Answers held.", value=len(self._cache)
        )
        yield GaugeMetricFamily(
            "freshrec_recommendation_cache_bytes",
            "Bytes of answers held (with a fixed overhead per entry).",
            value=self._cache.bytes,
        )
        try:
            stats = self._stats()
        except Exception:  # a scrape racing shutdown must not fail the whole page
            log.debug("engine stats unavailable", exc_info=True)
            return
        for name in _ENGINE_GAUGES:
            yield GaugeMetricFamily(
                f"freshrec_engine_{name}", f"Engine count: {name}.", value=stats[name]
            )
        yield GaugeMetricFamily(
            "freshrec_training", "1 while a background retrain runs.", value=int(stats["training"])
        )
        yield GaugeMetricFamily(
            "freshrec_new_items_waiting",
            "New items whose factor vectors the upkeep worker has yet to compute.",
            value=stats["new_items_waiting"],
        )
        info = GaugeMetricFamily(
            "freshrec_model_info", "The serving model version.", labels=["version"]
        )
        info.add_metric([str(stats["model_version"])], 1)
        yield info


class _OnlineCollector(Collector):
    """Lists, impressions, clicks, conversions, revenue and CTR per scenario and variant."""

    def __init__(self, report: Callable[[], dict[str, Any]]) -> None:
        self._report = report

    def collect(self) -> Iterator[Metric]:
        labels = ["scenario", "variant"]
        # Counters only where the figure never falls; impressions fall when a client reports
        # that it showed part of a list, and revenue with a refund's negative value.
        counts: dict[str, CounterMetricFamily | GaugeMetricFamily] = {
            name: kind(f"freshrec_online_{name}", help_text, labels=labels)
            for name, kind, help_text in (
                ("lists", CounterMetricFamily, "Served recommendation lists."),
                ("impressions", GaugeMetricFamily, "Items counted as shown."),
                ("clicks", CounterMetricFamily, "Clicks attributed to lists (one a position)."),
                ("conversions", CounterMetricFamily, "Purchases attributed (one a position)."),
                ("revenue", GaugeMetricFamily, "Value of the purchases attributed to lists."),
            )
        }
        ctr = GaugeMetricFamily(
            "freshrec_online_ctr",
            "Attributed clicks per impression, with its 95% Wilson bounds (bound label).",
            labels=[*labels, "bound"],
        )
        for group in self._report()["groups"]:
            key = [group["scenario"], group["variant"] or ""]
            for name, family in counts.items():
                family.add_metric(key, group[name])
            for bound, field in (("value", "value"), ("low", "low"), ("high", "high")):
                ctr.add_metric([*key, bound], group["ctr"][field])
        yield from counts.values()
        yield ctr


class ServingMetrics:
    """The metrics of one app.

    Args:
        cache: the recommendation cache whose hits and misses are exported.
        stats: returns ``Engine.stats()``; called at scrape time.
        online: returns the online report grouped by scenario and variant (scrape time).
    """

    def __init__(
        self,
        cache: RecommendationCache,
        stats: Callable[[], dict[str, Any]],
        online: Callable[[], dict[str, Any]] | None = None,
    ) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "freshrec_http_requests",
            "HTTP requests by method, route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "freshrec_http_request_duration_seconds",
            "Time to the last byte of the response, by method, route template and status.",
            ["method", "route", "status"],
            buckets=LATENCY_BUCKETS_SECONDS,
            registry=self.registry,
        )
        self.events = Counter(
            "freshrec_events",
            "Events received over HTTP by outcome: accepted, duplicate or rejected.",
            ["outcome"],
            registry=self.registry,
        )
        self.registry.register(_LiveCollector(cache, stats))
        if online is not None:
            self.registry.register(_OnlineCollector(online))
        # Memory, CPU and open files of the server (process_*), and its GC pauses: the
        # usual first look when latency drifts.
        ProcessCollector(registry=self.registry)
        gc_pauses.install()
        self.registry.register(gc_pauses.GcPauseCollector())

    def record_events(self, accepted: int, duplicates: int, rejected: int) -> None:
        """Count the outcome of one ingest call."""
        for outcome, count in (
            ("accepted", accepted),
            ("duplicate", duplicates),
            ("rejected", rejected),
        ):
            if count:
                self.events.labels(outcome).inc(count)

    def render(self) -> bytes:
        """Return the registry in the Prometheus text format."""
        return generate_latest(self.registry)


class MetricsMiddleware:
    """ASGI middleware recording count and latency of every HTTP request.

    Args:
        app: the wrapped application.
        metrics: where to record.
    """

    def __init__(self, app: ASGIApp, metrics: ServingMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve the request, then record it under its route template and status."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_watch)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            labels = (scope["method"], template, str(status))
            self.metrics.requests.labels(*labels).inc()
            self.metrics.latency.labels(*labels).observe(time.perf_counter() - started)
