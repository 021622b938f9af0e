"""Prediction payloads, named as the signature says, shared by the FastAPI routes and the fast
path so both answer alike."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from service.api.metrics import ApiMetrics
from service.api.model_holder import ServedModel


def predict_one(served: ServedModel, row: Sequence[float], metrics: ApiMetrics) -> dict[str, Any]:
    """The /predict response for one encoded row."""
    signature = served.signature
    if served.regression:
        value = served.regressor.value_row(row)
        return {signature.target: value, "model_version": served.version}
    index, probabilities = served.classifier.predict_row(row)
    names = served.class_names
    metrics.count_prediction(names[index])
    return {
        signature.index_key: index,
        signature.name_key: names[index],
        "probabilities": dict(zip(names, probabilities, strict=True)),
        "model_version": served.version,
    }


def predict_many(
    served: ServedModel, features: np.ndarray, metrics: ApiMetrics
) -> tuple[np.ndarray, np.ndarray]:
    """Class indices and probabilities of each encoded row of `features`."""
    indices, probabilities = served.classifier.classify(features)
    probabilities = np.ascontiguousarray(probabilities)
    metrics.count_predictions(
        served.class_names, np.bincount(indices, minlength=len(served.class_names)).tolist()
    )
    return indices, probabilities


def batch_answer(served: ServedModel, features: np.ndarray, metrics: ApiMetrics) -> dict[str, Any]:
    """The /predict/batch response. The arrays stay numpy: orjson writes them directly."""
    if served.regression:
        return {"predictions": served.regressor.values(features), "model_version": served.version}
    indices, probabilities = predict_many(served, features, metrics)
    return {
        "predictions": indices,
        f"{served.signature.target}_names": served.class_name_array[indices].tolist(),
        "probabilities": probabilities,
        "class_names": served.class_names,
        "model_version": served.version,
    }


def v1_answer(served: ServedModel, features: np.ndarray, metrics: ApiMetrics) -> dict[str, Any]:
    """The KServe V1 response: each instance's class index, or its value for regression."""
    if served.regression:
        return {"predictions": served.regressor.values(features)}
    return {"predictions": predict_many(served, features, metrics)[0]}
