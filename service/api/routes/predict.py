"""Predictions: the course's single flower, a batch, and the KServe V1 path.

Well-formed requests are answered by the fast path (service.api.fast_path) before they reach
this router, with the same bodies; these routes answer everything else and define the schema
and the error messages.
"""

# No `from __future__ import annotations`: FastAPI must see the per-app batch model class
# in the route signatures, not its name as a string.
import numpy as np
from fastapi import APIRouter

from service.api.json_response import JsonResponse
from service.api.metrics import ApiMetrics
from service.api.model_holder import ModelHolder
from service.api.predictions import batch_payload, predict_many, predict_one, v1_payload
from service.api.routes.responses import documented_errors
from service.api.schemas import (
    BatchPrediction,
    BatchRequest,
    IrisFeatures,
    Prediction,
    V1Prediction,
    batch_request_model,
)

PREDICT_PATH = "/predict"
BATCH_PATH = "/predict/batch"
V1_PATH = "/v1/models/iris:predict"
JSON_ROUTES = (PREDICT_PATH, BATCH_PATH, V1_PATH)


def predict_router(holder: ModelHolder, metrics: ApiMetrics, max_batch: int) -> APIRouter:
    router = APIRouter(tags=["predict"], responses=documented_errors(401, 413, 415, 422, 503))
    batch_model = batch_request_model(max_batch)

    @router.post(PREDICT_PATH, response_model=Prediction, summary="Classify one flower")
    async def predict(features: IrisFeatures) -> JsonResponse:
        served = holder.require()
        row = (
            features.sepal_length,
            features.sepal_width,
            features.petal_length,
            features.petal_width,
        )
        return JsonResponse(predict_one(served, row, metrics))

    def rows(request: BatchRequest) -> np.ndarray:
        return np.asarray(request.instances, dtype=np.float64).reshape(-1, 4)

    @router.post(
        BATCH_PATH,
        response_model=BatchPrediction,
        summary=f"Classify up to {max_batch} flowers, with probabilities",
    )
    async def predict_batch(request: batch_model) -> JsonResponse:  # type: ignore[valid-type]
        served = holder.require()
        indices, probabilities = predict_many(served, rows(request), metrics)
        return JsonResponse(batch_payload(served, indices, probabilities))

    @router.post(
        V1_PATH,
        response_model=V1Prediction,
        summary="KServe V1 protocol: predicted class index of each instance",
    )
    async def predict_v1(request: batch_model) -> JsonResponse:  # type: ignore[valid-type]
        served = holder.require()
        indices, _ = predict_many(served, rows(request), metrics)
        return JsonResponse(v1_payload(indices))

    return router
