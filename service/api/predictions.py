"""Prediction payloads, shared by the FastAPI routes and the fast path so both answer alike."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from service.api.metrics import ApiMetrics
from service.api.model_holder import ServedModel


def predict_one(served: ServedModel, row: Sequence[float], metrics: ApiMetrics) -> dict[str, Any]:
    """The /predict response for one row of measurements."""
    index, probabilities = served.predictor.predict_row(row)
    names = served.class_names
    metrics.count_prediction(names[index])
    return {
        "species_index": index,
        "species_name": names[index],
        "probabilities": dict(zip(names, probabilities, strict=True)),
        "model_version": served.version,
    }


def predict_many(
    served: ServedModel, features: np.ndarray, metrics: ApiMetrics
) -> tuple[np.ndarray, np.ndarray]:
    """Class indices and probabilities of each row of `features` (shape (rows, 4))."""
    indices, probabilities = served.predictor.classify(features)
    probabilities = np.ascontiguousarray(probabilities)
    metrics.count_predictions(
        served.class_names, np.bincount(indices, minlength=len(served.class_names)).tolist()
    )
    return indices, probabilities


def batch_payload(
    served: ServedModel, indices: np.ndarray, probabilities: np.ndarray
) -> dict[str, Any]:
    """The /predict/batch response. The arrays stay numpy: orjson writes them directly."""
    names = served.class_names
    return {
        "predictions": indices,
        "species_names": served.class_name_array[indices].tolist(),
        "probabilities": probabilities,
        "class_names": names,
        "model_version": served.version,
    }


def v1_payload(indices: np.ndarray) -> dict[str, Any]:
    """The KServe V1 response: the predicted class index of each instance."""
    return {"predictions": indices}
