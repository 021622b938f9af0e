"""Prometheus metrics of one app, in a registry of its own (so tests can build many apps).

The request path records through pre-bound label children: `labels()` costs a dict lookup
under a lock, which matters at tens of thousands of requests a second.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

access_log = logging.getLogger("iris.access")

# Sub-millisecond buckets: a single prediction takes tens of microseconds.
LATENCY_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.5, 2.5)


class ApiMetrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._requests = Counter(
            "iris_http_requests",
            "HTTP requests by route, method and status",
            ("route", "method", "status"),
            registry=self.registry,
        )
        self._latency = Histogram(
            "iris_http_request_duration_seconds",
            "Time from request to the end of the response, by route",
            ("route",),
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._predictions = Counter(
            "iris_predictions",
            "Predicted rows by predicted class",
            ("species",),
            registry=self.registry,
        )
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
        self._request_children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}
        self._prediction_children: dict[str, Counter] = {}

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        key = (route, method, status)
        children = self._request_children.get(key)
        if children is None:
            children = (
                self._requests.labels(route, method, str(status)),
                self._latency.labels(route),
            )
            self._request_children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def count_prediction(self, species: str, rows: int = 1) -> None:
        child = self._prediction_children.get(species)
        if child is None:
            child = self._prediction_children[species] = self._predictions.labels(species)
        child.inc(rows)

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
