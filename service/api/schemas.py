"""Request and response bodies of the fixed endpoints (they are also the OpenAPI schema).

The prediction bodies depend on the served signature: see service.api.signature_api.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class V1ModelStatus(BaseModel):
    """KServe V1 model status."""

    name: str
    ready: bool


class Status(BaseModel):
    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    model_config = ConfigDict(protected_namespaces=())

    status: Literal["ready", "unready"]
    model_version: str | None = None
    reason: str | None = Field(default=None, description="why the server is not ready")


class FeatureInfo(BaseModel):
    """One input of the served model, enough for a client to build a form field."""

    name: str
    type: Literal["numeric", "categorical"]
    nullable: bool = Field(description="may be null or left out (it is imputed)")
    min: float | None = Field(None, description="numeric: smallest value seen in training")
    max: float | None = Field(None, description="numeric: largest value seen in training")
    bounds: list[float] | None = Field(None, description="numeric: refused outside these")
    categories: list[str] | None = Field(None, description="categorical: the accepted values")
    description: str | None = None


class ModelInfo(BaseModel):
    model_config = ConfigDict(protected_namespaces=())

    version: str
    estimator: str
    predictor: str = Field(description="how predictions are computed")
    task: Literal["classification", "regression"]
    target: str = Field(description="the label column; answers are named after it")
    features: list[FeatureInfo] = Field(description="the request's fields, in row order")
    feature_names: list[str]
    class_names: list[str] = Field(description="empty for regression")
    loaded_at: str
    metadata: dict[str, Any] = Field(description="the model's metadata.json")


class FieldError(BaseModel):
    field: str = Field(description="dotted path of the offending field, e.g. instances.0.2")
    message: str
    type: str


class ErrorResponse(BaseModel):
    detail: str = Field(description="what is wrong, in one line")
    errors: list[FieldError] = Field(default_factory=list)


# Open Inference Protocol (V2) — https://github.com/kserve/open-inference-protocol


class V2Error(BaseModel):
    error: str


class V2ServerMetadata(BaseModel):
    name: str
    version: str
    extensions: list[str]


class V2Live(BaseModel):
    live: bool


class V2Ready(BaseModel):
    ready: bool


class V2TensorMetadata(BaseModel):
    name: str
    datatype: str
    shape: list[int]


class V2ModelMetadata(BaseModel):
    name: str
    versions: list[str]
    platform: str
    inputs: list[V2TensorMetadata]
    outputs: list[V2TensorMetadata]


V2Datatype = Literal["FP32", "FP64", "BYTES"]
V2Value = Annotated[float, Field(strict=True, allow_inf_nan=False)] | str | None


class V2InputTensor(BaseModel):
    name: str
    shape: list[Annotated[int, Field(ge=0)]] = Field(min_length=1, max_length=2)
    datatype: V2Datatype
    parameters: dict[str, Any] | None = None
    data: list[V2Value] | list[list[V2Value]] | None = Field(
        None,
        description="row-major values (strings for BYTES, null where a feature may be "
        "missing); absent when sent in the binary extension",
    )


class V2RequestedOutput(BaseModel):
    name: str
    parameters: dict[str, Any] | None = None


class V2InferRequest(BaseModel):
    id: str | None = None
    parameters: dict[str, Any] | None = None
    inputs: list[V2InputTensor] = Field(
        min_length=1,
        description="one [N, features] tensor named `features` (all-numeric models), or one "
        "[N] tensor per feature, named as the feature",
    )
    outputs: list[V2RequestedOutput] | None = None


class V2OutputTensor(BaseModel):
    name: str
    shape: list[int]
    datatype: str
    parameters: dict[str, Any] | None = None
    data: list[float] | list[int] | None = None


class V2InferResponse(BaseModel):
    model_config = ConfigDict(protected_namespaces=())

    model_name: str
    model_version: str
    id: str | None = None
    outputs: list[V2OutputTensor]
