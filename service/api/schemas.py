"""Request and response bodies of every endpoint (they are also the OpenAPI schema)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

MAX_MEASUREMENT_CM = 100.0

# A flower measurement: a JSON number (not a string or boolean), finite, 0 to 100 cm. Real
# Iris measurements are under 10 cm; the bound only rejects what cannot be a flower.
Measurement = Annotated[
    float,
    Field(
        strict=True,
        ge=0,
        le=MAX_MEASUREMENT_CM,
        allow_inf_nan=False,
        description="length in centimetres, 0 to 100",
    ),
]
FeatureRow = Annotated[
    list[Measurement],
    Field(
        min_length=4,
        max_length=4,
        description="sepal_length, sepal_width, petal_length, petal_width in centimetres",
    ),
]


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


class IrisFeatures(StrictModel):
    """One flower, as the course's clients send it."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
            ]
        },
    )

    sepal_length: Measurement
    sepal_width: Measurement
    petal_length: Measurement
    petal_width: Measurement


class ClassPrediction(BaseModel):
    species_index: int = Field(description="index of the predicted class in class_names")
    species_name: str
    probabilities: dict[str, float] = Field(description="probability of each class, by name")


class Prediction(ClassPrediction):
    model_config = ConfigDict(protected_namespaces=())

    model_version: str


class BatchRequest(StrictModel):
    """Several flowers, one row of four measurements each (also the KServe V1 body)."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"instances": [[5.1, 3.5, 1.4, 0.2]]}]}
    )

    instances: list[FeatureRow] = Field(min_length=1)


def batch_request_model(max_rows: int) -> type[BatchRequest]:
    """BatchRequest limited to `max_rows` rows (MAX_BATCH), so the schema documents the limit."""
    return create_model(
        "BatchRequest",
        __base__=BatchRequest,
        instances=(list[FeatureRow], Field(min_length=1, max_length=max_rows)),
    )


class BatchPrediction(BaseModel):
    """Column-wise, which is compact and fast for thousands of rows; `predictions` is the
    KServe V1 field, so a V1 client can read this response too."""

    model_config = ConfigDict(protected_namespaces=())

    predictions: list[int] = Field(description="index of each row's predicted class")
    species_names: list[str] = Field(description="name of each row's predicted class")
    probabilities: list[list[float]] = Field(
        description="each row's class probabilities, in class_names order"
    )
    class_names: list[str]
    model_version: str


class V1Prediction(BaseModel):
    """KServe V1 response: the predicted class index of each instance."""

    predictions: list[int]


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


class ModelInfo(BaseModel):
    model_config = ConfigDict(protected_namespaces=())

    version: str
    estimator: str
    predictor: str = Field(description="how predictions are computed")
    feature_names: list[str]
    class_names: list[str]
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


V2Datatype = Literal["FP32", "FP64"]


class V2InputTensor(BaseModel):
    name: str
    shape: list[Annotated[int, Field(ge=0)]] = Field(min_length=1, max_length=2)
    datatype: V2Datatype
    parameters: dict[str, Any] | None = None
    data: list[Measurement] | list[list[Measurement]] | None = Field(
        None, description="row-major values; absent when sent in the binary extension"
    )


class V2RequestedOutput(BaseModel):
    name: str
    parameters: dict[str, Any] | None = None


class V2InferRequest(BaseModel):
    id: str | None = None
    parameters: dict[str, Any] | None = None
    inputs: list[V2InputTensor] = Field(min_length=1, max_length=1)
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
