"""/openapi.json (and so /docs) for the version being served, rebuilt when it changes.

FastAPI builds an app's OpenAPI document once and caches it forever, but the prediction
bodies here are the served signature's: after a hot reload to another signature a cached
document would describe the old model. So the document is cached per served version and
rebuilt, with the new signature's components, on the first request after a reload. Until a
model loads, the prediction bodies are documented as open objects, which is the truth.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from service.api.model_holder import ModelHolder
from service.api.schemas import V2InferRequest

REF_TEMPLATE = "#/components/schemas/{model}"
PREDICTION_BODIES = ("Features", "BatchRequest", "Prediction", "BatchPrediction", "V1Prediction")


def install_openapi(app: FastAPI, holder: ModelHolder) -> None:
    cache: dict[str | None, dict[str, Any]] = {}

    def openapi() -> dict[str, Any]:
        served = holder.served
        version = served.version if served else None
        if version not in cache:
            cache.clear()
            cache[version] = build(app, holder)
        return cache[version]

    app.openapi = openapi  # type: ignore[method-assign]


def build(app: FastAPI, holder: ModelHolder) -> dict[str, Any]:
    schema = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    # Bodies that routes parse themselves: V2 infer, and the served signature's.
    _add(components, V2InferRequest.model_json_schema(ref_template=REF_TEMPLATE), "V2InferRequest")
    served = holder.served
    if served is None:
        for name in PREDICTION_BODIES:
            components[name] = {
                "type": "object",
                "description": "set by the served model's signature; no model is loaded yet",
            }
        return schema
    schema["info"]["x-model-version"] = served.version
    requests = (served.api.request_model, served.api.batch_model)
    for model in served.api.models:
        mode: Literal["validation", "serialization"] = (
            "validation" if model in requests else "serialization"
        )
        body = model.model_json_schema(ref_template=REF_TEMPLATE, mode=mode)
        _add(components, body, model.__name__)
    return schema


def _add(components: dict[str, Any], model_schema: dict[str, Any], name: str) -> None:
    components.update(model_schema.pop("$defs", {}))
    components[name] = model_schema
