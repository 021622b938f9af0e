"""Open Inference Protocol (V2) endpoints, so KServe and Triton clients can call the model.

Health endpoints stay open; model metadata, readiness and inference need the API key (when
one is set). Errors are `{"error": "..."}`, the shape V2 clients read.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any

from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from service.api.json_response import JsonResponse
from service.api.metrics import ApiMetrics
from service.api.model_holder import ModelHolder
from service.api.predictions import predict_many
from service.api.routes.responses import documented_errors
from service.api.schemas import (
    V2InferRequest,
    V2InferResponse,
    V2Live,
    V2ModelMetadata,
    V2Ready,
    V2ServerMetadata,
    V2TensorMetadata,
)
from service.api.v2_tensors import (
    INPUT_NAME,
    LABEL_OUTPUT,
    MODEL_NAME,
    PROBABILITIES_OUTPUT,
    VALUE_OUTPUT,
    TensorError,
    decode_features,
    encode_outputs,
    output_tensors,
)

INFER_PATH = f"/v2/models/{MODEL_NAME}/infer"
HEADER_LENGTH = "inference-header-content-length"

try:
    SERVER_VERSION = version("iris-k8s-kit")
except PackageNotFoundError:  # running from a source tree that is not installed
    SERVER_VERSION = "unknown"


def v2_health_router(holder: ModelHolder) -> APIRouter:
    router = APIRouter(tags=["v2"])
    not_ready: dict[int | str, dict[str, Any]] = {503: {"model": V2Ready}}

    @router.get("/v2", response_model=V2ServerMetadata, summary="V2 server metadata")
    async def server_metadata() -> V2ServerMetadata:
        return V2ServerMetadata(name="iris-serve", version=SERVER_VERSION, extensions=[])

    @router.get("/v2/health/live", response_model=V2Live, summary="V2 liveness")
    async def server_live() -> V2Live:
        return V2Live(live=True)

    @router.get(
        "/v2/health/ready", response_model=V2Ready, responses=not_ready, summary="V2 readiness"
    )
    async def server_ready() -> JsonResponse:
        ready = holder.served is not None and not holder.draining
        return JsonResponse({"ready": ready}, status_code=200 if ready else 503)

    return router


def v2_model_router(holder: ModelHolder, metrics: ApiMetrics, max_batch: int) -> APIRouter:
    router = APIRouter(
        tags=["v2"],
        responses=documented_errors(400, 401, 413, 415, 422, 503, v2=True),
    )

    @router.get(
        f"/v2/models/{MODEL_NAME}", response_model=V2ModelMetadata, summary="V2 model metadata"
    )
    async def model_metadata() -> V2ModelMetadata:
        served = holder.require()
        signature = served.signature
        if signature.all_numeric:
            n = len(signature.features)
            inputs = [V2TensorMetadata(name=INPUT_NAME, datatype="FP32", shape=[-1, n])]
        else:
            inputs = [
                V2TensorMetadata(
                    name=f.name, datatype="FP64" if f.kind == "numeric" else "BYTES", shape=[-1]
                )
                for f in signature.features
            ]
        if served.regression:
            outputs = [V2TensorMetadata(name=VALUE_OUTPUT, datatype="FP64", shape=[-1])]
        else:
            classes = len(served.class_names)
            outputs = [
                V2TensorMetadata(name=LABEL_OUTPUT, datatype="INT64", shape=[-1]),
                V2TensorMetadata(name=PROBABILITIES_OUTPUT, datatype="FP32", shape=[-1, classes]),
            ]
        return V2ModelMetadata(
            name=MODEL_NAME,
            versions=[served.version],
            platform="scikit-learn",
            inputs=inputs,
            outputs=outputs,
        )

    @router.get(
        f"/v2/models/{MODEL_NAME}/ready",
        response_model=V2Ready,
        summary="V2 model readiness",
    )
    async def model_ready() -> JsonResponse:
        ready = holder.served is not None
        return JsonResponse({"ready": ready}, status_code=200 if ready else 503)

    @router.post(
        INFER_PATH,
        response_model=V2InferResponse,
        summary="V2 inference: the features in (see the model metadata); label and "
        "probabilities (or value) out",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {"$ref": "#/components/schemas/V2InferRequest"},
                        "example": {
                            "inputs": [
                                {
                                    "name": INPUT_NAME,
                                    "shape": [1, 4],
                                    "datatype": "FP32",
                                    "data": [[5.1, 3.5, 1.4, 0.2]],
                                }
                            ]
                        },
                    }
                },
            }
        },
    )
    async def infer(request: Request) -> Response:
        body = await request.body()
        header, binary = _split_body(body, request.headers.get(HEADER_LENGTH))
        try:
            infer_request = V2InferRequest.model_validate_json(header)
        except ValidationError as exc:
            raise RequestValidationError(exc.errors()) from None
        served = holder.require()
        try:
            features = decode_features(infer_request, binary, served.checker, max_batch)
            predictions = (
                served.regressor.values(features)
                if served.regression
                else predict_many(served, features, metrics)
            )
            tensors = output_tensors(infer_request, predictions)
            encoded = encode_outputs(infer_request, served.version, tensors)
        except TensorError as exc:
            raise HTTPException(400, str(exc)) from None
        if encoded.json_length is None:
            return Response(encoded.body, media_type="application/json")
        return Response(
            encoded.body,
            media_type="application/octet-stream",
            headers={"Inference-Header-Content-Length": str(encoded.json_length)},
        )

    return router


def _split_body(body: bytes, header_length: str | None) -> tuple[bytes, bytes]:
    if header_length is None:
        return body, b""
    try:
        length = int(header_length)
    except ValueError:
        raise HTTPException(400, "Inference-Header-Content-Length is not a number") from None
    if not 0 < length <= len(body):
        raise HTTPException(
            400, f"Inference-Header-Content-Length {length} does not fit the {len(body)}-byte body"
        )
    return body[:length], body[length:]
