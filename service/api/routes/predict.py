"""Predictions: one row, a batch, and the KServe V1 path, for the served model's signature.

Well-formed requests are answered by the fast path (service.api.fast_path) before they reach
this router, with the same bodies; these routes answer everything else and give the error
messages. The bodies are validated by the served version's own pydantic models, picked up
once per request with the model, so a hot reload to another signature switches both at once;
/openapi.json documents the same models (service.api.openapi).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from service.api.json_response import JsonResponse
from service.api.metrics import ApiMetrics
from service.api.model_holder import ModelHolder
from service.api.predictions import batch_answer, predict_one, v1_answer
from service.api.routes.responses import documented_errors
from service.api.signature_api import without_tags

PREDICT_PATH = "/predict"
BATCH_PATH = "/predict/batch"
V1_PATH = "/v1/models/iris:predict"
JSON_ROUTES = (PREDICT_PATH, BATCH_PATH, V1_PATH)


def _documented(request: str, response: str) -> dict[str, Any]:
    """The route's OpenAPI: bodies by component name, filled in for the served signature."""

    def content(name: str) -> dict[str, Any]:
        return {"application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}}

    return {
        "response_model": None,
        "openapi_extra": {"requestBody": {"required": True, "content": content(request)}},
        "responses": {200: {"description": "Successful Response", "content": content(response)}},
    }


def _invalid_json(position: int, why: str) -> RequestValidationError:
    return RequestValidationError(
        [
            {
                "type": "json_invalid",
                "loc": ("body", position),
                "msg": "JSON decode error",
                "input": {},
                "ctx": {"error": why},
            }
        ]
    )


async def parse(request: Request, model: type[BaseModel]) -> BaseModel:
    """The body validated by `model`, or FastAPI's own 422 (locations under "body")."""
    body = await request.body()
    if not body:
        raise RequestValidationError(
            [{"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}]
        )
    try:
        # decoded first: json.loads guesses UTF-16/32 from NUL bytes and fails outside ValueError
        payload = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise _invalid_json(exc.start, "the body is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise _invalid_json(exc.pos, exc.msg) from None
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        errors = [{**e, "loc": ("body", *e["loc"])} for e in without_tags(list(exc.errors()))]
        raise RequestValidationError(errors) from None


def predict_router(holder: ModelHolder, metrics: ApiMetrics, max_batch: int) -> APIRouter:
    router = APIRouter(tags=["predict"], responses=documented_errors(401, 413, 415, 422, 503))

    @router.post(PREDICT_PATH, summary="Predict one row", **_documented("Features", "Prediction"))
    async def predict(request: Request) -> JsonResponse:
        served = holder.require()
        features = await parse(request, served.api.request_model)
        return JsonResponse(predict_one(served, served.api.encode(features), metrics))

    async def rows(request: Request) -> tuple[Any, np.ndarray]:
        served = holder.require()
        batch = await parse(request, served.api.batch_model)
        encoded = served.api.encode_instances(batch)
        return served, np.asarray(encoded, dtype=np.float64).reshape(len(encoded), -1)

    @router.post(
        BATCH_PATH,
        summary=f"Predict up to {max_batch} rows, with probabilities",
        **_documented("BatchRequest", "BatchPrediction"),
    )
    async def predict_batch(request: Request) -> JsonResponse:
        served, features = await rows(request)
        return JsonResponse(batch_answer(served, features, metrics))

    @router.post(
        V1_PATH,
        summary="KServe V1 protocol: each instance's class index (or value)",
        **_documented("BatchRequest", "V1Prediction"),
    )
    async def predict_v1(request: Request) -> JsonResponse:
        served, features = await rows(request)
        return JsonResponse(v1_answer(served, features, metrics))

    return router
