"""The served model's metadata, and the Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from service.api.json_response import JsonResponse
from service.api.metrics import ApiMetrics
from service.api.model_holder import ModelHolder
from service.api.routes.responses import documented_errors
from service.api.schemas import FeatureInfo, ModelInfo, V1ModelStatus


def model_router(holder: ModelHolder) -> APIRouter:
    router = APIRouter(tags=["model"], responses=documented_errors(401, 503))

    @router.get("/model", response_model=ModelInfo, summary="The model being served")
    async def model_info() -> ModelInfo:
        served = holder.require()
        loaded = served.loaded
        signature = served.signature
        return ModelInfo(
            version=served.version,
            # From the metadata: the estimator itself is not unpickled when a form serves it.
            estimator=str(loaded.metadata.get("estimator", "unknown")),
            predictor=type(served.predictor).__name__,
            task=signature.task,
            target=signature.target,
            features=[FeatureInfo.model_validate(f.to_json()) for f in signature.features],
            feature_names=list(loaded.feature_names),
            class_names=list(loaded.class_names),
            loaded_at=served.loaded_at,
            metadata=loaded.metadata,
        )

    @router.get(
        "/v1/models/iris",
        response_model=V1ModelStatus,
        responses={503: {"model": V1ModelStatus, "description": "no model loaded yet"}},
        summary="KServe V1 model status",
    )
    async def v1_model_status() -> JsonResponse:
        ready = holder.served is not None
        return JsonResponse({"name": "iris", "ready": ready}, status_code=200 if ready else 503)

    return router


def metrics_router(metrics: ApiMetrics) -> APIRouter:
    router = APIRouter(tags=["metrics"])

    @router.get(
        "/metrics",
        response_class=Response,
        responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format"}},
        summary="Prometheus metrics",
    )
    async def prometheus_metrics() -> Response:
        return Response(metrics.exposition(), media_type=metrics.content_type)

    return router
