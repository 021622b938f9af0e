"""The app factory: routes, guards, metrics and the model reloader of one `iris-serve` app.

Request flow (outermost first): the fast path for valid predictions (`with_fast_path`, in
front of FastAPI's own middleware), then in FastAPI: metrics, the size and content-type guard,
routing with the API key dependency and pydantic validation.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from fastapi import Depends, FastAPI

from service.api.auth import ApiKey, api_key_dependency
from service.api.errors import install_error_handlers
from service.api.fast_path import FastPathMiddleware
from service.api.limits import JSON, OCTET_STREAM, RequestGuardMiddleware
from service.api.metrics import ApiMetrics, MetricsMiddleware
from service.api.model_holder import ModelHolder, ModelReloader
from service.api.openapi import install_openapi
from service.api.routes.health import health_router
from service.api.routes.model import metrics_router, model_router
from service.api.routes.predict import JSON_ROUTES, predict_router
from service.api.routes.v2 import INFER_PATH, v2_health_router, v2_model_router
from service.model_store import ModelStore
from service.settings import ServeSettings

log = logging.getLogger("iris.serve")

DESCRIPTION = """Serves the published model: Iris by default, or a tabular model from a CSV.

The prediction bodies follow the served version's signature (GET /model describes it): POST
/predict takes one row as an object of its named features, POST /predict/batch many rows;
POST /v1/models/iris:predict and /v2/models/iris/infer speak the KServe V1 and Open Inference
(V2) protocols. When the server has an API key, prediction and model endpoints need it as
X-API-Key or Authorization: Bearer.
"""


def create_app(settings: ServeSettings, *, store: ModelStore | None = None) -> FastAPI:
    """The FastAPI app serving the model published in `store` (default: settings.model_dir).

    It answers every request by itself; `with_fast_path` puts the fast path in front of it.
    """
    store = store or ModelStore(settings.model_dir)
    holder = ModelHolder()
    metrics = ApiMetrics()
    reloader = ModelReloader(store, holder, metrics, settings.reload_interval, settings.max_batch)
    api_key = ApiKey(settings.api_key.get_secret_value()) if settings.api_key else None

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if api_key is None:
            log.warning("API_KEY is not set: the API runs without authentication")
        task = asyncio.create_task(reloader.run(), name="model-reloader")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    app = FastAPI(
        title="Iris classifier",
        description=DESCRIPTION,
        version="1",
        lifespan=lifespan,
    )
    app.state.holder = holder
    app.state.metrics = metrics
    app.state.reloader = reloader
    app.state.api_key = api_key

    auth: list[Any] = [Depends(api_key_dependency(api_key))] if api_key else []
    open_routers = [health_router(holder), metrics_router(metrics), v2_health_router(holder)]
    guarded_routers = [
        predict_router(holder, metrics, settings.max_batch),
        model_router(holder),
        v2_model_router(holder, metrics, settings.max_batch),
    ]
    for router in open_routers:
        app.include_router(router)
    for router in guarded_routers:
        app.include_router(router, dependencies=auth)
    install_error_handlers(app)
    install_openapi(app, holder)

    accepted = {path: frozenset({JSON}) for path in JSON_ROUTES}
    accepted[INFER_PATH] = frozenset({JSON, OCTET_STREAM})
    known_paths = frozenset(
        getattr(route, "path", "")
        for router in open_routers + guarded_routers
        for route in router.routes
    )
    # add_middleware wraps: the last one added runs first.
    app.add_middleware(
        RequestGuardMiddleware, max_body_bytes=settings.max_body_bytes, accepted_types=accepted
    )
    app.add_middleware(MetricsMiddleware, metrics=metrics, known_paths=known_paths)
    return app


def with_fast_path(app: FastAPI, settings: ServeSettings) -> FastPathMiddleware:
    """`app` (from create_app) behind the fast path: what `iris-serve` runs.

    The fast path wraps the whole FastAPI app rather than sitting in its middleware stack:
    FastAPI's outer layers (error handling, OpenTelemetry hooks) cost a single-row /predict
    a quarter of its throughput. So the predictions it answers skip FastAPI's OpenTelemetry
    spans; the Prometheus metrics count them all.
    """
    return FastPathMiddleware(
        app,
        holder=app.state.holder,
        metrics=app.state.metrics,
        api_key=app.state.api_key,
        max_body_bytes=settings.max_body_bytes,
        max_batch=settings.max_batch,
    )
