"""Prometheus metrics of one app, in a registry of its own (so tests can build many apps).

Per-request counts and latencies are plain numbers exported when Prometheus scrapes (a custom
collector): prometheus-client's Counter and Histogram take a lock and walk their buckets on
every call, several microseconds that matter at tens of thousands of requests a second. They
are only touched from the event loop's thread, so they need no lock.
"""

from __future__ import annotations

import bisect
import logging
import time
from collections.abc import Iterable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

access_log = logging.getLogger("iris.access")

# Sub-millisecond buckets: a single prediction takes tens of microseconds.
LATENCY_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.5, 2.5)


class RequestStats:
    """Request counts, latency histograms and predictions by class, as a Prometheus collector."""

    def __init__(self, buckets: tuple[float, ...] = LATENCY_BUCKETS) -> None:
        self.buckets = buckets
        self.requests: dict[tuple[str, str, int], int] = {}
        # route -> [count per bucket..., count above the last bucket]; and the sum of seconds
        self.latency: dict[str, list[int]] = {}
        self.latency_sum: dict[str, float] = {}
        self.predictions: dict[str, int] = {}

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        key = (route, method, status)
        self.requests[key] = self.requests.get(key, 0) + 1
        counts = self.latency.get(route)
        if counts is None:
            counts = self.latency[route] = [0] * (len(self.buckets) + 1)
            self.latency_sum[route] = 0.0
        counts[bisect.bisect_left(self.buckets, seconds)] += 1
        self.latency_sum[route] += seconds

    def count_prediction(self, species: str, rows: int = 1) -> None:
        self.predictions[species] = self.predictions.get(species, 0) + rows

    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(
            "iris_http_requests",
            "HTTP requests by route, method and status",
            labels=("route", "method", "status"),
        )
        for (route, method, status), count in list(self.requests.items()):
            requests.add_metric((route, method, str(status)), count)
        yield requests
        latency = HistogramMetricFamily(
            "iris_http_request_duration_seconds",
            "Time from request to the end of the response, by route",
            labels=("route",),
        )
        for route, counts in list(self.latency.items()):
            cumulative, total = [], 0
            for bound, count in zip((*map(str, self.buckets), "+Inf"), counts, strict=True):
                total += count
                cumulative.append((bound, total))
            latency.add_metric((route,), cumulative, self.latency_sum[route])
        yield latency
        predictions = CounterMetricFamily(
            "iris_predictions", "Predicted rows by predicted class", labels=("species",)
        )
        for species, count in list(self.predictions.items()):
            predictions.add_metric((species,), count)
        yield predictions


class ApiMetrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.stats = RequestStats()
        self.registry.register(self.stats)
        self.observe_request = self.stats.observe
        self.count_prediction = self.stats.count_prediction
        self._model_version = Gauge(
            "iris_model_version_info",
            "The model version being served (value 1)",
            ("version",),
            registry=self.registry,
        )
        self._model_loaded = Gauge(
            "iris_model_loaded", "1 when a model is loaded", registry=self.registry
        )
        self.reloads = Counter(
            "iris_model_reloads", "Models loaded and swapped in", registry=self.registry
        )
        self.reload_failures = Counter(
            "iris_model_reload_failures",
            "Published models that failed to load and were refused",
            registry=self.registry,
        )

    def count_predictions(self, class_names: Iterable[str], counts: Iterable[int]) -> None:
        for species, rows in zip(class_names, counts, strict=False):
            if rows:
                self.count_prediction(species, int(rows))

    def set_model(self, version: str | None) -> None:
        self._model_version.clear()
        if version is not None:
            self._model_version.labels(version).set(1)
        self._model_loaded.set(0 if version is None else 1)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class MetricsMiddleware:
    """Counts and times every request by its route template (not its raw path)."""

    def __init__(self, app: ASGIApp, *, metrics: ApiMetrics, known_paths: frozenset[str]):
        self.app = app
        self.metrics = metrics
        self.known_paths = known_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            path = scope["path"]
            route = path if path in self.known_paths else "unmatched"
            elapsed = time.perf_counter() - start
            self.metrics.observe_request(route, scope["method"], status, elapsed)
            if access_log.isEnabledFor(logging.DEBUG):
                log_access(scope["method"], path, status, elapsed)


def log_access(method: str, path: str, status: int, seconds: float) -> None:
    access_log.debug(
        "request",
        extra={"method": method, "path": path, "status": status, "ms": round(seconds * 1e3, 3)},
    )
