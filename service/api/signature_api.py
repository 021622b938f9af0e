"""The HTTP face of one signature: request and response models, and their row encoding.

Built when a version loads (`SignatureApi.build`): `/predict` takes an object of the named,
typed features (categories as enums; a feature training saw missing may be null or left
out); `/predict/batch` and KServe V1 take `instances`, each a row in signature order or such
an object. Validated requests become encoded rows (service.signature) for the predictor.
The pydantic models are also what /openapi.json documents for the served version.

Every field's Python name is `f<i>` with the feature's name as its alias, so any column name
(`od280/od315`, `class`) is a valid field.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, create_model

from service.signature import Feature, Signature

POSITIONAL, NAMED = "positional", "named"


def _number(feature: Feature) -> Any:
    low, high = feature.bounds if feature.bounds else (None, None)
    if feature.description:
        description = feature.description
    elif feature.minimum is not None:
        description = f"a number; training saw {feature.minimum:g} to {feature.maximum:g}"
    else:
        description = "a number"
    return Annotated[
        float,
        Field(strict=True, ge=low, le=high, allow_inf_nan=False, description=description),
    ]


def _category(feature: Feature) -> Any:
    return Annotated[
        Literal[feature.categories],
        Field(description="one of the categories seen in training"),
    ]


def _value_type(feature: Feature) -> Any:
    kind = _number(feature) if feature.kind == "numeric" else _category(feature)
    return kind | None if feature.nullable else kind


def _example(feature: Feature) -> Any:
    if feature.kind == "categorical":
        return feature.categories[0]
    if feature.minimum is None or feature.maximum is None:
        return 0.0
    return round((feature.minimum + feature.maximum) / 2, 2)


def _row_or_object(value: Any) -> str:
    return NAMED if isinstance(value, dict) else POSITIONAL


@dataclass(frozen=True)
class SignatureApi:
    signature: Signature
    request_model: type[BaseModel]
    batch_model: type[BaseModel]
    prediction_model: type[BaseModel]
    batch_prediction_model: type[BaseModel]
    v1_prediction_model: type[BaseModel]

    @property
    def models(self) -> tuple[type[BaseModel], ...]:
        """Every body of this signature, each named as /openapi.json's components call it."""
        return (
            self.request_model,
            self.batch_model,
            self.prediction_model,
            self.batch_prediction_model,
            self.v1_prediction_model,
        )

    @classmethod
    def build(cls, signature: Signature, max_rows: int) -> SignatureApi:
        features = signature.features
        example = {f.name: _example(f) for f in features}
        fields: dict[str, Any] = {}
        for i, feature in enumerate(features):
            default = None if feature.nullable else ...
            fields[f"f{i}"] = (_value_type(feature), Field(default, alias=feature.name))
        request = create_model(
            "Features",
            __config__=ConfigDict(
                extra="forbid", json_schema_extra={"examples": [example]}, populate_by_name=False
            ),
            **fields,
        )
        names = ", ".join(signature.feature_names)
        types = [_value_type(f) for f in features]
        if signature.all_numeric and len({repr(t) for t in types}) == 1:
            row: Any = Annotated[
                list[types[0]],  # type: ignore[valid-type]
                Field(min_length=len(types), max_length=len(types), description=names),
            ]
        else:
            row = Annotated[tuple[tuple(types)], Field(description=names)]  # type: ignore[misc]
        instance = Annotated[
            Annotated[row, Tag(POSITIONAL)] | Annotated[request, Tag(NAMED)],  # type: ignore[valid-type]
            Discriminator(_row_or_object),
        ]
        batch = create_model(
            "BatchRequest",
            __config__=ConfigDict(
                extra="forbid",
                json_schema_extra={"examples": [{"instances": [list(example.values())]}]},
            ),
            instances=(
                list[instance],
                Field(
                    min_length=1,
                    max_length=max_rows,
                    description=f"rows of {names} in this order, or objects like /predict's",
                ),
            ),
        )
        return cls(signature, request, batch, *_answers(signature))

    def encode(self, request: BaseModel) -> list[float]:
        """The encoded row of a validated /predict body."""
        return [
            _encode(feature, getattr(request, f"f{i}"))
            for i, feature in enumerate(self.signature.features)
        ]

    def encode_instances(self, batch: BaseModel) -> list[list[float]]:
        rows = []
        for instance in batch.instances:  # type: ignore[attr-defined]
            if isinstance(instance, BaseModel):
                rows.append(self.encode(instance))
            else:
                rows.append(
                    [_encode(f, v) for f, v in zip(self.signature.features, instance, strict=True)]
                )
        return rows


def _encode(feature: Feature, value: Any) -> float:
    if value is None:
        return math.nan
    if feature.kind == "numeric":
        return float(value)
    code = feature.code(value)
    return math.nan if code is None else float(code)


def without_tags(errors: list[Any]) -> list[Any]:
    """Pydantic's errors without the union tags in their locations: instances.1.2, not
    instances.1.positional.2."""
    out = []
    for error in errors:
        loc = tuple(error.get("loc", ()))
        if len(loc) > 2 and loc[0] == "instances" and loc[2] in (POSITIONAL, NAMED):
            error = {**error, "loc": loc[:2] + loc[3:]}
        out.append(error)
    return out


def _answers(
    signature: Signature,
) -> tuple[type[BaseModel], type[BaseModel], type[BaseModel]]:
    config = ConfigDict(protected_namespaces=())
    target = signature.target
    if signature.task == "regression":
        one = create_model(
            "Prediction",
            __config__=config,
            value=(float, Field(alias=target, description=f"the predicted {target}")),
            model_version=(str, ...),
        )
        many = create_model(
            "BatchPrediction",
            __config__=config,
            predictions=(list[float], Field(description=f"each row's predicted {target}")),
            model_version=(str, ...),
        )
        v1 = create_model("V1Prediction", predictions=(list[float], ...))
        return one, many, v1
    one = create_model(
        "Prediction",
        __config__=config,
        index=(int, Field(alias=signature.index_key, description="index in class_names")),
        name=(str, Field(alias=signature.name_key)),
        probabilities=(dict[str, float], Field(description="probability of each class")),
        model_version=(str, ...),
    )
    many = create_model(
        "BatchPrediction",
        __config__=config,
        __doc__="Column-wise; `predictions` is the KServe V1 field, so V1 clients read it too.",
        predictions=(list[int], Field(description="index of each row's predicted class")),
        names=(list[str], Field(alias=f"{target}_names")),
        probabilities=(list[list[float]], Field(description="in class_names order")),
        class_names=(list[str], ...),
        model_version=(str, ...),
    )
    v1 = create_model(
        "V1Prediction",
        __doc__="KServe V1: the predicted class index of each instance.",
        predictions=(list[int], ...),
    )
    return one, many, v1
